"""The small data config the CLI tests share (16² stratified patches of a Zarr)."""

from __future__ import annotations

from typing import Any

CONFIG: dict[str, Any] = {
    "mode": "training",
    "data_type": "zarr",
    "axes": "SCYX",
    "patching": {"name": "stratified", "patch_size": [16, 16]},
    "normalization": {"name": "mean_std"},
    "batch_size": 4,
    "seed": 3,
}
