"""Small files written by other tools' writers, with what their own readers read.

Each writer function writes one file under a folder and returns a :class:`Written`:
the source to open, the axes to pass, and what a correct reading gives (dims,
channel names, pixel sizes in micrometres, and the pixels the writer's own reader
returns, in ``S C (Z) Y X``). ``tests/loaders/test_conformance.py`` opens each one
with careamics_dask and compares; ``docs/conformance.md`` is the table of them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numcodecs  # type: ignore[import-untyped]
import numpy as np
import tifffile
import zarr

from careamics_dask.axes import to_canonical

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from pathlib import Path

    import numpy.typing as npt

with warnings.catch_warnings():  # ome-zarr-py warns about its own Scaler on import
    warnings.simplefilter("ignore", DeprecationWarning)
    import ngff_zarr
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

__all__ = [
    "WRITERS",
    "FormatV04",
    "Writer",
    "Written",
    "conformance_table",
    "dump",
    "write_image",
    "write_plate_metadata",
    "write_well_metadata",
]

RNG = np.random.default_rng(18)
UNITS_NM = {"z": "micrometer", "y": "nanometer", "x": "nanometer"}
SCALE_NM = {"z": 0.3, "y": 108.0, "x": 108.0}
SIZES_UM = {"Z": 0.3, "Y": 0.108, "X": 0.108}


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    """One written file and what reading it right gives."""

    source: Any
    axes: str
    dims: tuple[str, ...]
    channels: list[Any]
    pixel_sizes: dict[str, float] | None
    pixels: npt.NDArray[Any]
    data_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Writer:
    """A conformance case: the writer, the file, what is checked."""

    id: str
    writer: str
    file: str
    checked: str
    write: Callable[[Path], Written]


def _pixels(n: int, *shape: int) -> npt.NDArray[np.uint16]:
    return RNG.integers(0, 4000, (n, *shape)).astype(np.uint16)


def _ome_zarr_py_pixels(path: Path) -> npt.NDArray[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        node = next(iter(Reader(parse_url(str(path), mode="r"))()))
        return np.asarray(node.data[0])


def ome_tiff_nm(folder: Path) -> Written:
    path = folder / "nm.ome.tif"
    data = _pixels(2, 3, 16, 20)
    metadata = {
        "axes": "CZYX",
        "PhysicalSizeX": 108.0,
        "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 108.0,
        "PhysicalSizeYUnit": "nm",
        "PhysicalSizeZ": 0.3,
        "PhysicalSizeZUnit": "µm",
        "Channel": {"Name": ["dapi", "gfp"]},
    }
    tifffile.imwrite(path, data, ome=True, metadata=metadata)
    return Written(
        source=path,
        axes="",
        dims=("S", "C", "Z", "Y", "X"),
        channels=["dapi", "gfp"],
        pixel_sizes=SIZES_UM,
        pixels=tifffile.imread(path)[None],
    )


def ome_tiff_bare(folder: Path) -> Written:
    path = folder / "bare.ome.tif"
    tifffile.imwrite(path, _pixels(3, 2, 16, 16), ome=True, metadata={"axes": "TCYX"})
    return Written(
        source=path,
        axes="TCYX",
        dims=("S", "C", "Y", "X"),
        channels=[0, 1],
        pixel_sizes=None,
        pixels=tifffile.imread(path),
    )


def imagej_units(folder: Path) -> Written:
    path = folder / "imagej.tif"
    data = _pixels(3, 2, 16, 16)  # Z C Y X
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 108.0, 1 / 108.0),
        metadata={"axes": "ZCYX", "unit": "nm", "spacing": 0.3, "zunit": "micron"},
    )
    return Written(
        source=path,
        axes="",
        dims=("S", "C", "Z", "Y", "X"),
        channels=[0, 1],
        pixel_sizes=SIZES_UM,
        pixels=to_canonical(tifffile.imread(path), "ZCYX"),
    )


def imagej_micro_sign(folder: Path) -> Written:
    path = folder / "imagej_um.tif"
    data = _pixels(4, 16, 16)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.25, 1 / 0.25),
        metadata={"axes": "ZYX", "unit": "\\u00B5m", "spacing": 2.0},
    )
    return Written(
        source=path,
        axes="ZYX",
        dims=("S", "C", "Z", "Y", "X"),
        channels=[0],
        pixel_sizes={"Z": 2.0, "Y": 0.25, "X": 0.25},
        pixels=tifffile.imread(path)[None, None],
    )


def plain_tiff(folder: Path) -> Written:
    path = folder / "plain.tif"
    tifffile.imwrite(path, _pixels(2, 16, 16))
    return Written(
        source=path,
        axes="SYX",
        dims=("S", "C", "Y", "X"),
        channels=[0],
        pixel_sizes=None,
        pixels=tifffile.imread(path)[:, None],
    )


def bioio_tifffile_plain(folder: Path) -> Written:
    import bioio
    import bioio_tifffile

    path = plain_tiff(folder).source
    image = bioio.BioImage(path, reader=bioio_tifffile.Reader)
    return Written(
        source=image,
        axes="ZYX",  # bioio-tifffile reads the pages as Z
        dims=("S", "C", "Z", "Y", "X"),
        channels=[0],  # not bioio's generated "Channel:0:0"
        pixel_sizes=None,  # not bioio-tifffile's invented 1.0
        pixels=np.asarray(image.get_image_data("ZYX"))[None, None],
        data_type="bioimage",
    )


def bioio_tifffile_ome(folder: Path) -> Written:
    import bioio
    import bioio_tifffile

    written = ome_tiff_nm(folder)
    with warnings.catch_warnings():  # "install bioio-ome-tiff" for .ome.tif names
        warnings.simplefilter("ignore")
        image = bioio.BioImage(written.source, reader=bioio_tifffile.Reader)
        pixels = np.asarray(image.get_image_data("CZYX"))[None]
    return Written(
        source=image,
        axes="CZYX",
        dims=("S", "C", "Z", "Y", "X"),
        channels=["dapi", "gfp"],  # from the file, as the TIFF loader reads them
        pixel_sizes=SIZES_UM,
        pixels=pixels,
        data_type="bioimage",
    )


def ome_zarr_py_04(folder: Path) -> Written:
    path = folder / "ome04.zarr"
    data = _pixels(2, 4, 16, 16)
    group = zarr.open_group(path, mode="w", zarr_format=2)
    write_image(
        data,
        group,
        axes="czyx",
        scale_factors=[],
        fmt=FormatV04(),
        scale={"c": 1.0, **SCALE_NM},
        axes_units=UNITS_NM,
    )
    group.attrs["omero"] = {"channels": [{"label": "a"}, {"label": "b"}]}
    return Written(
        source=path,
        axes="",
        dims=("S", "C", "Z", "Y", "X"),
        channels=["a", "b"],
        pixel_sizes=SIZES_UM,
        pixels=_ome_zarr_py_pixels(path)[None],
    )


def ome_zarr_py_05(folder: Path) -> Written:
    path = folder / "ome05.zarr"
    data = _pixels(2, 3, 16, 16)
    group = zarr.open_group(path, mode="w", zarr_format=3)
    write_image(
        data,
        group,
        axes="tcyx",
        scale_factors=[],
        fmt=FormatV05(),
        scale={"t": 1.0, "c": 1.0, "y": 0.5, "x": 0.5},
        axes_units={"t": "second", "y": "micrometer", "x": "micrometer"},
    )
    return Written(
        source=path,
        axes="",
        dims=("S", "C", "Y", "X"),
        channels=[0, 1, 2],  # no omero labels: positions, as every loader
        pixel_sizes={"Y": 0.5, "X": 0.5},
        pixels=_ome_zarr_py_pixels(path),
    )


def _ngff_zarr(folder: Path, name: str, **options: Any) -> Written:
    path = folder / name
    data = _pixels(2, 4, 32, 32)
    scale: dict[Hashable, float] = {"z": 0.3, "y": 108.0, "x": 108.0}
    image = ngff_zarr.to_ngff_image(
        data, dims=["c", "z", "y", "x"], scale=scale, axes_units=UNITS_NM
    )
    multiscales = ngff_zarr.to_multiscales(image, scale_factors=[], chunks=16)
    ngff_zarr.to_ngff_zarr(path, multiscales, **options)
    back = ngff_zarr.from_ngff_zarr(path)
    return Written(
        source=path,
        axes="",
        dims=("S", "C", "Z", "Y", "X"),
        channels=[0, 1],
        pixel_sizes=SIZES_UM,
        pixels=np.asarray(back.images[0].data)[None],
    )


def ngff_zarr_04(folder: Path) -> Written:
    return _ngff_zarr(folder, "ngff04.zarr", version="0.4")


def ngff_zarr_05(folder: Path) -> Written:
    return _ngff_zarr(folder, "ngff05.zarr", version="0.5")


def ngff_zarr_05_sharded(folder: Path) -> Written:
    return _ngff_zarr(folder, "ngff05s.zarr", version="0.5", chunks_per_shard=2)


def ngff_02(folder: Path) -> Written:
    """NGFF 0.2 as ome-zarr-py's test data has it: no axes, always TCZYX."""
    path = folder / "ngff02.zarr"
    data = _pixels(1, 2, 3, 16, 16)
    group = zarr.open_group(path, mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=(1, 1, 1, 16, 16))
    group.attrs["multiscales"] = [{"version": "0.2", "datasets": [{"path": "0"}]}]
    group.attrs["omero"] = {"channels": [{"label": "ch-a"}, {"label": "ch-b"}]}
    return Written(
        source=path,
        axes="",
        dims=("S", "C", "Z", "Y", "X"),
        channels=["ch-a", "ch-b"],
        pixel_sizes=None,  # 0.2 records no scale: no invented 1.0
        pixels=_ome_zarr_py_pixels(path),
    )


