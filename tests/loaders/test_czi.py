from __future__ import annotations

import importlib
import pickle
import sys
from typing import TYPE_CHECKING, Any

import dask.array as da
import numpy as np
import pytest

from careamics_dask.errors import (
    AxesError,
    MissingDependencyError,
    SourceNotFoundError,
    SourceReadError,
    UnsupportedSourceError,
)
from careamics_dask.loaders import clear_handle_cache
from careamics_dask.loaders.open import open_image, open_images
from careamics_dask.loaders.registry import guess_loader
from careamics_dask.testing import LoaderCase, LoaderTests, open_file_descriptors

pyczi = pytest.importorskip("pylibCZIrw.czi")

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt

pytestmark = pytest.mark.czi

Tile = tuple[int, tuple[int, int], Any]  # scene, (x, y), data (T, Z, C, Y, X)


def write_czi(
    path: Path,
    tiles: list[Tile],
    *,
    names: dict[int, str] | None = None,
    scale: tuple[float, float, float] | None = None,
) -> None:
    """Write tiles of (T, Z, C, Y, X) data with pylibCZIrw's writer."""
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        for scene, location, data in tiles:
            for t, z, c in np.ndindex(*data.shape[:3]):
                writer.write(
                    data=data[t, z, c],
                    plane={"T": t, "Z": z, "C": c},
                    scene=scene,
                    location=location,
                )
        kwargs: dict[str, Any] = {}
        if scale is not None:
            kwargs.update(scale_x=scale[0], scale_y=scale[1], scale_z=scale[2])
        writer.write_metadata(channel_names=names, **kwargs)


def read_raw(path: Path, scene: int, axes: str, sizes: dict[str, int]) -> Any:
    """What pylibCZIrw reads for a scene, arranged as (S, C, [depth,] Y, X)."""
    planes: dict[tuple[int, int, int], npt.NDArray[Any]] = {}
    with pyczi.open_czi(str(path)) as czi:
        for t, z, c in np.ndindex(sizes["T"], sizes["Z"], sizes["C"]):
            planes[t, z, c] = czi.read(plane={"T": t, "Z": z, "C": c}, scene=scene)[
                ..., 0
            ]
    channels = range(sizes["C"])
    if axes == "SCYX":
        return np.stack(
            [
                np.stack([planes[t, z, c] for c in channels])
                for t in range(sizes["T"])
                for z in range(sizes["Z"])
            ]
        )
    if axes == "SCZYX":
        return np.stack(
            [
                np.stack(
                    [
                        np.stack([planes[t, z, c] for z in range(sizes["Z"])])
                        for c in channels
                    ]
                )
                for t in range(sizes["T"])
            ]
        )
    return np.stack(
        [
            np.stack(
                [
                    np.stack([planes[t, z, c] for t in range(sizes["T"])])
                    for c in channels
                ]
            )
            for z in range(sizes["Z"])
        ]
    )


