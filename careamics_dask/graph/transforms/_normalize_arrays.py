"""Array helpers of the normalizer: float32 statistics, broadcasting, checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "as_float32",
    "broadcast_stats",
    "check_batch",
    "denormalize_tensor",
    "float32_tuple",
    "loc_scale",
    "reshape_channels",
    "select_channels",
]

Float32Array = npt.NDArray[np.float32]


def float32_tuple(values: Sequence[float] | Float32Array) -> tuple[float, ...]:
    """Round values to float32 and return them as a tuple of Python floats."""
    return tuple(float(v) for v in np.asarray(values, dtype=np.float32).ravel())


def loc_scale(
    first: Sequence[float] | None, second: Sequence[float] | None, ranged: bool
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Turn a statistics pair into float32 ``(loc, scale)``, or ``(None, None)``.

    For ranges, ``scale = max - min`` is computed in float32, as the reference does.
    """
    if first is None or second is None:
        return None, None
    loc = np.asarray(first, dtype=np.float32)
    spread = np.asarray(second, dtype=np.float32)
    if loc.shape != spread.shape:
        raise ValueError(
            "Normalization statistics come in pairs of equal length: expected "
            f"{loc.size} values, got {spread.size}. Give as many values in both."
        )
    scale = spread - loc if ranged else spread
    return float32_tuple(loc), float32_tuple(scale)


def broadcast_stats(stats: Sequence[float], n_channels: int, name: str) -> list[float]:
    """Repeat a length-1 statistics list over the channels, or check its length.

    Parameters
    ----------
    stats : sequence of float
        One global value or one value per channel.
    n_channels : int
        Number of channels of the array.
    name : str
        Name of the statistics, for the error message.

    Returns
    -------
    list of float
        ``n_channels`` values.

    Raises
    ------
    ValueError
        When the length is neither 1 nor ``n_channels``.

    Examples
    --------
    >>> broadcast_stats([2.0], 3, "input_means")
    [2.0, 2.0, 2.0]
    """
    if len(stats) == 1:
        return list(stats) * n_channels
    if len(stats) != n_channels:
        raise ValueError(
            f"Number of {name} ({len(stats)}) and number of channels "
            f"({n_channels}) do not match."
        )
    return list(stats)


def reshape_channels(values: Sequence[float], ndim: int) -> Float32Array:
    """Return a float32 array shaped ``(1, C, 1, ...)`` for a batch of ``ndim``."""
    shape = [1] * ndim
    shape[1] = len(values)
    return np.asarray(values, dtype=np.float32).reshape(shape)


def as_float32(array: npt.NDArray[Any], inplace: bool) -> Float32Array:
    """Return a float32 array to write into: ``array`` itself when allowed."""
    if inplace and array.dtype == np.float32 and array.flags.writeable:
        return cast("Float32Array", array)
    return array.astype(np.float32)


def check_batch(array: npt.NDArray[Any], what: str) -> None:
    """Require a batch ``(B, C, Y, X)`` or ``(B, C, Z, Y, X)``."""
    if array.ndim not in (4, 5):
        raise ValueError(
            f"Normalization of a {what} batch needs axes B C (Z) Y X: expected 4 or "
            f"5 dimensions, got shape {array.shape}. Add the batch axis, or use the "
            "patch methods for a single C(Z)YX patch."
        )


def select_channels(
    loc: tuple[float, ...],
    scale: tuple[float, ...],
    channels: Sequence[int],
    n_channels: int,
    prefix: str,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Pick the statistics of ``channels``, checking count and range."""
    if len(channels) != n_channels:
        raise ValueError(
            "Channels to denormalize must match the channel axis: expected "
            f"{n_channels} indices, got {list(channels)}. Give one index per channel."
        )
    bad = [c for c in channels if not 0 <= c < len(loc)]
    if bad:
        raise ValueError(
            f"Channel indices must index the {len(loc)} {prefix} statistics: "
            f"expected values in [0, {len(loc) - 1}], got {bad}. Fix `channels`."
        )
    return tuple(loc[c] for c in channels), tuple(scale[c] for c in channels)


def denormalize_tensor(
    tensor: Any, loc: Float32Array, multiplier: Float32Array, torch: Any
) -> Any:
    """Apply ``x * multiplier + loc`` to a torch tensor, on its device, in float32."""
    patch = tensor.to(dtype=torch.float32)
    loc_tensor = torch.from_numpy(loc).to(patch.device)
    multiplier_tensor = torch.from_numpy(multiplier).to(patch.device)
    return patch * multiplier_tensor + loc_tensor