def zarr_v2_blosc_f_order(folder: Path) -> Written:
    path = folder / "v2.zarr"
    data = _pixels(3, 24, 20)
    group = zarr.open_group(path, mode="w", zarr_format=2)
    compressor = numcodecs.Blosc(
        cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE
    )
    with warnings.catch_warnings():  # zarr warns that F order is a v2-only layout
        warnings.simplefilter("ignore")
        array = group.create_array(
            "image",
            shape=data.shape,
            dtype=data.dtype,
            chunks=(1, 16, 16),
            compressors=compressor,
            order="F",
        )
    array[...] = data
    reread = np.asarray(zarr.open_array(path / "image", mode="r")[...])
    return Written(
        source=path / "image",
        axes="SYX",
        dims=("S", "C", "Y", "X"),
        channels=[0],
        pixel_sizes=None,
        pixels=reread[:, None],
    )


def hcs_plate(folder: Path) -> Written:
    path = folder / "plate.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    wells = ["A/1", "B/2"]
    write_plate_metadata(root, ["A", "B"], ["1", "2"], wells, field_count=2)
    expected = []
    for well in wells:
        row, column = well.split("/")
        group = root.require_group(row).require_group(column)
        write_well_metadata(group, [{"path": "0"}, {"path": "1"}])
        for field in ("0", "1"):
            image = group.require_group(field)
            write_image(
                _pixels(2, 16, 16),
                image,
                axes="cyx",
                scale_factors=[],
                fmt=FormatV04(),
                scale={"c": 1.0, "y": 650.0, "x": 650.0},
                axes_units={"y": "nanometer", "x": "nanometer"},
            )
            expected.append(_ome_zarr_py_pixels(path / well / field))
    return Written(
        source=path,
        axes="",
        dims=("S", "C", "Y", "X"),
        channels=[0, 1],
        pixel_sizes={"Y": 0.65, "X": 0.65},
        pixels=np.stack(expected),
    )


