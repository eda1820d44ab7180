from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaml

from careamics_dask.app.predict_run import (
    import_object,
    load_prediction_run,
    run_prediction,
)
from careamics_dask.app.runfile import RunFileError
from careamics_dask.config import DataConfig, save_config
from tests.predict.helpers import affine, read_output, write_zarr

if TYPE_CHECKING:
    from pathlib import Path

DATA = np.random.default_rng(2).integers(0, 500, (2, 40, 36)).astype(np.uint16)


def write_run(folder: Path, **changes: Any) -> Path:
    write_zarr(folder / "in.zarr", DATA, (1, 16, 16))
    config = DataConfig(
        mode="predicting",
        data_type="zarr",
        axes="SYX",
        patching={"name": "tiled", "patch_size": [16, 16], "overlaps": [4, 4]},
        normalization={"name": "none"},
        batch_size=4,
    )
    save_config(config, folder / "config.yml")
    run = {
        "data": {"inputs": "in.zarr"},
        "config": "config.yml",
        "model": "tests.predict.helpers:affine",
        "cluster": {"local": True},
        **changes,
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    return path


def test_run_file_relative_to_its_folder(tmp_path: Path) -> None:
    run = write_run(tmp_path, chunks=[8, 8])
    summary = run_prediction(run, tmp_path / "out.zarr", progress=False)
    assert summary.n_predicted == summary.n_tiles > 0
    np.testing.assert_allclose(
        read_output(tmp_path / "out.zarr"), affine(DATA.astype(np.float32))
    )


def test_run_file_with_a_model_factory_and_inline_config(tmp_path: Path) -> None:
    run = write_run(
        tmp_path, model="tests.predict.helpers:CountingModel", model_kwargs={}
    )
    content = yaml.safe_load(run.read_text())
    content["config"] = yaml.safe_load((tmp_path / "config.yml").read_text())
    run.write_text(yaml.safe_dump(content))
    run_prediction(run, tmp_path / "out.zarr", progress=False)
    np.testing.assert_array_equal(read_output(tmp_path / "out.zarr"), DATA)


def test_run_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RunFileError, match="No run file"):
        run_prediction(tmp_path / "missing.yaml", tmp_path / "o.zarr")
    run = write_run(tmp_path, model="tests.predict.helpers:nothing_here")
    with pytest.raises(ValueError, match="Cannot import the model"):
        run_prediction(run, tmp_path / "o.zarr", progress=False)
    run = write_run(tmp_path, modle="typo")
    with pytest.raises(RunFileError, match="field 'modle'"):
        load_prediction_run(run)
    run = write_run(tmp_path, batches=3, epochs=2, dataset="val")  # ignored
    assert load_prediction_run(run).batches == 3
    content = yaml.safe_load(run.read_text())
    del content["model"]
    run.write_text(yaml.safe_dump(content))
    with pytest.raises(RunFileError, match=r"field 'model'.*model: numpy:negative"):
        load_prediction_run(run)
    run.write_text("- a list\n")
    with pytest.raises(RunFileError, match="must hold a mapping"):
        load_prediction_run(run)
    run.write_text("data: [unclosed\n")
    with pytest.raises(RunFileError, match="not valid YAML"):
        load_prediction_run(run)


def test_import_object() -> None:
    assert import_object("numpy:linalg.norm") is np.linalg.norm
    with pytest.raises(ValueError, match="Cannot import"):
        import_object("no_such_module_anywhere:x")


def test_predict_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from careamics_dask.app.cli import app

    run = write_run(tmp_path)
    result = CliRunner().invoke(
        app, ["predict", str(run), str(tmp_path / "p.zarr"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.zarr").exists()
    again = CliRunner().invoke(
        app, ["predict", str(run), str(tmp_path / "p.zarr"), "--no-progress"]
    )
    assert again.exit_code == 2
    message = " ".join(again.output.split())
    assert "p.zarr" in message  # the source
    assert "exists already" in message  # the rule
    assert "`overwrite: true`" in message  # the fix, as a run-file key
    assert "overwrite=True" not in message
    replaced = CliRunner().invoke(
        app,
        ["predict", str(run), str(tmp_path / "p.zarr"), "--no-progress", "--overwrite"],
    )
    assert replaced.exit_code == 0, replaced.output
