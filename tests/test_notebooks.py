"""The notebooks run top to bottom at a reduced size, and are committed stripped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
KERNEL = "careamics-dask-tests"
SIZE_GIB = "0.01"
"""A store of 8 x 3 x 512 x 512 uint16 (12 MiB), shared by every notebook."""


def test_every_notebook_is_collected() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} was run"
        assert not {"collapsed", "scrolled", "ExecuteTime"} & set(cell.metadata)
    assert set(notebook.metadata) <= {"kernelspec", "language_info"}


@pytest.fixture(scope="module")
def kernel_environment(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """A kernelspec running this interpreter, and the notebooks' size and places."""
    root = tmp_path_factory.mktemp("notebooks")
    spec = root / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    sys.executable,
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "careamics-dask tests",
                "language": "python",
            }
        )
    )
    return {
        "JUPYTER_PATH": str(root / "jupyter"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "XDG_CACHE_HOME": str(root / "cache"),  # the synthetic store, made once
        "CAREAMICS_DASK_NOTEBOOK_GIB": SIZE_GIB,
        "CAREAMICS_DASK_NOTEBOOK_DIR": str(root / "output"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }


@pytest.mark.distributed
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(
    path: Path,
    kernel_environment: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in kernel_environment.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=240,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    # every notebook draws: at least one PNG came back
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure"