WRITERS = [
    Writer(
        id="ome-tiff-nm",
        writer="tifffile (OME-TIFF)",
        file="CZYX, X/Y in nm, Z in µm, channel names",
        checked="dims, names, sizes in µm per axis, pixels = tifffile.imread",
        write=ome_tiff_nm,
    ),
    Writer(
        id="ome-tiff-bare",
        writer="tifffile (OME-TIFF)",
        file="TCYX, no sizes, no names",
        checked="dims, names 0..C-1, no sizes, pixels = tifffile.imread",
        write=ome_tiff_bare,
    ),
    Writer(
        id="imagej-units",
        writer="tifffile (ImageJ)",
        file="ZCYX hyperstack, unit nm, zunit micron, spacing",
        checked="axes from the file, sizes in µm per axis, pixels",
        write=imagej_units,
    ),
    Writer(
        id="imagej-micro-sign",
        writer="tifffile (ImageJ)",
        file="ZYX, unit '\\u00B5m' (ImageJ's escape)",
        checked="unit normalised to micrometer, sizes, pixels",
        write=imagej_micro_sign,
    ),
    Writer(
        id="plain-tiff",
        writer="tifffile",
        file="SYX, no resolution metadata",
        checked="no pixel sizes, names 0..C-1, pixels",
        write=plain_tiff,
    ),
    Writer(
        id="bioio-tifffile-plain",
        writer="tifffile, read through bioio-tifffile",
        file="the plain TIFF as a BioImage",
        checked="no invented 1.0 sizes, no generated names, pixels = BioImage",
        write=bioio_tifffile_plain,
    ),
    Writer(
        id="bioio-tifffile-ome",
        writer="tifffile OME-TIFF, read through bioio-tifffile",
        file="the nm OME-TIFF as a BioImage",
        checked="names and µm sizes from the file, as the TIFF loader",
        write=bioio_tifffile_ome,
    ),
    Writer(
        id="ome-zarr-py-0.4",
        writer="ome-zarr-py (NGFF 0.4)",
        file="CZYX, nm/µm units, omero labels",
        checked="dims, labels, sizes in µm, pixels = ome_zarr Reader",
        write=ome_zarr_py_04,
    ),
    Writer(
        id="ome-zarr-py-0.5",
        writer="ome-zarr-py (NGFF 0.5)",
        file="TCYX, time in seconds, no labels",
        checked="T as samples, names 0..C-1, sizes, pixels = ome_zarr Reader",
        write=ome_zarr_py_05,
    ),
    Writer(
        id="ngff-zarr-0.4",
        writer="ngff-zarr (NGFF 0.4)",
        file="CZYX, nm/µm units",
        checked="dims, sizes in µm, pixels = from_ngff_zarr",
        write=ngff_zarr_04,
    ),
    Writer(
        id="ngff-zarr-0.5",
        writer="ngff-zarr (NGFF 0.5)",
        file="CZYX, nm/µm units, Zarr v3",
        checked="dims, sizes in µm, pixels = from_ngff_zarr",
        write=ngff_zarr_05,
    ),
    Writer(
        id="ngff-zarr-0.5-sharded",
        writer="ngff-zarr (NGFF 0.5)",
        file="CZYX, sharded Zarr v3 (2 chunks per shard)",
        checked="dims, sizes in µm, shards recorded, pixels = from_ngff_zarr",
        write=ngff_zarr_05_sharded,
    ),
    Writer(
        id="ngff-0.2",
        writer="hand-written to NGFF 0.2 (ome-zarr-py no longer writes it)",
        file="TCZYX without axes, omero labels, no scale",
        checked="TCZYX axes, labels, no invented sizes, pixels = ome_zarr Reader",
        write=ngff_02,
    ),
    Writer(
        id="zarr-v2-blosc-f",
        writer="zarr-python (Zarr v2)",
        file="SYX, Blosc zstd, F order",
        checked="dims, pixels = zarr",
        write=zarr_v2_blosc_f_order,
    ),
    Writer(
        id="hcs-plate",
        writer="ome-zarr-py (NGFF 0.4 HCS plate)",
        file="2 wells x 2 fields, CYX, nm units",
        checked="one sample per field, well/field coords, sizes, pixels",
        write=hcs_plate,
    ),
]
"""Every conformance case, in the order of ``docs/conformance.md``."""


def conformance_table() -> str:
    """Return the Markdown table of :data:`WRITERS` (as ``docs/conformance.md``)."""
    lines = [
        "| case | writer | file | checked |",
        "|---|---|---|---|",
        *(f"| `{w.id}` | {w.writer} | {w.file} | {w.checked} |" for w in WRITERS),
    ]
    return "\n".join(lines)


def dump(written: Written) -> str:
    """Describe a written case for assertion messages."""
    return json.dumps(
        {"dims": written.dims, "channels": [str(c) for c in written.channels]}
    )
