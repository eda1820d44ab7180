"""Counter-based uniform draws of augmentations, independent of batching.

For each ``(seed, position, epoch)``, :class:`numpy.random.SeedSequence` gives one
64-bit key per draw, and the draw of patch ``i`` is the ``i``-th output of SplitMix64
started at that key, computed for a whole batch at once.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

__all__ = ["draw_uniforms"]

_AUGMENTATION_KEY = 0x61756720  # "aug ": keeps these streams apart from the tables'
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_UNIT = 2.0**-53

UInt64Array = npt.NDArray[np.uint64]


@functools.lru_cache(maxsize=1024)
def _stream_keys(seed: int, position: int, epoch: int, n_draws: int) -> UInt64Array:
    """Return the SplitMix64 starting keys of one augmentation in one epoch."""
    sequence = np.random.SeedSequence(
        seed, spawn_key=(_AUGMENTATION_KEY, position, epoch)
    )
    keys: UInt64Array = sequence.generate_state(n_draws, dtype=np.uint64).astype(
        np.uint64
    )
    keys.flags.writeable = False
    return keys


def _splitmix64(key: np.uint64, indices: UInt64Array) -> UInt64Array:
    """Return output ``i`` of SplitMix64 started at ``key``, for every ``i``."""
    z = (indices + np.uint64(1)) * _GOLDEN + key
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    result: UInt64Array = z ^ (z >> np.uint64(31))
    return result


def _check_indices(epoch: object, indices: npt.ArrayLike) -> UInt64Array:
    """Validate the epoch and patch indices; return the indices as uint64."""
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
        raise ValueError(
            f"Epoch must be a non-negative integer: expected >= 0, got {epoch!r}."
        )
    array = np.asarray(indices)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            "Patch indices must be a 1-D integer array: expected shape (B,), got "
            f"dtype {array.dtype} and shape {array.shape}. Pass the global patch "
            "indices of the batch."
        )
    if array.size and array.min() < 0:
        raise ValueError(
            f"Patch indices must be non-negative: got {array[array < 0][:5].tolist()}."
        )
    return array.astype(np.uint64)


def draw_uniforms(
    seed: int, position: int, epoch: int, indices: npt.ArrayLike, n_draws: int = 2
) -> npt.NDArray[np.float64]:
    """Return the uniform draws in ``[0, 1)`` of patches, independent of batching.

    Parameters
    ----------
    seed : int
        The augmentation's seed (non-negative).
    position : int
        The augmentation's position in its list.
    epoch : int
        The epoch (non-negative).
    indices : array-like of int
        Global patch indices in the epoch, ``(B,)``.
    n_draws : int, optional
        Draws per patch.

    Returns
    -------
    numpy.ndarray
        ``(n_draws, B)`` float64 uniforms; column ``j`` depends only on
        ``(seed, position, epoch, indices[j])``.

    Raises
    ------
    ValueError
        When the epoch or an index is negative, or the indices are not 1-D integers.

    Examples
    --------
    >>> both = draw_uniforms(7, 0, 0, [3, 4])
    >>> bool((draw_uniforms(7, 0, 0, [4])[:, 0] == both[:, 1]).all())
    True
    """
    index_array = _check_indices(epoch, indices)
    keys = _stream_keys(int(seed), int(position), int(epoch), int(n_draws))
    words = np.stack([_splitmix64(key, index_array) for key in keys])
    uniforms: npt.NDArray[np.float64] = (words >> np.uint64(11)).astype(
        np.float64
    ) * _UNIT
    return uniforms
