"""The reference's background filter rules, per region and vectorized over regions.

Each filter has the reference's ``filter_out(patch) -> bool`` (``patch`` is the
``(1, *region)`` float32 array CAREamics extracts, zero-padded outside the image)
and ``filter_out_regions(regions) -> bool array``, which gives the same decision
for a stack of regions ``(k, *region)`` at once. The max and mask rules are exact
when vectorized. Mean and std are row reductions in float32 and the entropy is
summed in float64 in its own order; every region whose value lies within
rounding distance of the threshold is decided again by ``filter_out`` on that
region alone, so the decisions stay those of the reference's arithmetic (see
:mod:`careamics_dask.graph.filters._region_statistics`).

The filters are dataclasses whose fields are the reference constructors'
parameters, positional as there (not keyword-only), and plain attributes that may
be set, as the reference's (``max_filter.threshold = 0.3``); set them before the
filter is used (a graph holds the filter object it was built with).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter, maximum_filter1d

from careamics_dask.graph.filters._region_statistics import (
    ENTROPY_BAND,
    FLOAT32_BAND,
    decide_again,
    flatten_regions,
    near_threshold,
    region_entropies,
    shannon_entropy,
)

__all__ = [
    "MaskPatchFilter",
    "MaxPatchFilter",
    "MeanStdPatchFilter",
    "PatchFilter",
    "RegionFilter",
    "ShannonPatchFilter",
]

BoolArray = npt.NDArray[np.bool_]


@runtime_checkable
class RegionFilter(Protocol):
    """A background rule: per region like the reference, and vectorized."""

    def filter_out(self, patch: npt.NDArray[Any]) -> bool:
        """Return True when one ``(1, *region)`` patch is background."""
        ...

    def filter_out_regions(self, regions: npt.NDArray[np.float32]) -> BoolArray:
        """Return, for ``(k, *region)`` float32 regions, which are background."""
        ...


PatchFilter = RegionFilter
"""The reference's name of the filter protocol (``filter_out(patch)``)."""


@dataclass(slots=True)
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


@dataclass(slots=True)
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
        flat = flatten_regions(regions)
        # float32 row reductions, as the reference's whole-patch ones
        mean, std = flat.mean(axis=1), flat.std(axis=1)
        background: BoolArray = mean < self.mean_threshold
        mean64, std64 = mean.astype(np.float64), std.astype(np.float64)
        scale = np.abs(mean64) + std64  # bounds the mean absolute value
        near = near_threshold(mean64, self.mean_threshold, scale, FLOAT32_BAND)
        if self.std_threshold is not None:
            background |= std < self.std_threshold
            near |= near_threshold(std64, self.std_threshold, scale, FLOAT32_BAND)
        return decide_again(self.filter_out, regions, background, near)


@dataclass(slots=True)
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
        rows = flatten_regions(regions)
        entropy = region_entropies(rows)
        background: BoolArray = entropy < self.threshold
        # NaNs are one value for numpy.unique but apart here: decide them again
        near = near_threshold(entropy, self.threshold, entropy, ENTROPY_BAND)
        near |= np.isnan(rows).any(axis=1)
        return decide_again(self.filter_out, regions, background, near)


@dataclass(slots=True)
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
        flat = flatten_regions(regions)
        fraction = np.count_nonzero(flat, axis=1) / flat.shape[1]
        result: BoolArray = fraction < self.coverage
        return result
