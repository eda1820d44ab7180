"""Window geometry of lateral contexts: the boxes to read and the padded indices.

A patch's window holds every scale of its lateral context; where it leaves the
image it is filled as the reference's ``numpy.pad`` fills its context window
(``reflect`` or ``wrap``, see :mod:`careamics_dask.graph.microsplit.lateral_context`).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

__all__ = [
    "Box",
    "PaddingMode",
    "context_bounds",
    "index_maps",
    "index_runs",
    "padded_indices",
    "window_boxes",
    "window_inside",
    "window_of",
]

PaddingMode = Literal["reflect", "wrap"]
"""How a window is filled past the image (the reference's ``numpy.pad`` modes)."""

Box = tuple[tuple[int, int], ...]


def window_of(
    coords: Sequence[int], patch_size: Sequence[int], multiscale_count: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return the start and size of the window holding every scale of a patch.

    Parameters
    ----------
    coords : sequence of int
        Patch start along ``(Z,) Y, X``.
    patch_size : sequence of int
        Patch size.
    multiscale_count : int
        Number of scales (``>= 1``).

    Returns
    -------
    tuple of (tuple of int, tuple of int)
        ``(start, size)`` of the largest scale's crop, ``size = patch * 2**(L-1)``.

    Examples
    --------
    >>> window_of((10, 20), (8, 8), 3)
    ((-2, 8), (32, 32))
    """
    factor = 2 ** (multiscale_count - 1)
    size = tuple(int(p) * factor for p in patch_size)
    start = tuple(
        int(c) + int(p) // 2 - s // 2
        for c, p, s in zip(coords, patch_size, size, strict=True)
    )
    return start, size


def context_bounds(
    coords: Sequence[int],
    patch_size: Sequence[int],
    multiscale_count: int,
    spatial_shape: Sequence[int],
) -> Box:
    """Return the reference's context window of a patch, clipped to the image.

    The window is ``patch_size * 2**multiscale_count`` centred on the patch; its
    part inside the image is what padding repeats or mirrors.

    Parameters
    ----------
    coords, patch_size : sequence of int
        The native patch.
    multiscale_count : int
        Number of scales.
    spatial_shape : sequence of int
        The image's ``(Z,) Y, X`` shape.

    Returns
    -------
    tuple of (int, int)
        ``(start, stop)`` per axis, inside the image.

    Examples
    --------
    >>> context_bounds((0, 40), (8, 8), 2, (64, 64))
    ((0, 20), (28, 60))
    """
    bounds = []
    for c, p, n in zip(coords, patch_size, spatial_shape, strict=True):
        size = int(p) * 2**multiscale_count
        first = int(c) + int(p) // 2 - size // 2
        bounds.append((min(max(first, 0), n), min(max(first + size, 0), n)))
    return tuple(bounds)


def padded_indices(
    start: int, size: int, bounds: tuple[int, int], mode: PaddingMode
) -> npt.NDArray[np.int64]:
    """Return the image index of every position of a window along one axis.

    Positions inside ``bounds`` map to themselves; the others are folded into it
    as ``numpy.pad`` pads an array holding the pixels of ``bounds``.

    Parameters
    ----------
    start : int
        Window start (may be negative).
    size : int
        Window size.
    bounds : tuple of (int, int)
        ``(lo, hi)``: the pixels padding may use (:func:`context_bounds`).
    mode : {"reflect", "wrap"}
        ``reflect`` mirrors about the end pixels (``numpy.pad`` ``reflect``,
        repeated for long pads); ``wrap`` repeats.

    Returns
    -------
    numpy.ndarray
        ``size`` indices in ``[lo, hi)``.

    Raises
    ------
    ValueError
        For an unknown mode.

    Examples
    --------
    >>> padded_indices(-2, 7, (0, 4), "reflect").tolist()
    [2, 1, 0, 1, 2, 3, 2]
    >>> padded_indices(-2, 7, (0, 4), "wrap").tolist()
    [2, 3, 0, 1, 2, 3, 0]
    """
    lo, hi = bounds
    length = hi - lo
    positions = np.arange(start - lo, start - lo + size, dtype=np.int64)
    if mode == "wrap":
        return lo + np.mod(positions, length)
    if mode != "reflect":
        raise ValueError(
            f"Padding mode unknown: expected 'reflect' or 'wrap', got {mode!r}."
        )
    if length == 1:
        return np.full(size, lo, dtype=np.int64)
    period = 2 * (length - 1)
    folded = np.mod(positions, period)
    return lo + np.where(folded < length, folded, period - folded)


def index_runs(indices: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """Split sorted unique indices into ``[start, stop)`` runs of consecutive values.

    Parameters
    ----------
    indices : numpy.ndarray
        Sorted unique int64 indices.

    Returns
    -------
    list of tuple of int
        The runs, in order.

    Examples
    --------
    >>> index_runs(np.array([0, 1, 2, 6, 7]))
    [(0, 3), (6, 8)]
    """
    breaks = np.flatnonzero(np.diff(indices) > 1) + 1
    edges = [0, *breaks.tolist(), len(indices)]
    return [
        (int(indices[a]), int(indices[b - 1]) + 1) for a, b in itertools.pairwise(edges)
    ]


def index_maps(
    start: Sequence[int], size: Sequence[int], bounds: Box, mode: PaddingMode
) -> list[npt.NDArray[np.int64]]:
    """Return, per axis, the image index of every position of a padded window.

    Parameters
    ----------
    start, size : sequence of int
        The window (:func:`window_of`).
    bounds : tuple of (int, int)
        The context window inside the image (:func:`context_bounds`).
    mode : {"reflect", "wrap"}
        The padding.

    Returns
    -------
    list of numpy.ndarray
        One int64 array of ``size[axis]`` image indices per axis.

    Examples
    --------
    >>> index_maps((-2,), (4,), ((0, 8),), "wrap")[0].tolist()
    [6, 7, 0, 1]
    """
    return [
        padded_indices(s, w, b, mode)
        for s, w, b in zip(start, size, bounds, strict=True)
    ]


def window_boxes(
    start: Sequence[int], size: Sequence[int], bounds: Box, mode: PaddingMode
) -> list[Box]:
    """Return the boxes of image pixels a padded window reads.

    Parameters
    ----------
    start, size : sequence of int
        The window (:func:`window_of`).
    bounds : tuple of (int, int)
        The context window inside the image (:func:`context_bounds`).
    mode : {"reflect", "wrap"}
        The padding.

    Returns
    -------
    list of tuple
        ``((start, stop), ...)`` per box; one box unless the window wraps.

    Examples
    --------
    >>> window_boxes((-2, 0), (4, 4), ((0, 8), (0, 8)), "wrap")
    [((0, 2), (0, 4)), ((6, 8), (0, 4))]
    """
    if window_inside(start, size, bounds):
        return [tuple((a, a + w) for a, w in zip(start, size, strict=True))]
    runs = [index_runs(np.unique(m)) for m in index_maps(start, size, bounds, mode)]
    return [tuple(combo) for combo in itertools.product(*runs)]


def window_inside(start: Sequence[int], size: Sequence[int], bounds: Box) -> bool:
    """Return whether a window lies inside ``bounds`` (no padding needed).

    Parameters
    ----------
    start, size : sequence of int
        The window (:func:`window_of`).
    bounds : tuple of (int, int)
        The context window inside the image (:func:`context_bounds`).

    Returns
    -------
    bool
        True when every axis of the window is within its bounds.

    Examples
    --------
    >>> window_inside((2, 2), (4, 4), ((0, 8), (0, 8)))
    True
    """
    return all(
        lo <= a and a + w <= hi
        for a, w, (lo, hi) in zip(start, size, bounds, strict=True)
    )