def random(shape: tuple[int, ...], dtype: str, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random(shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)


def sizes_of(data: Any) -> dict[str, int]:
    return dict(zip("TZC", data.shape[:3], strict=True))


class TestCzi2DMultiChannel(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "two_channels.czi"
        data = random((1, 1, 2, 24, 32), "uint16")
        write_czi(
            path,
            [(0, (0, 0), data)],
            names={0: "dapi", 1: "gfp"},
            scale=(0.25e-6, 0.25e-6, 1e-6),
        )
        raw = read_raw(path, 0, "SCYX", sizes_of(data))
        np.testing.assert_array_equal(raw[0], data[0, 0])
        return LoaderCase(
            source=path,
            axes="SCYX",
            expected=[raw],
            data_type="czi",
            channel_names=[["dapi", "gfp"]],
            pixel_sizes=[{"Y": 0.25, "X": 0.25}],
            expected_chunks=[(1, 1, 24, 32)],
            path=path,
        )


class TestCziZStack(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "zstack.czi"
        data = random((2, 3, 1, 16, 20), "uint8", seed=1)
        write_czi(path, [(0, (0, 0), data)], scale=(0.5e-6, 0.5e-6, 2e-6))
        raw = read_raw(path, 0, "SCZYX", sizes_of(data))
        np.testing.assert_array_equal(raw, data.transpose(0, 2, 1, 3, 4))
        return LoaderCase(
            source=str(path),
            axes="SCZYX",
            expected=[raw],
            pixel_sizes=[{"Z": 2.0, "Y": 0.5, "X": 0.5}],
            expected_chunks=[(1, 1, 1, 16, 20)],
            path=path,
        )


class TestCziTimeSeries(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "timelapse.czi"
        data = random((4, 1, 2, 16, 16), "float32", seed=2)
        write_czi(path, [(0, (0, 0), data)])
        raw = read_raw(path, 0, "SCTYX", sizes_of(data))
        np.testing.assert_array_equal(raw[0], data[:, 0].transpose(1, 0, 2, 3))
        return LoaderCase(
            source=path,
            axes="SCTYX",
            expected=[raw],
            expected_axes=["SCZYX"],  # T is the depth axis of the stack
            expected_chunks=[(1, 1, 1, 16, 16)],
            path=path,
        )


class TestCziFoldedSamples(LoaderTests):
    """2-D axes fold T and Z into S, T-major (bounding-box order)."""

    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "folded.czi"
        data = random((2, 3, 1, 8, 12), "uint16", seed=3)
        write_czi(path, [(0, (0, 0), data)])
        raw = read_raw(path, 0, "SCYX", sizes_of(data))
        np.testing.assert_array_equal(raw[1 * 3 + 2, 0], data[1, 2, 0])
        return LoaderCase(source=path, axes="SCYX", expected=[raw], path=path)


def write_two_scenes(path: Path) -> tuple[Any, Any]:
    first = random((1, 1, 2, 16, 20), "uint16", seed=4)
    second = random((1, 1, 2, 10, 12), "uint16", seed=5)
    write_czi(
        path,
        [
            (0, (0, 0), first),
            # scene 1 is a mosaic of two 10x6 subblocks at an offset
            (1, (100, 50), second[..., :6]),
            (1, (106, 50), second[..., 6:]),
        ],
    )
    return first, second


class TestCziTwoScenes(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "scenes.czi"
        first, second = write_two_scenes(path)
        raws = [read_raw(path, s, "SCYX", sizes_of(first)) for s in (0, 1)]
        np.testing.assert_array_equal(raws[1][0], second[0, 0])
        return LoaderCase(
            source=path,
            axes="SCYX",
            expected=raws,
            expected_chunks=[(1, 1, 16, 20), (1, 1, 10, 6)],
            path=path,
        )


class TestCziSceneSelection(LoaderTests):
    def make_case(self, tmp_path: Path) -> LoaderCase:
        path = tmp_path / "scenes.czi"
        first, _ = write_two_scenes(path)
        raw = read_raw(path, 1, "SCYX", sizes_of(first))
        return LoaderCase(source=f"{path}@1", axes="SCYX", expected=[raw], path=path)


def test_scene_attrs_and_guess(tmp_path: Path) -> None:
    path = tmp_path / "scenes.czi"
    write_two_scenes(path)
    assert guess_loader(f"{path}@1") == "czi"
    stacks = open_images(path, "SCYX")
    assert [s.attrs["czi_scene"] for s in stacks] == [0, 1]
    assert [s.attrs["array"] for s in stacks] == ["scene 0", "scene 1"]
    assert stacks[0].attrs["source"] == str(path)
    assert stacks[0].data.name != stacks[1].data.name


def test_in_memory_reads_numpy_and_closes(tmp_path: Path) -> None:
    clear_handle_cache()
    path = tmp_path / "mem.czi"
    data = random((2, 2, 1, 8, 8), "uint16", seed=6)
    write_czi(path, [(0, (0, 0), data)])
    stack = open_image(path, "SCZYX", in_memory=True)
    assert isinstance(stack.data, np.ndarray)
    np.testing.assert_array_equal(stack.values, data.transpose(0, 2, 1, 3, 4))
    assert open_file_descriptors(path) == []


def test_z_and_t_depth_give_distinct_keys(tmp_path: Path) -> None:
    path = tmp_path / "square.czi"
    data = random((3, 3, 1, 8, 8), "uint8", seed=7)
    write_czi(path, [(0, (0, 0), data)])
    by_z = open_image(path, "SCZYX")
    by_t = open_image(path, "SCTYX")
    assert by_z.shape == by_t.shape == (3, 1, 3, 8, 8)
    assert by_z.data.name != by_t.data.name
    np.testing.assert_array_equal(by_z.values[1, 0, 2], data[1, 2, 0])
    np.testing.assert_array_equal(by_t.values[1, 0, 2], data[2, 1, 0])
    assert by_t.attrs["czi_axes"] == "SCTYX"
    assert by_t.attrs["czi_sample_dims"] == {"Z": 3}


def test_mixed_pixel_types_promote(tmp_path: Path) -> None:
    path = tmp_path / "mixed.czi"
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        writer.write(data=np.full((4, 6), 200, "uint8"), plane={"C": 0})
        writer.write(data=np.full((4, 6), 60000, "uint16"), plane={"C": 1})
    stack = open_image(path, "SCYX")
    assert stack.dtype == np.uint16
    np.testing.assert_array_equal(stack.values[0, :, 0, 0], [200, 60000])


@pytest.mark.parametrize("axes", ["CZYX", "SCZTYX", "SYX", "SCYXZ", "TCZYX", "scyx"])
def test_invalid_axes(tmp_path: Path, axes: str) -> None:
    path = tmp_path / "a.czi"
    write_czi(path, [(0, (0, 0), random((1, 1, 1, 4, 4), "uint8"))])
    with pytest.raises(AxesError, match=f"Provided axes '{axes}' are not valid"):
        open_images(path, axes, "czi")


@pytest.mark.parametrize(("axes", "depth"), [("SCZYX", "Z"), ("SCTYX", "T")])
def test_missing_depth_axis(tmp_path: Path, axes: str, depth: str) -> None:
    path = tmp_path / "flat.czi"
    write_czi(path, [(0, (0, 0), random((1, 1, 1, 4, 4), "uint8"))])
    with pytest.raises(RuntimeError, match=f"does not contain a {depth} axis") as info:
        open_images(path, axes)
    assert isinstance(info.value, AxesError)
    assert 'axes="SCYX"' in str(info.value)


def test_rgb_rejected(tmp_path: Path) -> None:
    path = tmp_path / "rgb.czi"
    with pyczi.create_czi(str(path), exist_ok=True) as writer:
        writer.write(data=np.zeros((4, 4, 3), "uint8"), plane={"C": 0})
    with pytest.raises(UnsupportedSourceError, match="RGB channels are currently not"):
        open_images(path, "SCYX")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_images(tmp_path / "missing.czi", "SCYX", "czi")
    from careamics_dask.loaders.czi import CziLoader

    with pytest.raises(SourceNotFoundError, match=r"missing\.czi"):
        CziLoader().open(tmp_path / "missing.czi@1", "SCYX")


def test_missing_scene(tmp_path: Path) -> None:
    path = tmp_path / "scenes.czi"
    write_two_scenes(path)
    with pytest.raises(UnsupportedSourceError, match=r"Scene 5 not found.*\[0, 1\]"):
        open_images(f"{path}@5", "SCYX")


def test_not_a_czi_file(tmp_path: Path) -> None:
    path = tmp_path / "fake.czi"
    path.write_bytes(b"not a czi file at all" * 10)
    with pytest.raises(UnsupportedSourceError, match=r"Cannot open .* as a CZI file"):
        open_images(path, "SCYX")


def test_read_error_names_source_and_region(tmp_path: Path) -> None:
    clear_handle_cache()
    path = tmp_path / "vanishing.czi"
    write_czi(path, [(0, (0, 0), random((1, 1, 1, 8, 8), "uint8"))])
    stack = open_image(path, "SCYX")
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(SourceReadError, match=r"region \[0:1, 0:1, 0:8, 0:8\]") as info:
        stack.values  # noqa: B018
    assert info.value.source == str(path)
    assert info.value.array == "scene 0"


def test_reader_pickles_small(tmp_path: Path) -> None:
    path = tmp_path / "a.czi"
    write_czi(path, [(0, (0, 0), random((1, 1, 1, 8, 8), "uint8"))])
    stack = open_image(path, "SCYX")
    assert isinstance(stack.data, da.Array)
    assert len(pickle.dumps(stack.data)) < 20_000


def test_missing_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.czi"
    write_czi(path, [(0, (0, 0), random((1, 1, 1, 4, 4), "uint8"))])
    for name in ("pylibCZIrw", "pylibCZIrw.czi"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "careamics_dask.loaders.czi", raising=False)
    module = importlib.import_module("careamics_dask.loaders.czi")  # must not fail
    with pytest.raises(
        MissingDependencyError, match=r"pip install 'careamics-dask\[czi\]'"
    ) as info:
        module.CziLoader().open(path, "SCYX")
    assert isinstance(info.value, ImportError)
    assert info.value.extra == "czi"
