#!/usr/bin/env bash
# Test the bioimage loader against aicsimageio 4.14 in a separate virtualenv.
#
# aicsimageio 4.14.0 pins zarr<2.16, tifffile<2023.3.15, fsspec<2023.9 and lxml<5,
# so it cannot share an environment with careamics_dask's zarr>=3. This script
# builds its own venv ($VENV_DIR, default .venv-aicsimageio, ignored by git),
# installs aicsimageio with the pins that make it install and import on Python
# 3.11, installs careamics_dask from this checkout WITHOUT its dependencies (so
# zarr 2 stays), adds the core dependencies that fit beside it, and runs
# tests/loaders/test_aicsimageio_env.py. Re-running reuses the venv.
#
# Pins, and why:
#   numpy 1.26.4       aicsimageio's tifffile 2023.2.28 and zarr 2.15 predate numpy 2
#   zarr 2.15.0        the newest zarr aicsimageio 4.14 accepts
#   numcodecs 0.15.1   zarr 2.15 imports numcodecs.blosc.cbuffer_sizes (gone in 0.16)
#   tifffile 2023.2.28 the newest tifffile aicsimageio 4.14 accepts
#   fsspec 2023.6.0, lxml 4.9.4  the newest within aicsimageio's caps
#   ome-types 0.7.0    warns about an argument aicsimageio passes; the test filters it
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3.11}"
VENV_DIR="${VENV_DIR:-.venv-aicsimageio}"
start=$(date +%s)

if [ ! -x "$VENV_DIR/bin/python" ]; then
    "$PYTHON" -m venv "$VENV_DIR"
fi
PY="$VENV_DIR/bin/python"
"$PY" -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version'

"$PY" -m pip install -q --disable-pip-version-check \
    "aicsimageio==4.14.0" \
    "numpy==1.26.4" \
    "zarr==2.15.0" \
    "numcodecs==0.15.1" \
    "tifffile==2023.2.28" \
    "fsspec==2023.6.0" \
    "lxml==4.9.4" \
    "ome-types==0.7.0" \
    "ome-zarr==0.11.1" \
    "imagecodecs==2026.1.14" \
    "dask[array]==2026.8.0" \
    "distributed==2026.8.0" \
    "xarray==2026.9.0" \
    "pandas==3.0.6" \
    "pydantic==2.14.4" \
    "pyyaml==6.0.4" \
    "typer==0.29.2" \
    "rich==15.0.0" \
    "pytest==9.2.0" \
    "pytest-timeout==2.4.0" \
    "hatchling==1.29.0" \
    "editables==0.5"

# careamics_dask itself, without its zarr-3 dependency (the rest is installed above)
"$PY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .

"$PY" -c 'import zarr, aicsimageio; print("zarr", zarr.__version__, "aicsimageio", aicsimageio.__version__)'

status=0
"$PY" -m pytest -q tests/loaders/test_aicsimageio_env.py -p no:cacheprovider \
    -o addopts="" --strict-markers || status=$?
echo "aicsimageio environment tests finished in $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
