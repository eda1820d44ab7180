"""The reference's patch and tile spec dicts, for row views of patch tables."""

from __future__ import annotations

from typing import TypedDict, TypeGuard, TypeVar

__all__ = [
    "TILE_KEYS",
    "UNCORRELATED_KEYS",
    "PatchSpecs",
    "RegionSpecs",
    "TileSpecs",
    "UncorrelatedPatchSpecs",
    "is_tile_specs",
    "is_uncorrelated_specs",
]

TILE_KEYS = ("crop_coords", "crop_size", "stitch_coords")
"""The keys that make a spec a tile spec (``total_tiles`` is not tested)."""

UNCORRELATED_KEYS = ("all_data_idx", "all_sample_idx", "all_coords")
"""The keys that make a spec an uncorrelated (MicroSplit) spec."""


class PatchSpecs(TypedDict):
    """One patch, as the reference's ``PatchSpecs`` dict (the dataset's region spec)."""

    data_idx: int
    sample_idx: int
    coords: tuple[int, ...]
    patch_size: tuple[int, ...]


class TileSpecs(PatchSpecs):
    """One prediction tile, as the reference's ``TileSpecs`` dict."""

    crop_coords: tuple[int, ...]
    crop_size: tuple[int, ...]
    stitch_coords: tuple[int, ...]
    total_tiles: int


class UncorrelatedPatchSpecs(PatchSpecs):
    """A MicroSplit patch whose channels come from different places (reference name).

    ``data_idx``, ``sample_idx`` and ``coords`` describe the principal channel;
    ``all_*`` give, per channel, where its patch comes from.
    """

    principal_channel: int
    all_data_idx: tuple[int, ...]
    all_sample_idx: tuple[int, ...]
    all_coords: tuple[tuple[int, ...], ...]


RegionSpecs = TypeVar("RegionSpecs", bound=PatchSpecs)
"""A spec dict type (the reference's ``TypeVar`` over :class:`PatchSpecs`)."""


def is_tile_specs(specs: PatchSpecs) -> TypeGuard[TileSpecs]:
    """Tell whether a spec dict describes a tile (has the crop and stitch keys).

    Parameters
    ----------
    specs : PatchSpecs
        A spec dict.

    Returns
    -------
    bool
        True when ``crop_coords``, ``crop_size`` and ``stitch_coords`` are present.

    Examples
    --------
    >>> spec = {"data_idx": 0, "sample_idx": 0, "coords": (0,), "patch_size": (8,)}
    >>> is_tile_specs(spec)
    False
    """
    return all(key in specs for key in TILE_KEYS)


def is_uncorrelated_specs(specs: PatchSpecs) -> TypeGuard[UncorrelatedPatchSpecs]:
    """Tell whether a spec dict describes per-channel locations (MicroSplit).

    Parameters
    ----------
    specs : PatchSpecs
        A spec dict.

    Returns
    -------
    bool
        True when ``all_data_idx``, ``all_sample_idx`` and ``all_coords`` are
        present, as the reference's ``is_uncorrelated_specs``.

    Examples
    --------
    >>> spec = {"data_idx": 0, "sample_idx": 0, "coords": (0,), "patch_size": (8,)}
    >>> is_uncorrelated_specs(spec)
    False
    >>> extra = {"all_data_idx": (0,), "all_sample_idx": (0,), "all_coords": ((0,),)}
    >>> is_uncorrelated_specs({**spec, **extra})
    True
    """
    return all(key in specs for key in UNCORRELATED_KEYS)
