"""``data_type="array"`` keeps Dask arrays and lazy DataArrays lazy (issue 18).

The reference's ``in_memory=True`` for arrays used to compute a Dask array into
NumPy when the dataset was built. Now a Dask array or a loader's lazy ``DataArray``
is read per batch (statistics as Dask reductions), NumPy arrays stay NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask
import dask.array as da
import dask.local
import numpy as np
import tifffile

from careamics_dask.config import DataConfig
from careamics_dask.factory import TrainValData, create_train_dataset
from careamics_dask.loaders import open_image, reader_binding
from careamics_dask.testing import count_region_reads
from careamics_dask.testing.laziness import raise_if_dask_computes

if TYPE_CHECKING:
    from pathlib import Path

    import xarray as xr

IMAGES = np.random.default_rng(5).integers(0, 1000, (3, 48, 40)).astype(np.uint16)


def config(**normalization: Any) -> DataConfig:
    return DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "random", "patch_size": [16, 16]},
        normalization={"name": "mean_std", **normalization},
        batch_size=4,
        seed=11,
    )


def stacks(dataset: Any) -> list[xr.DataArray]:
    return list(dataset.inputs.image_stacks)


def test_dask_array_is_not_computed_when_the_dataset_is_built() -> None:
    lazy = da.from_array(IMAGES, chunks=(1, 24, 20))
    given = config(input_means=[500.0], input_stds=[300.0])
    with raise_if_dask_computes():
        dataset = create_train_dataset(given, TrainValData(lazy, lazy))
    [stack] = stacks(dataset)
    assert isinstance(stack.data, da.Array)
    assert stack.data.chunksize == (1, 1, 24, 20)
    eager = create_train_dataset(
        config(input_means=[500.0], input_stds=[300.0]),
        TrainValData(IMAGES, IMAGES),
    )
    [numpy_stack] = stacks(eager)
    assert isinstance(numpy_stack.data, np.ndarray)  # NumPy stays as it is
    np.testing.assert_array_equal(dataset.batch(0).input, eager.batch(0).input)


def test_statistics_of_a_dask_array_are_reductions_over_its_chunks() -> None:
    lazy = da.from_array(IMAGES, chunks=(1, 24, 20))
    graphs: list[int] = []

    def count(dsk: Any, keys: Any, **kwargs: Any) -> Any:
        graphs.append(1)
        return dask.local.get_sync(dsk, keys, **kwargs)

    lazy_config = config()
    with dask.config.set(scheduler=count):
        dataset = create_train_dataset(lazy_config, TrainValData(lazy, lazy))
    assert graphs  # statistics were computed as Dask graphs ...
    [stack] = stacks(dataset)
    assert isinstance(stack.data, da.Array)  # ... and the pixels stayed lazy
    eager_config = config()
    create_train_dataset(eager_config, TrainValData(IMAGES, IMAGES))
    lazy_means = lazy_config.normalization.input_means  # type: ignore[union-attr]
    eager_means = eager_config.normalization.input_means  # type: ignore[union-attr]
    assert lazy_means is not None
    assert eager_means is not None
    np.testing.assert_allclose(lazy_means, eager_means, rtol=1e-6)


def test_a_loaders_lazy_data_array_keeps_its_file_reader(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, IMAGES)
    image = open_image(path, "SYX")
    given = config(input_means=[500.0], input_stds=[300.0])
    with raise_if_dask_computes():
        dataset = create_train_dataset(given, TrainValData(image, image))
    [stack] = stacks(dataset)
    assert reader_binding(stack) is not None
    assert stack.attrs["source"] == str(path)
    with count_region_reads() as reads:
        batch = dataset.batch(0)
    assert reads.count > 0  # patches are read from the file, per batch
    eager = create_train_dataset(
        config(input_means=[500.0], input_stds=[300.0]),
        TrainValData(IMAGES, IMAGES),
    )
    np.testing.assert_array_equal(batch.input, eager.batch(0).input)
