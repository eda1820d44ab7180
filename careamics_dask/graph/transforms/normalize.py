"""Normalize and denormalize float32 batches with given statistics.

A :class:`Normalizer` is a small frozen value built on the client from a scheme and
its statistics (``build_normalizer``; the factory's ``create_normalizer`` reads
them off a normalization config) and shipped into batch tasks. It
reproduces the reference's ``MeanStdNormalization``, ``RangeNormalization`` (used by
``min_max`` and ``quantile``) and ``NoNormalization`` (``reference_semantics.md``
§4.1-4.2), vectorized over a batch ``(B, C, [Z,] Y, X)``:

- ``mean_std``: ``(x - mean) / (std + 1e-6)``;
- ``min_max`` and ``quantile``: ``(x - min) / (max - min + 1e-8)``, no clipping;
- ``none``: a cast to float32.

Statistics of length 1 apply to every channel; otherwise their length must equal
the number of channels. Every operation is done in float32, in the reference's
order, so results are bit-identical to the reference's per-patch transform.

Differences from CAREamics
--------------------------
- Statistics are stored as tuples of float32-exact floats (hashable, comparable,
  stable under ``dask.base.tokenize``); the float32 arrays are made at apply time.
- ``mean_std`` and ``min_max`` schemes whose input statistics are missing raise a
  clear error here, as ``quantile`` does in the reference (the reference failed
  later with a ``TypeError`` on ``len(None)``).
- :meth:`Normalizer.denormalize` works on NumPy arrays as well as torch tensors and
  takes an optional ``channels`` selection of the statistics.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt

from careamics_dask.graph.transforms._normalize_arrays import (
    as_float32,
    broadcast_stats,
    check_batch,
    denormalize_tensor,
    reshape_channels,
    select_channels,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MEAN_STD_EPS",
    "RANGE_EPS",
    "NormalizationName",
    "Normalizer",
]

MEAN_STD_EPS = 1e-6
"""Added to the standard deviation, in the forward pass and in ``denormalize``."""

RANGE_EPS = 1e-8
"""Added to ``max - min`` in the forward pass only (as the reference)."""

NormalizationName = Literal["mean_std", "min_max", "quantile", "none"]
Float32Array = npt.NDArray[np.float32]
ArrayT = TypeVar("ArrayT")

_STAT_NAMES: dict[str, tuple[str, str]] = {
    "mean_std": ("means", "stds"),
    "min_max": ("mins", "maxes"),
    "quantile": ("mins", "maxes"),
}
_MISSING_TARGET: dict[str, str] = {
    "mean_std": (
        "Target means and standard deviations must be provided if target is not None."
    ),
    "min_max": "Target mins and maxs must be provided if target is not None.",
    "quantile": "Target mins and maxs must be provided if target is not None.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Normalizer:
    """Statistics and rules that normalize batches; picklable and hashable.

    Build it with :func:`~careamics_dask.graph.transforms.build_normalizer`.
    ``loc`` is the value subtracted (mean or minimum) and ``scale`` the divisor
    before ``eps`` (standard deviation, or ``max - min`` computed in float32), per
    channel or one global value.

    Attributes
    ----------
    name : {"mean_std", "min_max", "quantile", "none"}
        The normalization scheme.
    input_loc : tuple of float
        Means or minima of the inputs (empty for ``none``).
    input_scale : tuple of float
        Standard deviations or ranges of the inputs (empty for ``none``).
    target_loc : tuple of float or None
        Means or minima of the targets; ``None`` when not given or skipped.
    target_scale : tuple of float or None
        Standard deviations or ranges of the targets, like ``target_loc``.
    skip_target : bool
        Whether targets are left unnormalized (only cast to float32).

    Examples
    --------
    >>> norm = Normalizer(name="mean_std", input_loc=(2.0,), input_scale=(4.0,))
    >>> x, _ = norm.normalize(np.full((1, 2, 4, 4), 6, dtype=np.uint16))
    >>> x.dtype, round(float(x[0, 1, 0, 0]), 4)
    (dtype('float32'), 1.0)
    >>> round(float(norm.denormalize(x)[0, 0, 0, 0]), 4)
    6.0
    """

    name: NormalizationName
    input_loc: tuple[float, ...] = ()
    input_scale: tuple[float, ...] = ()
    target_loc: tuple[float, ...] | None = None
    target_scale: tuple[float, ...] | None = None
    skip_target: bool = False

    def __post_init__(self) -> None:
        if self.name not in ("mean_std", "min_max", "quantile", "none"):
            raise ValueError(f"Unknown normalization strategy: {self.name}")
        pairs = {
            "input": (self.input_loc, self.input_scale),
            "target": (self.target_loc, self.target_scale),
        }
        for prefix, (loc, scale) in pairs.items():
            if (loc is None) != (scale is None) or (
                loc is not None and scale is not None and len(loc) != len(scale)
            ):
                raise ValueError(
                    f"Normalizer {prefix} statistics come in pairs: expected loc and "
                    f"scale of equal length, got {loc} and {scale}."
                )
        if self.name != "none" and not self.input_loc:
            raise ValueError(
                f"A {self.name} normalizer needs input statistics: expected at least "
                "one value, got none. Build it with build_normalizer."
            )

    @property
    def eps(self) -> float:
        """The epsilon added to the scale in the forward pass.

        Returns
        -------
        float
            ``1e-6`` for ``mean_std``, ``1e-8`` for ranges, 0 for ``none``.
        """
        if self.name == "mean_std":
            return MEAN_STD_EPS
        if self.name in ("min_max", "quantile"):
            return RANGE_EPS
        return 0.0

    def _stat_names(self, prefix: str) -> tuple[str, str]:
        """Return the reference's names of the statistics, e.g. ``input_means``."""
        first, second = _STAT_NAMES[self.name]
        return f"{prefix}_{first}", f"{prefix}_{second}"

    def _parameters(
        self, prefix: str, n_channels: int, ndim: int
    ) -> tuple[Float32Array, Float32Array]:
        """Return broadcast float32 ``(loc, scale + eps)`` for a batch."""
        if prefix == "input":
            loc, scale = self.input_loc, self.input_scale
        else:
            loc, scale = (
                cast("tuple[float, ...]", self.target_loc),
                cast("tuple[float, ...]", self.target_scale),
            )
        loc_name, _ = self._stat_names(prefix)
        loc_array = reshape_channels(broadcast_stats(loc, n_channels, loc_name), ndim)
        scale_array = reshape_channels(
            broadcast_stats(scale, n_channels, loc_name), ndim
        )
        return loc_array, scale_array + np.float32(self.eps)

    def check_channels(
        self, n_input_channels: int, n_target_channels: int | None = None
    ) -> None:
        """Check that the statistics broadcast to these numbers of channels.

        Parameters
        ----------
        n_input_channels : int
            Number of input channels of the batches.
        n_target_channels : int or None, optional
            Number of target channels, ``None`` without targets.

        Raises
        ------
        ValueError
            With the reference's message, when a length is neither 1 nor the
            number of channels.

        Examples
        --------
        >>> norm = Normalizer(name="min_max", input_loc=(0, 0), input_scale=(1, 1))
        >>> norm.check_channels(3)
        Traceback (most recent call last):
        ...
        ValueError: Number of input_mins (2) and number of channels (3) do not match.
        """
        if self.name == "none":
            return
        self._parameters("input", n_input_channels, 4)
        if (
            n_target_channels is not None
            and not self.skip_target
            and self.target_loc is not None
        ):
            self._parameters("target", n_target_channels, 4)

    def _normalize_array(
        self, array: npt.NDArray[Any], prefix: str, inplace: bool
    ) -> Float32Array:
        """Normalize one batch with the input or target statistics."""
        out = as_float32(array, inplace)
        if self.name == "none":
            return out
        loc, divisor = self._parameters(prefix, out.shape[1], out.ndim)
        np.subtract(out, loc, out=out)
        np.divide(out, divisor, out=out)
        return out

    def normalize(
        self,
        batch_input: npt.NDArray[Any],
        batch_target: npt.NDArray[Any] | None = None,
        *,
        inplace: bool = False,
    ) -> tuple[Float32Array, Float32Array | None]:
        """Normalize a batch of inputs, and of targets when given.

        Parameters
        ----------
        batch_input : numpy.ndarray
            Inputs, ``(B, C, [Z,] Y, X)``, any real dtype.
        batch_target : numpy.ndarray or None, optional
            Targets, ``(B, C', [Z,] Y, X)``.
        inplace : bool, optional
            Write into the given arrays when they are writeable float32 (the batch
            task owns them). Otherwise, and by default, new arrays are returned.

        Returns
        -------
        tuple of numpy.ndarray
            Normalized float32 inputs, and targets (``None`` without targets; cast
            to float32 only with ``skip_target``).

        Raises
        ------
        ValueError
            When a batch does not have 4 or 5 dimensions, the statistics do not
            broadcast to its channels, or targets are given without target
            statistics (the reference's messages).

        Examples
        --------
        >>> norm = Normalizer(name="min_max", input_loc=(10,), input_scale=(10,))
        >>> batch = np.array([10, 15, 30], np.float32).reshape(1, 1, 1, 3)
        >>> x, _ = norm.normalize(batch)
        >>> np.round(x.ravel(), 4).tolist()
        [0.0, 0.5, 2.0]
        """
        check_batch(batch_input, "input")
        norm_input = self._normalize_array(batch_input, "input", inplace)
        if batch_target is None:
            return norm_input, None
        check_batch(batch_target, "target")
        if self.skip_target or self.name == "none":
            return norm_input, as_float32(batch_target, inplace)
        if self.target_loc is None:
            raise ValueError(_MISSING_TARGET[self.name])
        return norm_input, self._normalize_array(batch_target, "target", inplace)

    def normalize_patch(
        self,
        patch: npt.NDArray[Any],
        target: npt.NDArray[Any] | None = None,
        *,
        inplace: bool = False,
    ) -> tuple[Float32Array, Float32Array | None]:
        """Normalize one ``C(Z)YX`` patch exactly as :meth:`normalize` does a batch.

        Parameters
        ----------
        patch : numpy.ndarray
            Input patch, ``(C, [Z,] Y, X)``.
        target : numpy.ndarray or None, optional
            Target patch, ``(C', [Z,] Y, X)``.
        inplace : bool, optional
            As in :meth:`normalize`.

        Returns
        -------
        tuple of numpy.ndarray
            Normalized float32 patch and target (or ``None``).

        Raises
        ------
        ValueError
            As :meth:`normalize`.

        Examples
        --------
        >>> patch, _ = Normalizer(name="none").normalize_patch(
        ...     np.ones((1, 2, 2), np.uint8))
        >>> patch.dtype, patch.shape
        (dtype('float32'), (1, 2, 2))
        """
        batch_target = None if target is None else target[np.newaxis]
        norm_input, norm_target = self.normalize(
            patch[np.newaxis], batch_target, inplace=inplace
        )
        return norm_input[0], None if norm_target is None else norm_target[0]

    __call__ = normalize_patch
    """Normalize one patch: ``normalizer(patch, target)``, the reference's call."""

    def _denormalize_parameters(
        self, n_channels: int, ndim: int, channels: Sequence[int] | None
    ) -> tuple[Float32Array, Float32Array]:
        """Return float32 ``(loc, multiplier)`` of the reverse transform."""
        use_target = self.target_loc is not None and self.target_scale is not None
        prefix = "target" if use_target else "input"
        loc = self.target_loc if use_target else self.input_loc
        scale = self.target_scale if use_target else self.input_scale
        loc, scale = cast("tuple[float, ...]", loc), cast("tuple[float, ...]", scale)
        if channels is not None and len(loc) != 1:
            loc, scale = select_channels(loc, scale, channels, n_channels, prefix)
        loc_name, _ = self._stat_names(prefix)
        loc_array = reshape_channels(broadcast_stats(loc, n_channels, loc_name), ndim)
        scale_array = reshape_channels(
            broadcast_stats(scale, n_channels, loc_name), ndim
        )
        if self.name == "mean_std":
            scale_array = scale_array + np.float32(MEAN_STD_EPS)
        return loc_array, scale_array

    def denormalize(
        self, array: ArrayT, channels: Sequence[int] | None = None
    ) -> ArrayT:
        """Reverse the normalization of a batch (model output or normalized data).

        Uses the target statistics when they are set, else the input statistics;
        ``mean_std``: ``x * (std + 1e-6) + mean``; ranges: ``x * (max - min) + min``
        (no eps, as the reference). With ``skip_target`` the array is returned
        unchanged; ``none`` only casts to float32.

        Parameters
        ----------
        array : numpy.ndarray or torch.Tensor
            Batch ``(B, C, ...)``; a tensor stays on its device.
        channels : sequence of int or None, optional
            Indices into per-channel statistics of the channels of ``array``, when
            it holds a subset of them; ``None`` uses the broadcast rule.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            The denormalized float32 batch, of the type given.

        Raises
        ------
        ValueError
            When the statistics do not broadcast to the channels, or ``channels``
            is out of range or of another length than the channel axis.

        Examples
        --------
        >>> norm = Normalizer(name="min_max", input_loc=(0, 10), input_scale=(1, 10))
        >>> ones = np.ones((1, 1, 2, 2), np.float32)
        >>> norm.denormalize(ones, channels=[1])[0, 0, 0, 0]
        np.float32(20.0)
        """
        if self.skip_target:
            return array
        torch: Any = sys.modules.get("torch")
        is_tensor = torch is not None and isinstance(array, torch.Tensor)
        if self.name == "none":
            if is_tensor:
                return cast("ArrayT", cast("Any", array).to(dtype=torch.float32))
            return cast("ArrayT", np.asarray(array).astype(np.float32, copy=False))
        shape = tuple(cast("Any", array).shape)
        if len(shape) < 2:
            raise ValueError(
                "Denormalization needs a channel axis at position 1: expected a "
                f"batch (B, C, ...), got shape {shape}. Add the batch axis."
            )
        loc, multiplier = self._denormalize_parameters(shape[1], len(shape), channels)
        if is_tensor:
            return cast("ArrayT", denormalize_tensor(array, loc, multiplier, torch))
        out = np.asarray(array).astype(np.float32)
        np.multiply(out, multiplier, out=out)
        np.add(out, loc, out=out)
        return cast("ArrayT", out)
