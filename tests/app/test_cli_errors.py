"""The command line as a newcomer meets it: one error line everywhere, 80 columns.

Each command runs through the installed entry point in a subprocess, so what is
checked is what a terminal shows: stdout, stderr (where distributed's worker logs
would land) and the exit code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
import zarr
from pydantic import ValidationError

from careamics_dask.app.demo import write_demo_data
from careamics_dask.app.predict_run import PredictionRunFile
from careamics_dask.app.runfile import RunFile
from careamics_dask.config import DataConfig
from tests.app.configs import CONFIG

ROOT = Path(__file__).resolve().parents[2]


def cli(
    folder: Path, *args: str, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    """Run ``careamics-dask ARGS`` in ``folder`` as a user would."""
    script = Path(sys.executable).parent / "careamics-dask"
    command = (
        [str(script)] if script.is_file() else [sys.executable, "-m", "careamics_dask"]
    )
    env = dict(os.environ, COLUMNS=str(columns), TERM="dumb")
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    return subprocess.run(
        [*command, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert exit 2 and exactly one ``error:`` line on stderr; return it."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for noise in ("Traceback", "Compute Failed", "distributed.", "CancelledError"):
        assert noise not in result.stdout + result.stderr
    return lines[0]


def write_run(folder: Path, cluster: dict[str, Any], **fields: Any) -> Path:
    path = folder / "run.yaml"
    content = {"data": {"inputs": "data.zarr"}, "config": CONFIG, "cluster": cluster}
    path.write_text(yaml.safe_dump({**content, **fields}))
    return path


@pytest.fixture
def corrupt(tmp_path: Path) -> Path:
    """A demo store with one chunk (sample 1, channel 0, Y/X chunk 1, 1) broken."""
    write_demo_data(
        tmp_path / "data.zarr", n_samples=2, spatial=(48, 48), chunks=(16, 16)
    )
    chunk = tmp_path / "data.zarr" / "images" / "c" / "1" / "0" / "1" / "1"
    assert chunk.is_file()
    chunk.write_bytes(b"not a zstd frame")
    return tmp_path


@pytest.mark.distributed
@pytest.mark.parametrize(
    ("normalization", "stage"),
    [("mean_std", "statistics"), ("none", "batches")],
)
def test_a_corrupt_chunk_prints_the_same_line_locally_and_on_a_cluster(
    corrupt: Path, normalization: str, stage: str
) -> None:
    config = {**CONFIG, "normalization": {"name": normalization}}
    lines = {}
    for name, cluster in (("local", {"local": True}), ("cluster", {"n_workers": 1})):
        write_run(corrupt, cluster, config=config, batches=5)
        result = cli(corrupt, "batches", "run.yaml")
        lines[name] = one_error_line(result)
        if name == "cluster":
            assert "dashboard: http://127.0.0.1:" in result.stdout  # it did start
    assert lines["local"] == lines["cluster"], stage
    line = lines["local"]
    assert str(corrupt / "data.zarr") in line  # the source
    assert "array 'images'" in line
    # statistics read the broken chunk alone, a batch the box of its patches
    assert ("region [1:2, 0:1, 16:32, 16:32]" in line) == (stage == "statistics")
    assert re.search(r"region \[1:2, 0:\d, \d+:\d+, \d+:\d+\]", line)
    assert "regenerate it" in line  # the fix


@pytest.mark.distributed
def test_a_validation_split_with_random_patching_is_refused_before_any_cluster(
    tmp_path: Path,
) -> None:
    write_demo_data(
        tmp_path / "data.zarr", n_samples=2, spatial=(48, 48), chunks=(16, 16)
    )
    config = {**CONFIG, "patching": {"name": "random", "patch_size": [16, 16]}}
    write_run(
        tmp_path,
        {"n_workers": 1},
        config=config,
        data={"inputs": "data.zarr", "n_val_patches": 4},
    )
    for command in (["batches", "run.yaml"], ["export", "run.yaml", "out.zarr"]):
        result = cli(tmp_path, *command)
        line = one_error_line(result)
        assert "field 'data.n_val_patches'" in line
        assert "stratified patching, got 'random'" in line
        assert "set the config's patching name to 'stratified'" in line
        assert result.stdout == ""  # no "cluster: ...", no "dashboard: ..." line
    assert not (tmp_path / "out.zarr").exists()


def test_inspect_of_a_plain_zarr_without_axes_shows_the_shape_and_the_fix(
    tmp_path: Path,
) -> None:
    group = zarr.open_group(tmp_path / "plain.zarr", mode="w")
    group.create_array("raw", data=np.zeros((3, 64, 64), "uint16"), chunks=(1, 32, 32))
    line = one_error_line(cli(tmp_path, "inspect", "plain.zarr"))
    assert "'plain.zarr' has no axes metadata" in line
    assert "array 'raw' has shape (3, 64, 64)" in line
    assert "pass --axes, e.g. --axes SYX" in line
    fixed = cli(tmp_path, "inspect", "plain.zarr", "--axes", "SYX", "--json")
    assert fixed.returncode == 0, fixed.stderr
    write_demo_data(tmp_path / "cells.zarr", "ome-zarr", n_samples=1, spatial=(32, 32))
    second = one_error_line(cli(tmp_path, "inspect", "cells.zarr", "plain.zarr"))
    assert "'plain.zarr' has no axes metadata" in second  # not the OME-Zarr one


def test_a_config_missing_normalization_reports_one_problem(tmp_path: Path) -> None:
    fields = {k: v for k, v in CONFIG.items() if k != "normalization"}
    with pytest.raises(ValidationError) as caught:
        DataConfig(**fields)
    assert caught.value.error_count() == 1
    assert "normalization" in str(caught.value)
    assert "default_factory" not in str(caught.value)
    with pytest.raises(ValidationError) as two:
        DataConfig(**{**fields, "axes": "SCYQ"})
    assert [e["loc"] for e in two.value.errors()] == [("axes",), ("normalization",)]
    write_demo_data(tmp_path / "data.zarr", n_samples=1, spatial=(32, 32))
    write_run(tmp_path, {"local": True}, config=fields)
    line = one_error_line(cli(tmp_path, "batches", "run.yaml"))
    assert "field 'config.normalization': Field required; add it" in line
    assert "more)" not in line  # no follow-up errors counted


def test_inspect_fits_80_columns_without_cutting_paths(tmp_path: Path) -> None:
    deep = tmp_path / "a-folder-with-a-long-name" / "and-another-long-one-below-it"
    deep.mkdir(parents=True)
    write_demo_data(deep / "cells.zarr", "ome-zarr", n_samples=2, spatial=(32, 32))
    write_demo_data(tmp_path / "data.zarr", n_samples=1, spatial=(32, 32))
    result = cli(
        tmp_path,
        "inspect",
        *(str(deep / "cells.zarr"), "data.zarr", "--axes", "SCYX"),
        columns=80,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    joined = "".join(line.strip() for line in lines)
    assert f"{deep}/cells.zarr/0" in joined  # wrapped, not cut
    assert "channel_0, channel_1" in result.stdout
    assert "pixel sizes  Y=0.1, X=0.1 micrometer" in result.stdout


def test_help_at_80_columns_shows_defaults_and_predicts_fields(tmp_path: Path) -> None:
    demo = cli(tmp_path, "demo", "--help", columns=80)
    assert demo.returncode == 0, demo.stderr
    text = " ".join(demo.stdout.replace("│", " ").split())
    assert "Workers of the embedded cluster. [default: (one per core, at most 4)]" in (
        text
    )
    assert "[default: ($XDG_CACHE_HOME/careamics-dask)]" in text
    assert "Under 2 minutes on 2 cores" in text
    predict = cli(tmp_path, "predict", "--help", columns=80)
    assert predict.returncode == 0, predict.stderr
    assert max(len(line) for line in predict.stdout.splitlines()) <= 80
    own = set(PredictionRunFile.model_fields) - set(RunFile.model_fields)
    assert own == {
        "model", "model_kwargs", "device", "run_on", "resources", "chunks",
        "overwrite", "resume",
    }  # fmt: skip
    listed = {
        line.split(":")[0].strip()
        for line in predict.stdout.splitlines()
        if line.startswith("   ") and ":" in line and "│" not in line
    }
    assert own <= listed, own - listed
    # the field lines are not re-wrapped at 80 columns (each stays whole)
    assert "a callable or torch module, module:attribute\n" in (
        "\n".join(line.rstrip() for line in predict.stdout.splitlines()) + "\n"
    )
