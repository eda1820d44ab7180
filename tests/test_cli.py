from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from careamics_dask.cli import app

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
def test_demo_then_inspect(
    tmp_path: Path, kind: str, axes: str, expected_shape: list[int], channels: list[str]
) -> None:
    out = tmp_path / ("demo.zarr" if "zarr" in kind else "demo")
    result = runner.invoke(
        app, ["demo", str(out), "--kind", kind, "--samples", "3", "--size", "64"]
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
    table = runner.invoke(app, args[:-1] if not axes else [*args[:2], "--axes", axes])
    assert table.exit_code == 0
    assert "image stack(s)" in table.output


def test_inspect_reports_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["inspect", str(tmp_path / "missing.zarr"), "--axes", "YX"]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_demo_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    result = runner.invoke(app, ["demo", str(tmp_path / "taken")])
    assert result.exit_code == 2
    assert "exists already" in result.output
