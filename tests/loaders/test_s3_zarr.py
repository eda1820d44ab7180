"""Zarr stores on a real S3-compatible server (moto's server mode on 127.0.0.1).

The stores are written locally, uploaded with s3fs and read through the same code
users run: ``s3://bucket/x.zarr`` with ``storage_options`` for the endpoint and the
credentials. Every result is compared with the local copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

from careamics_dask import predict_to_zarr
from careamics_dask.config import DataConfig
from careamics_dask.errors import SourceNotFoundError
from careamics_dask.factory import TrainValData, create_train_dataset
from careamics_dask.loaders import clear_handle_cache
from careamics_dask.loaders.open import open_image
from tests.loaders.test_ome import write_ome_image
from tests.predict.helpers import identity, pred_dataset

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

RNG = np.random.default_rng(18)
BUCKET = "bucket"


class S3Server:
    """A moto S3 server on 127.0.0.1 with one bucket, and the options to reach it."""

    def __init__(self) -> None:
        self.server = moto_server.ThreadedMotoServer(
            ip_address="127.0.0.1", port=0, verbose=False
        )
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.options: dict[str, Any] = {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {
                "endpoint_url": self.endpoint,
                "region_name": "us-east-1",
            },
        }
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)

    def upload(self, local: Path) -> str:
        """Copy a local store into the bucket; return its ``s3://`` URL."""
        import s3fs

        fs = s3fs.S3FileSystem(**self.options)
        fs.put(str(local), f"{BUCKET}/{local.name}", recursive=True)
        return f"s3://{BUCKET}/{local.name}"

    def stop(self) -> None:
        self.server.stop()


def _store(path: Path) -> np.ndarray:
    data = RNG.integers(0, 4000, (3, 40, 36)).astype(np.uint16)
    root = zarr.open_group(path, mode="w", zarr_format=3)
    root.create_array("a", shape=data.shape, dtype=data.dtype, chunks=(1, 16, 16))[
        ...
    ] = data
    return data


def _train_config() -> DataConfig:
    return DataConfig(
        mode="training",
        data_type="array",
        axes="SYX",
        patching={"name": "stratified", "patch_size": [16, 16]},
        normalization={"name": "mean_std"},
        batch_size=4,
        seed=7,
    )


@pytest.mark.network
def test_s3_store_opens_reads_and_batches_like_the_local_copy(
    tmp_path: Path, s3: S3Server
) -> None:
    data = _store(tmp_path / "x.zarr")
    url = s3.upload(tmp_path / "x.zarr")
    remote = open_image(f"{url}/a", "SYX", storage_options=s3.options)
    local = open_image(tmp_path / "x.zarr" / "a", "SYX")
    assert remote.shape == local.shape
    clear_handle_cache()  # the read reopens the store from the reader's description
    np.testing.assert_array_equal(remote.values[:, 0], data)

    configs = [_train_config(), _train_config()]
    datasets = [
        create_train_dataset(cfg, TrainValData(stack, None))
        for cfg, stack in zip(configs, (remote, local), strict=True)
    ]
    assert configs[0].normalization == configs[1].normalization  # statistics
    assert datasets[0].n_batches() == datasets[1].n_batches()
    for index in range(datasets[0].n_batches()):
        np.testing.assert_array_equal(
            datasets[0].batch(index).input, datasets[1].batch(index).input
        )


@pytest.mark.network
def test_tiled_prediction_reads_s3_and_writes_locally(
    tmp_path: Path, s3: S3Server
) -> None:
    data = RNG.integers(0, 255, (2, 20, 18)).astype(np.uint8)
    root = zarr.open_group(tmp_path / "img.ome.zarr", mode="w", zarr_format=3)
    write_ome_image(root, data, "cyx", version="0.5", scale=[1, 0.5, 0.5])
    url = s3.upload(tmp_path / "img.ome.zarr")
    stack = open_image(url, "", storage_options=s3.options)
    assert stack.attrs["pixel_sizes"] == {"Y": 0.5, "X": 0.5}
    dataset = pred_dataset(stack, "SCYX", patch=[16, 16], overlaps=[4, 4])
    predict_to_zarr(dataset, identity, tmp_path / "pred.zarr")
    out = open_image(tmp_path / "pred.zarr", "")
    np.testing.assert_array_equal(out.values[0], data.astype(np.float32))


@pytest.mark.network
def test_missing_bucket_names_the_url_and_the_fix(s3: S3Server) -> None:
    url = "s3://no-such-bucket/x.zarr/a"
    with pytest.raises(SourceNotFoundError, match="'no-such-bucket'") as info:
        open_image(url, "SYX", storage_options=s3.options)
    assert url in str(info.value)
    assert "endpoint_url" in str(info.value)


@pytest.mark.network
def test_wrong_key_names_the_url_and_the_option(
    tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import settings

    _store(tmp_path / "x.zarr")
    url = s3.upload(tmp_path / "x.zarr")
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # check keys
    wrong = {**s3.options, "key": "wrong"}
    with pytest.raises(SourceNotFoundError, match="Access denied") as info:
        open_image(f"{url}/a", "SYX", storage_options=wrong)
    assert f"{url}/a" in str(info.value)
    assert "storage_options" in str(info.value)
    assert "'key'" in str(info.value)
