#!/usr/bin/env bash
# Chapter 04 (every variant to the target) where every engine has a core of its own: the measured
# speedups that this report's 2-core machine can only estimate above 2 engines.
#
#   scripts/more-cores.sh                          # 1, 2, 4, 8 and 16 engines into results/16-core/
#   scripts/more-cores.sh "[1, 2, 4, 6]"           # other engine counts
#   scripts/more-cores.sh "[1, 2]" -p n_train 1000 -p repeats 1     # a small try (any chapter parameter)
#
# EXEMPLAR_CORES_RESULTS names another results folder. The executed notebook goes beside the results.
set -euo pipefail
cd "$(dirname "$0")/.."
counts=${1:-"[1, 2, 4, 8, 16]"}
shift || true
out=${EXEMPLAR_CORES_RESULTS:-results/16-core}
cores=$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")
largest=$(python3 -c "import json, sys; print(max(json.loads(sys.argv[1])))" "$counts")
if [ "$largest" -gt "$cores" ]; then
  echo "*** $largest engines on $cores cores: the largest counts share cores (their speedups are estimates)." >&2
fi
make data
mkdir -p "$out"
EXEMPLAR_RESULTS="$(cd "$out" && pwd)" .venv/bin/exemplar run 04-communication -p engine_counts "$counts" "$@" \
  --output-dir "$out"
echo "results: $out/communication.csv and communication_curves.csv; the executed notebook: $out/04-communication*.ipynb"
