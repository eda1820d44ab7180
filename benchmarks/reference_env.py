"""The reference environment (``.venv-ref``: CAREamics 0.3.5), created when missing.

The recipe is the one of ``benchmarks/README.md`` ("The reference environment"):
the CPU wheel of torch first, careamics without dependencies, its other
requirements under a torch constraint, torchvision without dependencies (with two
fake-kernel registrations guarded so that it imports without its compiled ops),
then the tools the benchmarks use and an editable careamics_dask.

    .venv/bin/python -m benchmarks env          # check, create when missing
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSION = "0.3.5"
TORCH = "torch==2.13.0"
REQUIREMENTS = [
    "bioimageio-core<=0.11.0,>=0.9.0",
    "lightning!=2.6.2,!=2.6.3,<=2.6.6,>=2.2",
    "matplotlib<=3.11.2",
    "microssim<=0.0.5",
    "numpy<=2.4.6,>=1.21",
    "pillow<=13.0.0",
    "psutil<=7.2.2",
    "pydantic<=2.14.1,>=2.11",
    "pyyaml!=6.0.0,<=6.0.3",
    "scikit-image<=0.26.0",
    "tifffile<=2026.3.3",
    "torchmetrics<1.9.0,>0.7.0",
    "zarr<4.0.0,>=3.0.0",
]
TOOLS = [
    "dask",
    "distributed",
    "xarray",
    "zarr",
    "tifffile",
    "imagecodecs",
    "pydantic",
    "pyyaml",
    "typer",
    "rich",
    "pytest",
    "pytest-timeout",
    "hypothesis",
]
GUARDED = ("torchvision::nms", "torchvision::qnms")


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def works(python: Path) -> bool:
    """Whether ``python`` imports careamics at the reference version."""
    if not python.exists():
        return False
    done = subprocess.run(
        [str(python), "-c", "import careamics; print(careamics.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and done.stdout.strip().endswith(VERSION)


def guard_torchvision(python: Path) -> None:
    """Guard torchvision's two unguarded fake-kernel registrations (nms, qnms)."""
    done = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u; "
            "print(u.find_spec('torchvision').submodule_search_locations[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    path = Path(done.stdout.strip()) / "_meta_registrations.py"
    text = path.read_text()
    for op in GUARDED:
        plain = f'@torch.library.register_fake("{op}")\n'
        guarded = (
            f'@(torch.library.register_fake("{op}") '
            "if torchvision.extension._has_ops() else (lambda f: f))\n"
        )
        text = text.replace(plain, guarded)
    path.write_text(text)


def create(venv: Path) -> None:
    """Build the environment by the recipe (about two minutes with a warm cache)."""

    def pip(*args: str) -> None:
        print("  pip install " + " ".join(args), flush=True)
        subprocess.run(
            [str(python_of(venv)), "-m", "pip", "install", "-q", *args], check=True
        )

    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(TORCH + "\n")
    constraints = handle.name
    pip(TORCH)
    pip("--no-deps", f"careamics=={VERSION}")
    pip("-c", constraints, *REQUIREMENTS)
    pip("--no-deps", "torchvision==0.28.0")
    pip("-c", constraints, *TOOLS)
    pip("--no-deps", "-e", str(REPO))
    guard_torchvision(python_of(venv))


def ensure(venv: Path | None = None) -> Path | None:
    """Return the reference environment's python, creating it when missing.

    Returns ``None`` (after saying why) when it cannot be created; the benchmarks
    then run without the reference.
    """
    venv = venv or REPO / ".venv-ref"
    python = python_of(venv)
    if works(python):
        return python
    if python.exists():
        print(
            f"the reference environment {venv} exists but does not import careamics "
            f"{VERSION}; delete it to have it rebuilt. Running without the reference.",
            flush=True,
        )
        return None
    print(f"creating the reference environment {venv} (careamics {VERSION})")
    try:
        create(venv)
    except (subprocess.CalledProcessError, OSError) as error:
        print(
            f"could not create the reference environment {venv}: {error}. Running "
            "without the reference; see benchmarks/README.md for the recipe.",
            flush=True,
        )
        return None
    if works(python):
        return python
    print(
        f"{venv} was built but does not import careamics {VERSION}; running without "
        "the reference (see benchmarks/README.md).",
        flush=True,
    )
    return None


if __name__ == "__main__":
    found = ensure()
    print(found or "no reference environment")
