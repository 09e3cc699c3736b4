#!/usr/bin/env bash
# Failover: two search replicas registered in `tern registry`, loaded through the
# discovery client (`tern bench search --registry`, round robin + retry), one killed with
# SIGKILL mid-run. Prints how long until it is gone from ?passing and DNS, and the load
# generator's result (its `errors` are the failed client calls).
#
#   bench/registry/failover.sh [CONCURRENCY] [SECONDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
concurrency="${1:-8}"
seconds="${2:-8}"
start_registry

replica_pids=()
replica_ports=()
for replica in 1 2; do
  (cd "$work" && TERN_REGISTRY="$REGISTRY_HTTP" exec "$TERN" service search --data-dir "$work/replica$replica") \
    >"$work/up$replica.out" 2>"$work/up$replica.err" &
  replica_pids+=($!)
done
for replica in 0 1; do
  for _ in $(seq 300); do
    grep -q "serving" "$work/up$((replica + 1)).out" 2>/dev/null && break
    sleep 0.05
  done
  replica_ports+=("$(grep -o '127.0.0.1:[0-9]*' "$work/up$((replica + 1)).out" | head -1 | cut -d: -f2)")
done
for _ in $(seq 300); do
  passing=$(curl -fsS "http://$REGISTRY_HTTP/v1/health/service/search-service?passing" | grep -o '"ServiceID"\|"ID":"search-service-[0-9]*"' | grep -c search-service- || true)
  [[ "$passing" == 2 ]] && break
  sleep 0.05
done
echo "replicas ${replica_ports[*]} passing; loading at concurrency $concurrency for ${seconds}s" >&2

"$TERN" bench search --registry "$REGISTRY_HTTP" --concurrency "$concurrency" \
  --duration "$seconds" --warmup 0 --json >"$work/bench.json" 2>"$work/bench.err" &
bench_pid=$!
sleep $((seconds / 3))
"$PYTHON" "$bench_dir/failover.py" "$REGISTRY_HTTP" "$REGISTRY_DNS" "${replica_pids[0]}" "${replica_ports[0]}"
wait "$bench_pid" || true
cat "$work/bench.json"
cat "$work/bench.err" >&2
kill "${replica_pids[1]}" 2>/dev/null || true
wait "${replica_pids[1]}" 2>/dev/null || true
