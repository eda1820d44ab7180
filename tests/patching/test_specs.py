from __future__ import annotations

from careamics_dask.patching.specs import PatchSpecs, TileSpecs, is_tile_specs


def test_patch_spec_type_guards() -> None:
    patch: PatchSpecs = {
        "data_idx": 0, "sample_idx": 0, "coords": (0, 0), "patch_size": (8, 8)
    }  # fmt: skip
    tile: TileSpecs = {
        **patch,
        "crop_coords": (0, 0),
        "crop_size": (8, 8),
        "stitch_coords": (0, 0),
        "total_tiles": 1,
    }
    assert not is_tile_specs(patch)
    assert is_tile_specs(tile)
