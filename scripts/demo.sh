#!/usr/bin/env bash
# Set up (once) a virtual environment in .venv with phaselib, then map the phases of the
# bundled real EDS map (P45 dacite) and print where the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
OUT=${1:-results/P45}
.venv/bin/python -m phaselib map sample:P45 --out "$OUT"
echo "Phase map: $OUT/phase_map.png   table: $OUT/phases.csv   summary: $OUT/summary.json"
