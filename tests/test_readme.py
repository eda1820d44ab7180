"""The README cannot drift: every module it names imports, its commands exist."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text()


@pytest.mark.parametrize(
    "module", sorted(set(re.findall(r"`(careamics_dask(?:\.[a-z_]+)*)`", TEXT)))
)
def test_named_modules_import(module: str) -> None:
    importlib.import_module(module)


def test_test_command_is_what_ci_runs() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    command = 'pip install -e ".[test]" && pytest'
    assert command in TEXT
    assert f"\n{command}\n" in ci


def test_cli_entry_point_help() -> None:
    script = Path(sys.executable).parent / "careamics-dask"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    for command in re.findall(r"careamics-dask (\w+)", TEXT):
        assert command in result.stdout
