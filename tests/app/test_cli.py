from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaml
import zarr
from typer.testing import CliRunner

from careamics_dask.app.cli import app
from careamics_dask.app.demo import write_demo_data
from tests.app.configs import CONFIG

if TYPE_CHECKING:
    from pathlib import Path

runner = CliRunner()


@pytest.mark.parametrize(
    ("kind", "axes", "expected_shape", "channels"),
    [
        ("zarr", "SCYX", [3, 2, 64, 64], ["0", "1"]),
        ("ome-zarr", "", [3, 2, 64, 64], ["channel_0", "channel_1"]),
        ("tiff", "CYX", [1, 2, 64, 64], ["0", "1"]),
    ],
)
def test_demo_data_then_inspect(
    tmp_path: Path, kind: str, axes: str, expected_shape: list[int], channels: list[str]
) -> None:
    out = tmp_path / ("demo.zarr" if "zarr" in kind else "demo")
    result = runner.invoke(
        app, ["demo-data", str(out), "--kind", kind, "--samples", "3", "--size", "64"]
    )
    assert result.exit_code == 0, result.output
    assert "careamics-dask inspect" in result.output
    args = ["inspect", str(out), "--json"] + (["--axes", axes] if axes else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summaries = json.loads(result.output)
    assert len(summaries) == (3 if kind == "tiff" else 1)
    first = summaries[0]
    assert first["shape"] == expected_shape
    assert first["dtype"] == "uint16"
    assert first["channels"] == channels
    assert first["chunks"] is not None  # lazy
    files = [p for p in out.rglob("*") if p.is_file()]
    if kind == "tiff":
        assert first["disk_bytes"] == (out / "sample_000.tif").stat().st_size
    else:  # the array's own folder: chunks and metadata, not the group's
        assert 0 < first["disk_bytes"] < sum(p.stat().st_size for p in files)
    table = runner.invoke(app, args[:-1] if not axes else [*args[:2], "--axes", axes])
    assert table.exit_code == 0
    assert "image stack(s)" in table.output
    assert "on disk" in table.output


def test_inspect_reports_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["inspect", str(tmp_path / "missing.zarr"), "--axes", "YX"]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_demo_data_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    result = runner.invoke(app, ["demo-data", str(tmp_path / "taken")])
    assert result.exit_code == 2
    assert "exists already" in result.output


def run_file(tmp_path: Path, **fields: Any) -> Path:
    write_demo_data(
        tmp_path / "data.zarr", n_samples=2, spatial=(48, 48), chunks=(16, 16)
    )
    content = {
        "data": {"inputs": "data.zarr", "targets": "data.zarr"},
        "config": CONFIG,
        **fields,
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_batches_local(tmp_path: Path) -> None:
    path = run_file(tmp_path, batches=4, cluster={"local": True})
    result = runner.invoke(app, ["batches", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert "cluster: none" in result.output
    assert "throughput:" in result.output
    assert "patches/s" in result.output
    assert "batches/s" in result.output
    assert "MiB/s" in result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["batches"] == 4
    assert report["patches"] == 16
    assert report["path"].startswith("local threads: ")
    assert f"path: {report['path']}" in result.output
    # inputs and targets: 2 x 16 patches x 2 channels x 16 x 16 float32
    assert report["nbytes"] == 2 * 16 * 2 * 16 * 16 * 4


def test_batches_beyond_one_epoch(tmp_path: Path) -> None:
    path = run_file(tmp_path)  # 18 patches: 5 batches per epoch
    result = runner.invoke(app, ["batches", str(path), "--local", "--batches", "12"])
    assert result.exit_code == 0, result.output
    assert "streaming 12 batches" in result.output


@pytest.mark.distributed
def test_batches_on_an_embedded_cluster(tmp_path: Path) -> None:
    path = run_file(tmp_path, cluster={"n_workers": 1}, dataset="train", prefetch=2)
    result = runner.invoke(app, ["batches", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert "1 worker(s)" in result.output
    assert "dashboard: http://127.0.0.1:" in result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["batches"] == 5  # one epoch
    assert report["patches"] == 18
    # one worker on loopback: its batches come through /dev/shm
    assert report["path"].startswith("distributed: 1 workers, 1 threads, ")
    assert report["path"].endswith("results through shared memory")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"batches": -1}, "field 'batches'"),
        ({"cluster": {"workers": 2}}, "field 'cluster.workers'"),
    ],
)
def test_bad_run_files_exit_2_with_one_line(
    tmp_path: Path, fields: dict[str, Any], expected: str
) -> None:
    path = run_file(tmp_path, **fields)
    for command in (["batches", str(path)], ["export", str(path), "o.zarr"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("error: Run file")
        assert expected in lines[0]


def test_export_then_reopen(tmp_path: Path) -> None:
    from careamics_dask.app.run_datasets import build_datasets
    from careamics_dask.app.runfile import load_run_file

    path = run_file(tmp_path, cluster={"local": True})
    out = tmp_path / "epoch.zarr"
    result = runner.invoke(app, ["export", str(path), str(out), "--epoch", "1"])
    assert result.exit_code == 0, result.output
    assert "patches and targets" in result.output
    dataset = build_datasets(load_run_file(path))["train"]

    def read(name: str) -> Any:
        return zarr.open_array(out / name, mode="r")[...]

    np.testing.assert_array_equal(read("input"), dataset.to_dask(1).compute())
    np.testing.assert_array_equal(
        read("target"), dataset.to_dask(1, target=True).compute()
    )
    np.testing.assert_array_equal(read("patches/coords"), dataset.patch_table(1).coords)
    again = runner.invoke(app, ["export", str(path), str(out)])
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    replaced = runner.invoke(app, ["export", str(path), str(out), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    written: Any = zarr.open_group(out, mode="r").attrs["careamics-dask-export"]
    assert written["epoch"] == 0


@pytest.mark.distributed
def test_demo_quick_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    args = ["demo", "--quick", "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(app, [*args, "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "demo store: wrote" in result.output
    assert "throughput (1 workers):" in result.output
    assert "patches/s" in result.output
    assert "dashboard: http://127.0.0.1:" in result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1600, 1000)
    assert (tmp_path / "cache" / "demo-quick.ome.zarr").is_dir()


def test_version_prints_the_package_version() -> None:
    from careamics_dask.runtime import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"careamics-dask {__version__}"
