"""Shared pieces of the prediction tests: datasets, models, stores."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from careamics_dask.config import DataConfig
from careamics_dask.factory import CareamicsDataset, PredData, create_pred_dataset

if TYPE_CHECKING:
    from pathlib import Path


def pred_dataset(
    data: Any,
    axes: str,
    *,
    patch: list[int] | None = None,
    overlaps: list[int] | None = None,
    normalization: dict[str, Any] | None = None,
    data_type: str = "array",
    batch_size: int = 4,
    target: Any = None,
    **kwargs: Any,
) -> CareamicsDataset:
    """A predicting dataset: tiled when ``patch`` is given, else whole images."""
    patching: dict[str, Any] = {"name": "whole"}
    if patch is not None:
        patching = {
            "name": "tiled",
            "patch_size": patch,
            "overlaps": overlaps or [0] * len(patch),
        }
    config = DataConfig(
        mode="predicting",
        data_type=data_type,
        axes=axes,
        patching=patching,
        normalization=normalization or {"name": "none"},
        batch_size=batch_size,
        **kwargs,
    )
    return create_pred_dataset(config, PredData(data, target))


def identity(batch: np.ndarray) -> np.ndarray:
    return batch


def affine(batch: np.ndarray) -> np.ndarray:
    return 1.5 * batch - 0.25


class CountingModel:
    """A model that counts tiles, remembers them, and can fail after some calls."""

    def __init__(self, function: Any = identity, fail_after: int | None = None) -> None:
        self.function = function
        self.fail_after = fail_after
        self.calls = 0
        self.tiles = 0
        self.inputs: list[np.ndarray] = []
        self.lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with self.lock:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise RuntimeError("model failed on purpose")
            self.calls += 1
            self.tiles += len(batch)
            self.inputs.append(batch.copy())
        return np.asarray(self.function(batch))


def write_zarr(path: Path, data: np.ndarray, chunks: tuple[int, ...]) -> Path:
    group = zarr.open_group(path, mode="w", zarr_format=3)
    group.create_array("image", data=data, chunks=chunks)
    return path


def write_ome_zarr(
    path: Path,
    data: np.ndarray,
    axes: str,
    *,
    scale: list[float],
    chunks: tuple[int, ...],
    labels: list[str] | None = None,
) -> Path:
    """A one-level OME-Zarr 0.5 image with axes from ``tczyx``."""
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    entries: list[dict[str, Any]] = []
    for name in axes:
        entry: dict[str, Any] = {"name": name, "type": kinds[name]}
        if kinds[name] == "space":
            entry["unit"] = "micrometer"
        entries.append(entry)
    ome: dict[str, Any] = {
        "version": "0.5",
        "multiscales": [
            {
                "name": "image",
                "axes": entries,
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": scale}
                        ],
                    }
                ],
            }
        ],
    }
    if labels is not None:
        ome["omero"] = {"channels": [{"label": label} for label in labels]}
    group = zarr.open_group(path, mode="w", zarr_format=3, attributes={"ome": ome})
    group.create_array("0", data=data, chunks=chunks, dimension_names=list(axes))
    return path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under a folder: its bytes and modification time (ns)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), os.stat(p).st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_output(store: Path, array: str = "0") -> np.ndarray:
    return np.asarray(zarr.open_array(store, path=array, mode="r")[...])


def attributes(store: Path, path: str = "0", key: str = "careamics-dask") -> Any:
    """One attribute of an array or group of the output store."""
    node: Any = zarr.open(store, path=path, mode="r")
    return node.attrs.asdict()[key]
