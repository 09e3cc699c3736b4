#!/usr/bin/env bash
# Failed calls during rolling restarts and scaling under load: 2 search replicas, load from
# the discovery client (`tern bench search --registry`, CONCURRENCY workers) while the
# supervisor does two rolling restarts, a scale to 3 and a scale back to 2.
#   bench/supervisor/rolling.sh [CONCURRENCY] [SECONDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
concurrency="${1:-32}"
seconds="${2:-30}"
start_platform 2
"$TERN" bench search --registry "$REGISTRY_HTTP" --concurrency "$concurrency" \
  --duration "$seconds" --json >"$PLATFORM/load.json" &
load=$!
sleep 2
cd "$PLATFORM"
for step in "restart search --rolling" "scale search 3" "restart search --rolling" "scale search 2"; do
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  "$TERN" $step >/dev/null
  end=$(date +%s%N)
  echo "tern $step: $(( (end - start) / 1000000 )) ms"
done
wait "$load"
echo "load: $(cat "$PLATFORM/load.json")"
