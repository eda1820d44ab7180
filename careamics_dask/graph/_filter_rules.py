"""The reference's background filter rules, per region and vectorized over regions.

Each filter has the reference's ``filter_out(patch) -> bool`` (``patch`` is the
``(1, *region)`` float32 array CAREamics extracts, zero-padded outside the image)
and ``filter_out_regions(regions) -> bool array``, which gives the same decision
for a stack of regions ``(k, *region)`` at once. The max and mask rules are exact
when vectorized. Mean, std and entropy are computed in float64 and every region
whose value lies within rounding distance of the threshold is decided again by
``filter_out`` on that region alone, so the decisions stay equal to the
reference's float32 arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter, maximum_filter1d  # type: ignore[import-untyped]
from scipy.special import entr  # type: ignore[import-untyped]

from careamics_dask.config.patch_filter import (
    MaskPatchFilterConfig,
    MaxPatchFilterConfig,
    MeanStdPatchFilterConfig,
    ShannonPatchFilterConfig,
)

if TYPE_CHECKING:
    from careamics_dask.config.patch_filter import PatchFilterConfig

__all__ = [
    "MaskPatchFilter",
    "MaxPatchFilter",
    "MeanStdPatchFilter",
    "RegionFilter",
    "ShannonPatchFilter",
    "create_patch_filter",
    "shannon_entropy",
]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# Relative distance to a threshold below which a float64 statistic may decide
# differently from the reference's float32 one (pairwise float32 sums err by at
# most ~40 ulp = 2.4e-6 for regions up to 2**24 pixels; a factor 40 of margin).
_FLOAT32_BAND = 1e-4
# The same for the entropy, summed in float64 in another order than the reference.
_ENTROPY_BAND = 1e-7


@runtime_checkable
class RegionFilter(Protocol):
    """A background rule: per region like the reference, and vectorized."""

    def filter_out(self, patch: npt.NDArray[Any]) -> bool:
        """Return True when one ``(1, *region)`` patch is background."""
        ...

    def filter_out_regions(self, regions: npt.NDArray[np.float32]) -> BoolArray:
        """Return, for ``(k, *region)`` float32 regions, which are background."""
        ...


def shannon_entropy(image: npt.ArrayLike, base: float = 2) -> float:
    """Return the Shannon entropy of an image's values, as scikit-image computes it.

    ``-sum(f * log(f)) / log(base)`` over the frequencies ``f`` of the image's
    unique values (``skimage.measure.shannon_entropy``, which calls
    ``scipy.stats.entropy``), with the same arithmetic.

    Parameters
    ----------
    image : array_like
        Any array.
    base : float, default 2
        The logarithm's base; 2 gives bits.

    Returns
    -------
    float
        The entropy, 0 for a constant image.

    Examples
    --------
    >>> shannon_entropy(np.array([[0, 0], [1, 1]]))
    1.0
    >>> shannon_entropy(np.zeros((3, 3)))
    0.0
    """
    _, counts = np.unique(np.asarray(image), return_counts=True)
    frequencies = counts / counts.sum()
    value = np.sum(entr(frequencies))
    value /= math.log(base)
    return float(value)


@dataclass(frozen=True, slots=True)
class MaxPatchFilter:
    """Background where little of the region is near a bright pixel (CSBDeep-like).

    A region is background if its maximum is below ``threshold``, or if after a
    maximum filter of half the region's size (``mode="constant"``, zeros outside)
    the fraction of pixels above ``threshold`` is below ``coverage``. Positional
    arguments are kept as in the reference's constructor.

    Parameters
    ----------
    threshold : float
        The intensity a foreground pixel exceeds.
    coverage : float, default 0.25
        The fraction of the max-filtered region that must exceed ``threshold``.

    Examples
    --------
    >>> patch = np.zeros((1, 8, 8), np.float32)
    >>> patch[0, 3, 3] = 10
    >>> MaxPatchFilter(5.0).filter_out(patch)
    False
    >>> MaxPatchFilter(5.0, coverage=0.5).filter_out(patch)
    True
    """

    threshold: float
    coverage: float = 0.25

    def filter_out(self, patch: npt.NDArray[Any]) -> bool:
        """Return True when the patch is background (the reference's rule).

        Parameters
        ----------
        patch : numpy.ndarray
            The patch, axes ``C (Z) Y X`` with one channel.

        Returns
        -------
        bool
            True for background.
        """
        if np.max(patch) < self.threshold:
            return True
        size = [(d // 2 if d > 1 else 1) for d in patch.shape]
        filtered = maximum_filter(patch, size, mode="constant")
        return bool((np.mean(filtered > self.threshold) < self.coverage).item())

    def filter_out_regions(self, regions: npt.NDArray[np.float32]) -> BoolArray:
        """Decide many regions at once, exactly as :meth:`filter_out` would.

        Parameters
        ----------
        regions : numpy.ndarray
            ``(k, *region)`` float32 regions.

        Returns
        -------
        numpy.ndarray
            ``(k,)`` booleans, True for background.
        """
        axes = tuple(range(1, regions.ndim))
        if len(regions) == 0:
            return np.zeros(0, dtype=np.bool_)
        background: BoolArray = regions.max(axis=axes) < self.threshold
        todo = np.flatnonzero(~background)
        if todo.size:
            # scipy filters axis by axis (sizes > 1 only), writing into the output
            filtered = regions[todo]
            for axis in axes:
                d = regions.shape[axis]
                size = d // 2 if d > 1 else 1
                if size > 1:
                    maximum_filter1d(
                        filtered, size, axis=axis, output=filtered, mode="constant"
                    )
            above = np.count_nonzero(filtered > self.threshold, axis=axes)
            fraction = above / math.prod(regions.shape[1:])
            background[todo] = fraction < self.coverage
        return background


@dataclass(frozen=True, slots=True)
class MeanStdPatchFilter:
    """Background where the mean, or the std when given, is below a threshold.

    Parameters
    ----------
    mean_threshold : float
        Regions with a lower mean are background; must be >= 0.
    std_threshold : float or None, default None
        If given, regions with a lower std are background too; must be >= 0.

    Raises
    ------
    ValueError
        When a threshold is negative (the reference's messages).

    Examples
    --------
    >>> patch = np.full((1, 4, 4), 200, np.float32)
    >>> MeanStdPatchFilter(127.5).filter_out(patch)
    False
    >>> MeanStdPatchFilter(127.5, 50).filter_out(patch)
    True
    """

    mean_threshold: float
    std_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.mean_threshold < 0:
            raise ValueError(
                "Mean threshold must be non-negative. Expected mean_threshold >= 0, "
                f"got {self.mean_threshold!r}."
            )
        if self.std_threshold is not None and self.std_threshold < 0:
            raise ValueError(
                "Std threshold must be non-negative. Expected std_threshold >= 0 or "
                f"None, got {self.std_threshold!r}."
            )

    def filter_out(self, patch: npt.NDArray[Any]) -> bool:
        """Return True when the patch is background (the reference's rule).

        Parameters
        ----------
        patch : numpy.ndarray
            The patch.

        Returns
        -------
        bool
            True for background.
        """
        mean, std = np.mean(patch), np.std(patch)
        return bool(
            (mean < self.mean_threshold).item()
            or (self.std_threshold is not None and (std < self.std_threshold).item())
        )

    def filter_out_regions(self, regions: npt.NDArray[np.float32]) -> BoolArray:
        """Decide many regions at once, as :meth:`filter_out` would.

        Parameters
        ----------
        regions : numpy.ndarray
            ``(k, *region)`` float32 regions.

        Returns
        -------
        numpy.ndarray
            ``(k,)`` booleans, True for background.
        """
        flat = regions.reshape(len(regions), -1)
        mean = flat.mean(axis=1, dtype=np.float64)
        scale = np.abs(flat).mean(axis=1, dtype=np.float64)
        background = mean < self.mean_threshold
        near = _near(mean, self.mean_threshold, scale, _FLOAT32_BAND)
        if self.std_threshold is not None:
            std = flat.std(axis=1, dtype=np.float64)
            background |= std < self.std_threshold
            near |= _near(std, self.std_threshold, scale + std, _FLOAT32_BAND)
        return _decide_again(self, regions, background, near)


@dataclass(frozen=True, slots=True)
class ShannonPatchFilter:
    """Background where the Shannon entropy (bits) of the values is below a threshold.

    Parameters
    ----------
    threshold : float
        Regions with a lower entropy are background; must be >= 0.

    Raises
    ------
    ValueError
        When the threshold is negative (the reference's message).

    Examples
    --------
    >>> patch = np.array([[[0, 1], [2, 3]]], np.float32)
    >>> ShannonPatchFilter(2.5).filter_out(patch)
    True
    >>> ShannonPatchFilter(1.5).filter_out(patch)
    False
    """

    threshold: float

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ValueError(
                "Threshold must be non-negative. Expected threshold >= 0, got "
                f"{self.threshold!r}."
            )

    def filter_out(self, patch: npt.NDArray[Any]) -> bool:
        """Return True when the patch is background (the reference's rule).

        Parameters
        ----------
        patch : numpy.ndarray
            The patch.

        Returns
        -------
        bool
            True for background.
        """
        return bool(shannon_entropy(patch) < self.threshold)

    def filter_out_regions(self, regions: npt.NDArray[np.float32]) -> BoolArray:
        """Decide many regions at once, as :meth:`filter_out` would.

        Parameters
        ----------
        regions : numpy.ndarray
            ``(k, *region)`` float32 regions.

        Returns
        -------
        numpy.ndarray
            ``(k,)`` booleans, True for background.
        """
        k = len(regions)
        if k == 0 or self.threshold <= 0:  # an entropy is never negative
            return np.zeros(k, dtype=np.bool_)
        values = np.sort(regions.reshape(k, -1), axis=1)
        size = values.shape[1]
        starts_new = np.ones(values.shape, dtype=np.bool_)
        np.not_equal(values[:, 1:], values[:, :-1], out=starts_new[:, 1:])
        starts = np.flatnonzero(starts_new)
        counts = np.diff(np.append(starts, k * size))
        entropy = np.bincount(
            starts // size, weights=entr(counts / size), minlength=k
        ) / math.log(2)
        background: BoolArray = entropy < self.threshold
        # NaNs are one value for numpy.unique but unequal here: decide them again
        near = _near(entropy, self.threshold, entropy, _ENTROPY_BAND)
        near |= np.isnan(values[:, -1])
        return _decide_again(self, regions, background, near)


@dataclass(frozen=True, slots=True)
class MaskPatchFilter:
    """Background where the mask's nonzero pixels cover less than ``coverage``.

    Parameters
    ----------
    coverage : float
        The fraction of nonzero mask pixels a kept region needs, in ``[0, 1]``.

    Raises
    ------
    ValueError
        When ``coverage`` is outside ``[0, 1]`` (the reference's message).

    Examples
    --------
    >>> mask = np.zeros((1, 4, 4), np.float32)
    >>> mask[0, :2] = 1
    >>> MaskPatchFilter(0.5).filter_out(mask), MaskPatchFilter(0.75).filter_out(mask)
    (False, True)
    """

    coverage: float

    def __post_init__(self) -> None:
        if not (0 <= self.coverage <= 1):
            raise ValueError(
                "Coverage must be between 0 and 1. Expected 0 <= coverage <= 1, got "
                f"{self.coverage!r}."
            )

    def filter_out(self, patch: npt.NDArray[Any]) -> bool:
        """Return True when the mask patch is background (the reference's rule).

        Parameters
        ----------
        patch : numpy.ndarray
            The mask patch.

        Returns
        -------
        bool
            True for background.
        """
        return bool(np.count_nonzero(patch) / patch.size < self.coverage)

    def filter_out_regions(self, regions: npt.NDArray[np.float32]) -> BoolArray:
        """Decide many regions at once, exactly as :meth:`filter_out` would.

        Parameters
        ----------
        regions : numpy.ndarray
            ``(k, *region)`` float32 regions.

        Returns
        -------
        numpy.ndarray
            ``(k,)`` booleans, True for background.
        """
        flat = regions.reshape(len(regions), -1)
        fraction = np.count_nonzero(flat, axis=1) / flat.shape[1]
        result: BoolArray = fraction < self.coverage
        return result


def create_patch_filter(
    config: PatchFilterConfig | MaskPatchFilterConfig,
) -> RegionFilter:
    """Return the filter a filter config describes.

    Parameters
    ----------
    config : MaxPatchFilterConfig, MeanStdPatchFilterConfig, ShannonPatchFilterConfig
        or MaskPatchFilterConfig
        The config; the mask config is accepted too (the reference builds its
        filter directly).

    Returns
    -------
    RegionFilter
        The filter.

    Raises
    ------
    ValueError
        When the config is of no known kind.

    Examples
    --------
    >>> create_patch_filter(MaxPatchFilterConfig(threshold=0.5, coverage=0.125))
    MaxPatchFilter(threshold=0.5, coverage=0.125)
    """
    if isinstance(config, MaxPatchFilterConfig):
        return MaxPatchFilter(config.threshold, config.coverage)
    if isinstance(config, MeanStdPatchFilterConfig):
        return MeanStdPatchFilter(config.mean_threshold, config.std_threshold)
    if isinstance(config, ShannonPatchFilterConfig):
        return ShannonPatchFilter(config.threshold)
    if isinstance(config, MaskPatchFilterConfig):
        return MaskPatchFilter(config.coverage)
    raise ValueError(
        f"Unknown filter name: {config}. Expected a MaxPatchFilterConfig ('max'), "
        "MeanStdPatchFilterConfig ('mean_std'), ShannonPatchFilterConfig ('shannon') "
        "or MaskPatchFilterConfig ('mask')."
    )


def _near(
    values: FloatArray, threshold: float, scale: FloatArray, band: float
) -> BoolArray:
    """Return where ``values`` may round to the other side of ``threshold``."""
    with np.errstate(invalid="ignore"):
        result: BoolArray = np.abs(values - threshold) <= band * (
            abs(threshold) + np.abs(scale) + np.finfo(np.float32).tiny
        )
    return result


def _decide_again(
    rule: RegionFilter,
    regions: npt.NDArray[np.float32],
    decisions: BoolArray,
    near: BoolArray,
) -> BoolArray:
    """Replace near-threshold decisions by the per-region rule's own."""
    for j in np.flatnonzero(near):
        # a fresh (1, *region) float32 array, as the reference's padded patch
        decisions[j] = rule.filter_out(np.array(regions[j][np.newaxis]))
    return decisions
