#!/usr/bin/env bash
# `tern up --detach` of the default stack (embedded registry + 2 search replicas) until
# every replica is healthy, RUNS times (first on an empty data dir, which imports the
# bundled data; then warm), each followed by `tern down`; then the supervisor's RSS.
#   bench/supervisor/up.sh [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs="${1:-5}"
write_platform 2
for run in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  (cd "$PLATFORM" && "$TERN" up --detach) >/dev/null
  end=$(date +%s%N)
  label=warm; [[ $run == 1 ]] && label="empty data dir"
  echo "run $run ($label): $(( (end - start) / 1000000 )) ms to all healthy"
  if [[ $run == "$runs" ]]; then
    pid="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$PLATFORM/.tern/supervisor/control.json")"
    sleep 5  # let the supervisor settle (idle, health watch running)
    echo "supervisor RSS (embedded registry included): $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
    start=$(date +%s%N); (cd "$PLATFORM" && "$TERN" ps) >/dev/null; end=$(date +%s%N)
    echo "tern ps: $(( (end - start) / 1000000 )) ms"
  fi
  (cd "$PLATFORM" && "$TERN" down) >/dev/null
done
