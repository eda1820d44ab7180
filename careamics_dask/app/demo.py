"""Synthetic microscopy-like data on disk, for demos, smoke runs and tutorials.

The images are sums of Gaussian blobs and filaments on a dim background with Poisson
and Gaussian noise: structured enough that patch statistics and background filters
behave as on real fluorescence data, small enough to write in seconds.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

__all__ = ["DemoKind", "demo_data_matches", "synthetic_image", "write_demo_data"]

logger = logging.getLogger(__name__)

_MARKER = "careamics-dask-demo-data.json"
"""Beside the images of a TIFF folder: the arguments of a complete write."""
_ATTRIBUTE = "careamics-dask-demo-data"
"""In a Zarr store's root attributes: the arguments of a complete write."""

DemoKind = Literal["zarr", "ome-zarr", "tiff"]


def synthetic_image(
    shape: Sequence[int], *, seed: int = 0, n_blobs: int = 40
) -> npt.NDArray[np.uint16]:
    """Make one noisy fluorescence-like image (2-D ``YX`` or 3-D ``ZYX``).

    Parameters
    ----------
    shape : Sequence[int]
        ``(Y, X)`` or ``(Z, Y, X)``.
    seed : int, default 0
        Seed of the random blobs and noise.
    n_blobs : int, default 40
        Number of bright blobs.

    Returns
    -------
    numpy.ndarray
        A ``uint16`` image.

    Examples
    --------
    >>> synthetic_image((32, 48), seed=1).shape
    (32, 48)
    """
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*(np.arange(s, dtype=np.float32) for s in shape), indexing="ij")
    image = np.full(tuple(shape), 100.0, dtype=np.float32)
    for _ in range(n_blobs):
        centre = [rng.uniform(0, s) for s in shape]
        sigma = rng.uniform(1.5, max(2.0, min(shape[-2:]) / 40))
        dist2 = sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True))
        image += rng.uniform(300, 2000) * np.exp(-dist2 / (2 * sigma**2))
    noisy = rng.poisson(image).astype(np.float32) + rng.normal(0, 10, image.shape)
    return np.clip(noisy, 0, 65535).astype(np.uint16)


def _stack(n_samples: int, n_channels: int, spatial: Sequence[int]) -> Any:
    planes = [
        [synthetic_image(spatial, seed=s * 97 + c) for c in range(n_channels)]
        for s in range(n_samples)
    ]
    return np.asarray(planes)


def write_demo_data(
    path: str | Path,
    kind: DemoKind = "zarr",
    *,
    n_samples: int = 4,
    n_channels: int = 2,
    spatial: Sequence[int] = (256, 256),
    chunks: Sequence[int] = (128, 128),
) -> Path:
    """Write a synthetic dataset with axes ``SCYX`` (or ``SCZYX``).

    Parameters
    ----------
    path : str or pathlib.Path
        Output: a ``.zarr`` store, or a folder of TIFF files for ``"tiff"``.
    kind : {"zarr", "ome-zarr", "tiff"}, default "zarr"
        Format: a Zarr v3 store with one array ``"images"``, an OME-Zarr 0.5
        image, or one TIFF per sample (axes ``CYX``).
    n_samples : int, default 4
        Number of samples.
    n_channels : int, default 2
        Number of channels.
    spatial : Sequence[int], default (256, 256)
        ``(Y, X)`` or ``(Z, Y, X)``.
    chunks : Sequence[int], default (128, 128)
        Spatial chunk (Zarr) or tile (TIFF) size.

    Returns
    -------
    pathlib.Path
        The written path; an existing path that holds demo data written with the
        same arguments is reused as it is (:func:`demo_data_matches`), so running
        a tutorial twice works.

    Raises
    ------
    FileExistsError
        When ``path`` exists and holds something else (nothing is overwritten).
    ValueError
        For an unknown kind.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_demo_data(pathlib.Path(tempfile.mkdtemp()) / "d.zarr", n_samples=1,
    ...                       spatial=(32, 32), chunks=(16, 16))
    >>> out.name
    'd.zarr'
    """
    path = Path(path)
    if kind not in ("zarr", "ome-zarr", "tiff"):
        raise ValueError(
            f"Unknown demo kind {kind!r}: expected one of 'zarr', 'ome-zarr', 'tiff'."
        )
    arguments = _arguments(kind, n_samples, n_channels, spatial, chunks)
    if path.exists():
        if _read_arguments(path) == arguments:
            logger.info("reusing the demo data at %s (same arguments)", path)
            return path
        raise FileExistsError(
            f"Demo output {str(path)!r} exists already and does not hold demo data "
            f"written with these arguments ({arguments}): expected a new path or "
            "the same arguments. Choose another path or delete the old one."
        )
    _write(path, kind, _stack(n_samples, n_channels, spatial), chunks)
    _record(path, kind, arguments)
    return path


