from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import yaml

from careamics_dask.app.runfile import RunCluster, RunFileError, load_run_file
from careamics_dask.config import save_config
from tests.app.configs import CONFIG

if TYPE_CHECKING:
    from pathlib import Path


def write(folder: Path, content: Any, name: str = "run.yaml") -> Path:
    path = folder / name
    path.write_text(
        yaml.safe_dump(content) if not isinstance(content, str) else content
    )
    return path


def test_inline_config_and_relative_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "data": {"inputs": "data.zarr", "targets": ["t1.zarr", "/abs/t2.zarr"]},
            "config": CONFIG,
            "cluster": {"n_workers": 1},
            "batches": 5,
            "prefetch": 2,
        },
    )
    run = load_run_file(path)
    assert run.data.inputs == str(tmp_path.resolve() / "data.zarr")
    assert run.data.targets == [str(tmp_path.resolve() / "t1.zarr"), "/abs/t2.zarr"]
    assert run.config.patching.name == "stratified"
    assert (run.batches, run.epochs, run.prefetch) == (5, 1, 2)
    assert run.cluster.n_workers == 1
    assert run.cluster.address is None
    assert not run.cluster.local


def test_config_from_a_file_and_uris_kept(tmp_path: Path) -> None:
    from careamics_dask.config import DataConfig

    (tmp_path / "configs").mkdir()
    save_config(DataConfig(**CONFIG), tmp_path / "configs" / "data.yml")
    path = write(
        tmp_path,
        {
            "data": {"inputs": "https://example.org/a.zarr"},
            "config": "configs/data.yml",
            "cluster": {"address": "tcp://127.0.0.1:8786"},
        },
    )
    run = load_run_file(path)
    assert run.data.inputs == "https://example.org/a.zarr"
    assert run.config == DataConfig(**CONFIG)
    assert run.cluster.address == "tcp://127.0.0.1:8786"


RANDOM = {**CONFIG, "patching": {"name": "random", "patch_size": [16, 16]}}
NO_NORMALIZATION = {k: v for k, v in CONFIG.items() if k != "normalization"}


@pytest.mark.parametrize(
    ("content", "field", "hint"),
    [
        ({"config": CONFIG}, "'data'", "add `data: {inputs: images.zarr}`"),
        ({"data": {"inputs": "a"}}, "'config'", "add `config: data_config.yml`"),
        (
            {"data": {"inputs": "a", "n_val_patches": 4}, "config": RANDOM},
            "'data.n_val_patches'",
            "set the config's patching name to 'stratified'",
        ),
        (
            {"data": {"inputs": "a"}, "config": NO_NORMALIZATION},
            "'config.normalization'",
            "Field required; add it to the run file.",
        ),
        (
            {"data": {"inputs": "a"}, "config": CONFIG, "batches": 0},
            "'batches'",
            "use a larger value",
        ),
        (
            {"data": {"inputs": "a"}, "config": CONFIG, "batchs": 3},
            "'batchs'",
            "remove it or check its spelling",
        ),
        (
            {"data": {"inputs": "a"}, "config": {**CONFIG, "axes": "QYX"}},
            "'config.axes'",
            "",
        ),
        (
            {"data": {"inputs": "a"}, "config": "missing.yml"},
            "'config'",
            "no config file at",
        ),
        (
            {
                "data": {"inputs": "a", "val_inputs": "b", "n_val_patches": 2},
                "config": CONFIG,
            },
            "'data'",
            "either val_inputs or n_val_patches",
        ),
        (
            {
                "data": {"inputs": "a"},
                "config": CONFIG,
                "cluster": {"address": "tcp://x:1", "n_workers": 2},
            },
            "'cluster'",
            "size an embedded cluster",
        ),
        (
            {"data": {"inputs": "a"}, "config": CONFIG, "dataset": "test"},
            "'dataset'",
            "one of the listed values",
        ),
    ],
)
def test_invalid_run_files_name_the_field_and_the_fix(
    tmp_path: Path, content: dict[str, Any], field: str, hint: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(RunFileError) as info:
        load_run_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"field {field}" in message
    assert hint in message
    assert info.value.path == str(path)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: [unclosed", "is not valid YAML at line"),
        ("- a\n- b\n", "must hold a mapping"),
    ],
)
def test_unreadable_run_files(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(RunFileError, match=expected):
        load_run_file(write(tmp_path, text))


def test_missing_run_file(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match="No run file at"):
        load_run_file(tmp_path / "nope.yaml")


def test_local_cluster_connects_to_nothing() -> None:
    assert RunCluster(local=True).connect() is None
    with pytest.raises(ValueError, match="remove the address"):
        RunCluster(local=True, address="tcp://127.0.0.1:1")


def test_load_with_a_subclass(tmp_path: Path) -> None:
    from careamics_dask.app.runfile import RunFile

    class ModelRun(RunFile):
        model: str

    content = {"data": {"inputs": "a.zarr"}, "config": CONFIG, "model": "m:f"}
    run = load_run_file(write(tmp_path, content), ModelRun)
    assert isinstance(run, ModelRun)
    assert run.model == "m:f"
    with pytest.raises(RunFileError, match="field 'model'"):
        load_run_file(write(tmp_path, {**content, "model": None}), ModelRun)
    # the base model ignores the fields of predict: one file serves both verbs
    assert not hasattr(load_run_file(write(tmp_path, content)), "model")
