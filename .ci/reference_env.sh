#!/usr/bin/env bash
# Build a virtual environment with the reference (careamics 0.3.5) beside this
# project, for the parity tests and the CAREamics training tests. The recipe is the one
# that works on these machines (no CUDA torch download); see README "Parity with
# CAREamics". Usage: bash .ci/reference_env.sh [VENV]   (default .venv-ref)
# A venv that already imports careamics and this project is kept (cache between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-${REFERENCE_VENV:-.venv-ref}}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import careamics, careamics_dask, lightning" 2>/dev/null; then
    "$VENV/bin/pip" install -q --no-deps -e . >/dev/null
    echo "reference environment $VENV is ready (cached)"
    exit 0
fi

rm -rf "$VENV"
python3 -m venv "$VENV"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install -q --upgrade pip
CONSTRAINTS="$(mktemp)"
echo "torch==2.13.0" >"$CONSTRAINTS"
pip install -q -c "$CONSTRAINTS" -e ".[test,lightning]"
pip install -q --no-deps "careamics==0.3.5"
pip install -q -c "$CONSTRAINTS" \
    "bioimageio-core<=0.11.0,>=0.9.0" "lightning!=2.6.2,!=2.6.3,<=2.6.6,>=2.2" \
    "matplotlib<=3.11.2" "microssim<=0.0.5" "numpy<=2.4.6,>=1.21" "pillow<=13.0.0" \
    "psutil<=7.2.2" "pydantic<=2.14.1,>=2.11" "pyyaml!=6.0.0,<=6.0.3" \
    "scikit-image<=0.26.0" "tifffile<=2026.3.3" "torchmetrics<1.9.0,>0.7.0" \
    "zarr<4.0.0,>=3.0.0"
pip install -q --no-deps "torchvision==0.28.0"
# PyPI's torchvision is built against CUDA torch: its compiled ops do not load beside
# the CPU wheel, and two fake-kernel registrations are not guarded by _has_ops().
python - <<'PY'
import importlib.util
import pathlib
import re

spec = importlib.util.find_spec("torchvision")
path = pathlib.Path(spec.origin).parent / "_meta_registrations.py"
text = path.read_text()
for op in ("nms", "qnms"):
    decorator = f'@torch.library.register_fake("torchvision::{op}")'
    guarded = f"@({decorator[1:]} if torchvision.extension._has_ops() else (lambda f: f))"
    text = text.replace(decorator + "\n", guarded + "\n")
path.write_text(text)
PY
python -c "import careamics, careamics_dask, lightning; print('careamics', careamics.__version__)"
rm -f "$CONSTRAINTS"
