"""S3 through obstore (``storage_options={"zarr_store": "obstore"}``), on moto.

The same store read through obstore and through s3fs gives the same pixels and
batches; s3fs-style options are translated (credentials, endpoint, region, retries,
timeouts) and those without an obstore counterpart are refused by name; a missing
bucket or refused credentials get the loaders' usual errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zarr

from careamics_dask.config import DataConfig
from careamics_dask.errors import SourceNotFoundError
from careamics_dask.factory import create_dataset
from careamics_dask.loaders import reader_binding
from careamics_dask.loaders._obstore import _translate, wants_obstore
from careamics_dask.loaders.open import open_image

if TYPE_CHECKING:
    from pathlib import Path

    from tests.loaders.test_s3_zarr import S3Server

pytest.importorskip("obstore")
pytest.importorskip("s3fs")

DATA = np.random.default_rng(1820).integers(0, 4000, (3, 64, 48), dtype=np.uint16)


def _obstore(options: dict[str, Any]) -> dict[str, Any]:
    return {**options, "zarr_store": "obstore"}


@pytest.mark.network
def test_obstore_reads_what_s3fs_reads(tmp_path: Path, s3: S3Server) -> None:
    zarr.create_array(
        store=str(tmp_path / "obstore-x.zarr"), data=DATA, chunks=(1, 16, 16)
    )
    url = s3.upload(tmp_path / "obstore-x.zarr")
    stacks = [
        open_image(url, "SYX", storage_options=options)
        for options in (_obstore(s3.options), s3.options)
    ]
    stores = [
        reader_binding(stack).reader.open_zarr_array().store_path.store  # type: ignore[union-attr]
        for stack in stacks
    ]
    assert [type(store).__name__ for store in stores] == ["ObjectStore", "FsspecStore"]
    np.testing.assert_array_equal(stacks[0].values[:, 0], DATA)
    config = DataConfig(
        mode="training", data_type="array", axes="SYX",
        patching={"name": "random", "patch_size": [16, 16]},
        normalization={"name": "mean_std"}, batch_size=4, seed=2,
    )  # fmt: skip
    datasets = [create_dataset(config, stack, None) for stack in stacks]
    for index in range(datasets[0].n_batches()):
        np.testing.assert_array_equal(
            datasets[0].batch(index).input, datasets[1].batch(index).input
        )


@pytest.mark.network
def test_obstore_missing_bucket_and_refused_keys(
    tmp_path: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SourceNotFoundError, match="no-such-bucket"):
        open_image("s3://no-such-bucket/x.zarr", "SYX",
                   storage_options=_obstore(s3.options))  # fmt: skip
    from moto import settings

    zarr.create_array(
        store=str(tmp_path / "obstore-y.zarr"), data=DATA, chunks=(1, 16, 16)
    )
    url = s3.upload(tmp_path / "obstore-y.zarr")
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # check keys
    wrong = _obstore({**s3.options, "key": "wrong"})
    with pytest.raises(SourceNotFoundError, match=r"Access denied") as info:
        open_image(url, "SYX", storage_options=wrong)
    assert url in str(info.value)


def test_s3fs_style_options_are_translated() -> None:
    config, client, retry = _translate(
        "s3://b/x.zarr",
        {
            "zarr_store": "obstore",
            "key": "K", "secret": "S", "token": "T",
            "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000",
                              "region_name": "eu-west-1"},
            "config_kwargs": {"retries": {"max_attempts": 4}, "read_timeout": 2},
        },
    )  # fmt: skip
    assert config == {
        "access_key_id": "K", "secret_access_key": "S", "session_token": "T",
        "endpoint": "http://127.0.0.1:9000", "region": "eu-west-1",
    }  # fmt: skip
    assert client == {"allow_http": True, "timeout": "2.0s"}
    assert retry == {"max_retries": 3}


def test_options_without_a_counterpart_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"profile.*client_kwargs\.verify") as info:
        _translate(
            "s3://b/x.zarr",
            {"zarr_store": "obstore", "profile": "p",
             "client_kwargs": {"verify": False}},
        )  # fmt: skip
    assert "s3fs" in str(info.value)
    with pytest.raises(ValueError, match="s3://"):
        wants_obstore({"zarr_store": "obstore"}, "gs://b/x.zarr")
    with pytest.raises(ValueError, match="'fsspec' or 'obstore'"):
        wants_obstore({"zarr_store": "rust"}, "s3://b/x.zarr")