def _arguments(
    kind: str,
    n_samples: int,
    n_channels: int,
    spatial: Sequence[int],
    chunks: Sequence[int],
) -> dict[str, Any]:
    return {
        "kind": kind,
        "n_samples": int(n_samples),
        "n_channels": int(n_channels),
        "spatial": [int(v) for v in spatial],
        "chunks": [int(v) for v in chunks],
    }


def _record(path: Path, kind: DemoKind, arguments: dict[str, Any]) -> None:
    """Record a complete write and its arguments (written last).

    Zarr stores keep them in the root group's attributes, TIFF folders in a JSON
    file beside the images.
    """
    if kind == "tiff":
        (path / _MARKER).write_text(json.dumps(arguments), encoding="utf-8")
        return
    import zarr

    zarr.open_group(path, mode="r+").attrs[_ATTRIBUTE] = arguments


def _read_arguments(path: Path) -> dict[str, Any] | None:
    found: Any = None
    try:
        if (path / _MARKER).is_file():
            found = json.loads((path / _MARKER).read_text(encoding="utf-8"))
        elif (path / "zarr.json").is_file():
            import zarr

            found = zarr.open_group(path, mode="r").attrs.get(_ATTRIBUTE)
    except (OSError, ValueError, TypeError):
        return None
    return found if isinstance(found, dict) else None


def demo_data_matches(
    path: str | Path,
    kind: DemoKind = "zarr",
    *,
    n_samples: int = 4,
    n_channels: int = 2,
    spatial: Sequence[int] = (256, 256),
    chunks: Sequence[int] = (128, 128),
) -> bool:
    """Tell whether ``path`` holds complete demo data written with these arguments.

    :func:`write_demo_data` reuses such a path instead of writing it again.

    Parameters
    ----------
    path : str or pathlib.Path
        The demo data's path.
    kind, n_samples, n_channels, spatial, chunks
        As :func:`write_demo_data`.

    Returns
    -------
    bool
        True when a complete write with the same arguments is there.

    Examples
    --------
    >>> demo_data_matches("no/such/path.zarr")
    False
    """
    arguments = _arguments(kind, n_samples, n_channels, spatial, chunks)
    return Path(path).is_dir() and _read_arguments(Path(path)) == arguments


def _write(path: Path, kind: DemoKind, data: Any, chunks: Sequence[int]) -> None:
    n_channels = data.shape[1]
    spatial = data.shape[2:]
    spatial_axes = "ZYX"[-len(spatial) :]
    logger.info("writing %s demo data %s to %s", kind, data.shape, path)
    if kind == "tiff":
        import tifffile

        path.mkdir(parents=True)
        for index, sample in enumerate(data):
            tifffile.imwrite(
                path / f"sample_{index:03d}.tif",
                sample,
                tile=tuple(chunks[-2:]),
                compression="zlib",
                metadata={"axes": "C" + spatial_axes},
            )
        return
    import zarr

    if kind == "zarr":
        group = zarr.open_group(path, mode="w-", zarr_format=3)
        group.create_array(
            "images",
            data=data,
            chunks=(1, 1, *chunks),
            attributes={"axes": "SC" + spatial_axes},
        )
        return
    if kind == "ome-zarr":
        group = zarr.open_group(path, mode="w-", zarr_format=3)
        group.create_array("0", data=data, chunks=(1, 1, *chunks))
        names = {"S": "t", "C": "c", "Z": "z", "Y": "y", "X": "x"}
        types = {"t": "time", "c": "channel"}
        axes = [
            {"name": names[a], "type": types.get(names[a], "space")}
            | ({"unit": "micrometer"} if a in "ZYX" else {})
            for a in "SC" + spatial_axes
        ]
        scale = [1.0, 1.0, *([0.1] * len(spatial))]
        group.attrs["ome"] = {
            "version": "0.5",
            "multiscales": [
                {
                    "axes": axes,
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
            "omero": {
                "channels": [{"label": f"channel_{c}"} for c in range(n_channels)]
            },
        }
        return
    raise ValueError(
        f"Unknown demo kind {kind!r}: expected one of 'zarr', 'ome-zarr', 'tiff'."
    )
