"""The reference's patch and tile spec dicts, for row views of patch tables."""

from __future__ import annotations

from typing import TypedDict, TypeGuard

__all__ = ["TILE_KEYS", "PatchSpecs", "TileSpecs", "is_tile_specs"]

TILE_KEYS = ("crop_coords", "crop_size", "stitch_coords")
"""The keys that make a spec a tile spec (``total_tiles`` is not tested)."""


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
