#!/usr/bin/env bash
# Set up (once) .venv with phaselib and the dashboards' packages, then serve the dashboards with Voilà
# on the bundled real map (P45 dacite) and the bundled full-map results. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PORT=${PORT:-8866}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--panel" ]; then
  # A class on ONE process: `panel serve` of dashboards/panel_app.py (Panel widgets, Bokeh plots); every session
  # shares the maps' first results (pn.state.cache). PANEL_ORIGINS: more host:port names browsers may use.
  .venv/bin/python -m pip install -q -e ".[panel]"
  echo
  echo "Phase mapping with Panel, one process for the class (open in a browser):"
  echo "  guided phase mapping on the real P45 map:  http://localhost:$PORT/panel_app"
  echo "  the same on a synthetic rock with truth:   http://localhost:$PORT/panel_app?map=synthetic:200x300"
  echo
  origins=(--allow-websocket-origin="localhost:$PORT" --allow-websocket-origin="127.0.0.1:$PORT")
  [ "${HOST:-127.0.0.1}" = 127.0.0.1 ] || origins+=(--allow-websocket-origin="$(hostname -f 2>/dev/null || hostname):$PORT")
  for o in ${PANEL_ORIGINS:-}; do origins+=(--allow-websocket-origin="$o"); done
  exec .venv/bin/python -m panel serve dashboards/panel_app.py --port "$PORT" --address "${HOST:-127.0.0.1}" \
    "${origins[@]}" --num-procs 1 --warm --liveness
fi
.venv/bin/python -m pip install -q -e ".[dashboards]"
echo
echo "Dashboards (open in a browser):"
echo "  guided phase mapping on the real P45 map:  http://localhost:$PORT/voila/render/phase_mapping.ipynb"
echo "  the same on a synthetic rock with truth:   http://localhost:$PORT/voila/render/phase_mapping.ipynb?map=synthetic:200x300"
echo "  full-map results, computed earlier:        http://localhost:$PORT/voila/render/full_map.ipynb"
echo "(${CLASS_SIZE:-10} kernels kept ready for the guided page; a class of 30: CLASS_SIZE=30 ./scripts/serve.sh)"
echo
# Served from dashboards/, whose voila.json holds the class settings (kernel culling, preheated kernels);
# the bundled maps' first results are computed once here and shared by every kernel (phasedash/cache.py).
# Pages open maps from PHASEDASH_DATA_DIR and write to PHASEDASH_EXPORT_DIR (dashboards/data, dashboards/exports).
cd dashboards
# one thread per kernel for BLAS/OpenMP: a class's kernels share the cores, threads spinning on them slow everyone
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" VOILA_APP_IP="${HOST:-127.0.0.1}"
# share/voila/templates/phaselib: Voilà's lab template with a still loading screen (no animation to draw)
export JUPYTER_PATH="$PWD/share${JUPYTER_PATH:+:$JUPYTER_PATH}"
nice ../.venv/bin/python -m phasedash.warm || echo "(the shared results will be computed by the first page)"
# CLASS_SIZE: kernels kept ready for the guided page (a class arriving together; ~100 MB each; voila.json: 10)
class=(); [ -z "${CLASS_SIZE:-}" ] || class=(--ClassroomKernelManager.class_size="$CLASS_SIZE")
exec ../.venv/bin/python -m voila . --template=phaselib --no-browser --port="$PORT" --Voila.ip="${HOST:-127.0.0.1}" "${class[@]}" "$@"  # "$@": more Voilà options
