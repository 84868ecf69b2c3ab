#!/usr/bin/env bash
# Set up (once) .venv with phaselib and the dashboards' packages, then serve the dashboards with Voilà
# on the bundled real map (P45 dacite) and the bundled full-map results. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PORT=${PORT:-8866}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dashboards]"
echo
echo "Dashboards (open in a browser):"
echo "  guided phase mapping on the real P45 map:  http://localhost:$PORT/voila/render/phase_mapping.ipynb"
echo "  the same on a synthetic rock with truth:   http://localhost:$PORT/voila/render/phase_mapping.ipynb?map=synthetic:200x300"
echo "  full-map results, computed earlier:        http://localhost:$PORT/voila/render/full_map.ipynb"
echo
exec .venv/bin/python -m voila dashboards --no-browser --port="$PORT" --Voila.ip="${HOST:-127.0.0.1}"
