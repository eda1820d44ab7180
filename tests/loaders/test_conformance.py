"""Every file another tool writes reads right (issue 18): the conformance set.

Each case of :data:`tests.loaders.writers.WRITERS` writes a small file with another
tool's writer; opening it must give the dims, channel names and pixel sizes (in
micrometres) the writer recorded, and the pixels the writer's own reader returns.
``docs/conformance.md`` is the table of the cases.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from careamics_dask.errors import CareamicsDaskWarning
from careamics_dask.loaders import open_image
from tests.loaders.writers import WRITERS, Writer, conformance_table, dump

DOCS = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


@pytest.mark.parametrize("case", WRITERS, ids=[w.id for w in WRITERS])
def test_file_reads_as_written(tmp_path: Path, case: Writer) -> None:
    written = case.write(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CareamicsDaskWarning)  # no axes conflict
        stack = open_image(written.source, written.axes, written.data_type)
    assert stack.dims == written.dims, dump(written)
    assert list(stack.coords["C"].values) == written.channels
    if written.pixel_sizes is None:
        assert "pixel_sizes" not in stack.attrs
        assert "pixel_unit" not in stack.attrs
    else:
        assert stack.attrs["pixel_unit"] == "micrometer"
        assert stack.attrs["pixel_sizes"] == pytest.approx(written.pixel_sizes)
    assert stack.dtype == written.pixels.dtype
    np.testing.assert_array_equal(stack.values, written.pixels)


def test_sharded_store_records_its_shards(tmp_path: Path) -> None:
    [case] = [w for w in WRITERS if w.id == "ngff-zarr-0.5-sharded"]
    stack = open_image(case.write(tmp_path).source, "")
    assert "zarr_shards" in stack.attrs
    assert stack.attrs["zarr_shards"] != stack.attrs["zarr_chunks"]


def test_tiff_axes_that_conflict_with_the_file_warn(tmp_path: Path) -> None:
    [case] = [w for w in WRITERS if w.id == "ome-tiff-nm"]
    source = case.write(tmp_path).source
    with pytest.warns(CareamicsDaskWarning, match="channel names \\['dapi', 'gfp'\\]"):
        stack = open_image(source, "TZYX")
    assert list(stack.coords["C"].values) == [0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_image(source, "CZYX")  # agrees: no warning


def test_docs_table_lists_every_case() -> None:
    assert conformance_table() in DOCS.read_text(encoding="utf-8"), (
        "docs/conformance.md is stale: paste the table printed by "
        "tests.loaders.writers.conformance_table()"
    )


def _unnamed_two_channel_sources(folder: Path) -> dict[str, tuple[object, str]]:
    """The same two unnamed channels written by every writer the loaders read."""
    import bioio
    import bioio_tifffile
    import dask.array as da
    import ngff_zarr
    import tifffile
    import zarr

    from tests.loaders.writers import FormatV04, write_image

    data = np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16)
    tifffile.imwrite(folder / "plain.tif", data)
    tifffile.imwrite(folder / "bare.ome.tif", data, ome=True, metadata={"axes": "CYX"})
    zarr.create_array(folder / "plain.zarr", data=data, chunks=(1, 16, 16))
    group = zarr.open_group(folder / "ome.zarr", mode="w", zarr_format=2)
    write_image(data, group, axes="cyx", scale_factors=[], fmt=FormatV04())
    image = ngff_zarr.to_ngff_image(data, dims=["c", "y", "x"])
    multiscales = ngff_zarr.to_multiscales(image, scale_factors=[])
    ngff_zarr.to_ngff_zarr(folder / "ngff.zarr", multiscales, version="0.5")
    with warnings.catch_warnings():  # "install bioio-ome-tiff" for .ome.tif names
        warnings.simplefilter("ignore")
        bioimage = bioio.BioImage(folder / "bare.ome.tif", reader=bioio_tifffile.Reader)
    return {
        "tiff": (folder / "plain.tif", "CYX"),
        "ome-tiff": (folder / "bare.ome.tif", ""),
        "zarr": (folder / "plain.zarr", "CYX"),
        "ome-zarr-py (no omero)": (folder / "ome.zarr", ""),
        "ngff-zarr": (folder / "ngff.zarr", ""),
        "bioio": (bioimage, "CYX"),
        "numpy": (data, "CYX"),
        "dask": (da.from_array(data, chunks=(1, 16, 16)), "CYX"),
    }


def test_unnamed_channels_get_one_coordinate_from_every_loader(tmp_path: Path) -> None:
    coordinates: dict[str, tuple[str, tuple[int, ...]]] = {}
    for name, (source, axes) in _unnamed_two_channel_sources(tmp_path).items():
        values = open_image(source, axes).coords["C"].values
        coordinates[name] = (values.dtype.kind, tuple(values.tolist()))
    assert set(coordinates.values()) == {("i", (0, 1))}, coordinates
