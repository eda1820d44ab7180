"""Figures have the expected axes, artists and titles, and read only what they show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

import careamics_dask as cd
from careamics_dask.app.demo_render import DemoStoreSpec
from careamics_dask.app.demo_store import ensure_demo_store
from careamics_dask.patching import StratifiedPatching
from careamics_dask.plot import (
    plot_filter_map,
    plot_histogram,
    plot_images,
    plot_patch_origins,
    plot_patches,
    plot_tile_layout,
    read_overview,
    sample_chunks,
)
from careamics_dask.testing import count_region_reads, raise_if_dask_computes

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.axes import Axes

    from careamics_dask.factory.dataset import CareamicsDataset

SPEC = DemoStoreSpec(n_samples=4, n_channels=3, size=1024, chunk=128)
"""4 x 3 x 1024 x 1024 uint16 in 128 x 128 chunks: 768 chunks, 64 per plane."""
CHUNKS_PER_PLANE = (SPEC.size // SPEC.chunk) ** 2
TOTAL_CHUNKS = SPEC.n_samples * SPEC.n_channels * CHUNKS_PER_PLANE


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = ensure_demo_store(tmp_path_factory.mktemp("plot"), SPEC)
    return path


@pytest.fixture(scope="module")
def datasets(store: Path) -> tuple[CareamicsDataset, CareamicsDataset]:
    config = cd.DataConfig(
        mode="training",
        data_type="zarr",
        axes="SCYX",
        channels=[0, 2],
        patching={"name": "stratified", "patch_size": [64, 64]},
        normalization={"name": "mean_std"},
        patch_filter={"name": "max", "threshold": SPEC.threshold},
        batch_size=16,
        seed=5,
    )
    with dask.config.set(scheduler="threads"):
        return cd.create_val_split_datasets(
            config, cd.TrainValSplitData(str(store), n_val_patches=12)
        )


@pytest.fixture(scope="module")
def prediction(store: Path) -> CareamicsDataset:
    config = cd.DataConfig(
        mode="predicting",
        data_type="zarr",
        axes="SCYX",
        patching={"name": "tiled", "patch_size": [256, 256], "overlaps": [32, 32]},
        normalization={"name": "mean_std", "input_means": [0], "input_stds": [1]},
        batch_size=4,
    )
    return cd.create_pred_dataset(config, cd.PredData(str(store)))


def titles(figure: Figure) -> list[str]:
    return [axis.get_title() for axis in figure.axes]


def pixels(axis: Axes, index: int = 0) -> np.ma.MaskedArray[Any, Any]:
    data = axis.images[index].get_array()
    assert data is not None
    return np.ma.asarray(data)


# --- what the figures hold ---------------------------------------------------


def test_patches_grid_has_a_row_per_channel_and_a_column_per_patch(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    figure = plot_patches(train, indices=[0, 5, 9], title="three")
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2 * 3
    assert [a.get_ylabel() for a in figure.axes[::3]] == [
        "input: nuclei",
        "input: puncta",
    ]
    table = train.patch_table(0)
    y, x = table.coords[5]
    assert figure.axes[1].get_title() == f"s{table.sample_idx[5]} y{y} x{x}"
    assert all(len(a.images) == 1 for a in figure.axes)
    assert pixels(figure.axes[0]).shape == (64, 64)
    assert figure.get_suptitle() == "three"


def test_patches_of_a_batch_show_inputs_beside_targets() -> None:
    config = cd.DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "random", "patch_size": [8, 8]},
        normalization={"name": "none"},
        batch_size=4,
        seed=1,
    )
    images = np.random.default_rng(0).random((2, 32, 32), dtype=np.float32)
    train = cd.create_train_dataset(config, cd.TrainValData(images, None, images * 2))
    batch = train.batch(0)
    with raise_if_dask_computes():
        figure = plot_patches(batch, n=3)
    assert [a.get_ylabel() for a in figure.axes[::3]] == [
        "input: channel 0",
        "target: channel 0",
    ]
    assert batch.target is not None
    np.testing.assert_array_equal(pixels(figure.axes[3 + 1]), batch.target[1, 0])


def test_patch_origins_outline_training_and_validation(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, val = datasets
    figure = plot_patch_origins(train, val, sample_idx=1, data_idx=0, epochs=2)
    (axis,) = figure.axes
    outlines = [c for c in axis.collections if isinstance(c, PolyCollection)]
    table = train.patch_table(0)
    n_train = sum(int((train.patch_table(e).sample_idx == 1).sum()) for e in range(2))
    n_val = int((val.patch_table(0).sample_idx == 1).sum())
    assert [len(c.get_paths()) for c in outlines] == [
        int((table.sample_idx == 1).sum()),
        n_train - int((table.sample_idx == 1).sum()),
        n_val,
    ]
    # the overview, then the grid overlay of held-out and down-weighted cells
    assert len(axis.images) == 2
    assert pixels(axis, 1).shape == (16, 16, 4)
    assert "sample 1, nuclei (1:1)" in axis.get_title()
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels[0] == f"training patches ({n_train}, 2 epoch(s))"
    assert labels[1] == f"validation patches ({n_val})"
    assert any(label.startswith("cells held out") for label in labels) == (n_val > 0)


def test_filter_map_is_the_region_weights(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    with raise_if_dask_computes():  # the weights are in the patching
        figure = plot_filter_map(train, sample_idx=2, show_image=False)
    axis = figure.axes[0]
    shown = pixels(axis)
    patching = train.patching
    assert isinstance(patching, StratifiedPatching)
    rows = (patching.all_grid_coords[:, 0] == 0) & (patching.all_grid_coords[:, 1] == 2)
    weights = patching.region_weights[rows].reshape(16, 16)
    excluded = patching.excluded_cells[rows].reshape(16, 16)
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), excluded)
    np.testing.assert_array_equal(shown.data[~excluded], weights[~excluded])
    assert "max filter: max < 350.0 on channel 0" in axis.get_title()
    assert len(figure.axes) == 2  # the map and its colour bar


def test_filter_map_needs_stratified_patching(
    prediction: CareamicsDataset,
) -> None:
    with pytest.raises(ValueError, match="expected a dataset with stratified"):
        plot_filter_map(prediction)


def test_histogram_marks_the_statistics(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    figure = plot_histogram(train, max_pixels=8 * 128 * 128)
    assert titles(figure) == ["nuclei", "puncta"]
    means = train.config.normalization.input_means  # type: ignore[union-attr]
    assert means is not None
    for axis, mean in zip(figure.axes, means, strict=True):
        lines = [
            line
            for line in axis.get_lines()
            if str(line.get_label()).startswith("mean")
        ]
        starts = [float(np.asarray(line.get_xdata())[0]) for line in lines]
        assert starts == [pytest.approx(mean)]
    assert f"from 8 of {TOTAL_CHUNKS} chunks" in figure.get_suptitle()


def test_tile_layout_draws_every_tile_and_crop(prediction: CareamicsDataset) -> None:
    figure = plot_tile_layout(prediction, sample_idx=3, show_image=False)
    (axis,) = figure.axes
    tiles, crops = axis.collections
    per_sample = len(prediction) // SPEC.n_samples
    assert len(tiles.get_paths()) == len(crops.get_paths()) == per_sample == 25
    assert axis.get_title().startswith("25 tiles of 256x256 px, overlap 32x32 px")


def test_tile_layout_needs_tiles(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    with pytest.raises(ValueError, match="expected a dataset with tiled"):
        plot_tile_layout(datasets[0])


def test_images_side_by_side(store: Path) -> None:
    image = cd.open_image(store, axes="")
    figure = plot_images({"a": image, "b": image.isel(Y=slice(0, 100))}, channel=1)
    assert [t.splitlines()[0] for t in titles(figure)] == ["a", "b"]
    assert pixels(figure.axes[1]).shape == (100, 1024)


# --- reading only what is shown ----------------------------------------------


def test_overview_reads_one_plane_once(store: Path) -> None:
    image = cd.open_image(store, axes="")
    with count_region_reads() as reads, dask.config.set(scheduler="sync"):
        overview = read_overview(image, sample=2, channel=1, max_side=200)
    assert reads.count == CHUNKS_PER_PLANE  # of TOTAL_CHUNKS in the store
    assert overview.scale == 6
    assert overview.image.shape == (170, 170)
    expected = np.asarray(image[2, 1, :1020, :1020], np.float32)
    np.testing.assert_allclose(
        overview.image, expected.reshape(170, 6, 170, 6).mean(axis=(1, 3)), rtol=1e-5
    )
    assert overview.label == "sample 2, membranes"


def test_patches_read_only_the_chunks_under_them(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    table = train.patch_table(0)
    chunks = set()
    for row in (0, 7):
        y, x = table.coords[row]
        for cy in range(y // 128, (y + 63) // 128 + 1):
            for cx in range(x // 128, (x + 63) // 128 + 1):
                chunks.add((table.sample_idx[row], cy, cx))
    with count_region_reads() as reads:
        plot_patches(train, indices=[0, 7])
    # the dataset keeps channels 0 and 2 (chunks hold one channel each): each chunk
    # under a patch is read once per kept channel, nothing else
    assert reads.count == 2 * len(chunks)
    assert reads.count < TOTAL_CHUNKS // 10


def test_origins_and_filter_maps_read_one_plane_or_nothing(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, val = datasets
    with count_region_reads() as reads, dask.config.set(scheduler="sync"):
        overview = read_overview(train.inputs.image_stacks[0], sample=1)
    assert reads.count == CHUNKS_PER_PLANE
    with raise_if_dask_computes():
        plot_patch_origins(train, val, data_idx=0, sample_idx=1, overview=overview)
        plot_filter_map(train, sample_idx=1, overview=overview)
        plot_filter_map(train, sample_idx=3, show_image=False)


def test_tile_layout_without_the_image_reads_nothing(
    prediction: CareamicsDataset,
) -> None:
    with raise_if_dask_computes():
        plot_tile_layout(prediction, show_image=False)


def test_histogram_reads_a_bounded_sample(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    with count_region_reads() as reads, dask.config.set(scheduler="sync"):
        figure = plot_histogram(train, max_pixels=10 * 128 * 128)
    assert reads.count == 10
    assert "from 10 of" in figure.get_suptitle()


def test_chunk_sample_covers_every_channel_within_the_budget(store: Path) -> None:
    image = cd.open_image(store, axes="")
    with count_region_reads() as reads, dask.config.set(scheduler="sync"):
        sample = sample_chunks([image], [2, 0], max_pixels=3 * 128 * 128, seed=4)
    assert reads.count == sample.n_chunks == 3
    assert sample.total_chunks == TOTAL_CHUNKS
    assert all(p.size >= 128 * 128 for p in sample.pixels)
    assert sum(p.size for p in sample.pixels) == 3 * 128 * 128


def test_dataset_html_shows_metadata_without_reading(
    datasets: tuple[CareamicsDataset, CareamicsDataset],
) -> None:
    train, _ = datasets
    with raise_if_dask_computes():
        text = train._repr_html_()
    means = train.config.normalization.input_means  # type: ignore[union-attr]
    assert means is not None
    for expected in (
        f"{len(train):,} per epoch",
        "StratifiedPatching (stratified, patch 64x64, seed 5)",
        "S 4 C 3 Y 1024 X 1024",
        "1 &times; 1 &times; 128 &times; 128",
        "nuclei, membranes, puncta",
        f"{means[0]:.4g}",
        "threshold 350.0",
        "XYFlip",
        "xarray",  # the lazy DataArray's own display
    ):
        assert expected in text, expected
