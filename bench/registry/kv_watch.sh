#!/usr/bin/env bash
# KV write -> watcher wake-up latency: tern's blocking queries (kv_watch.py), then the etcd
# 3.4 anchor from ../shared/bench/kv-watch in the same session when etcd is installed
# (apt-get install etcd-server), then whether the acknowledged writes survive a SIGKILL.
#   bench/registry/kv_watch.sh [WRITES] [GAP_MS]     (default 2000 writes, 10 ms apart)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
writes="${1:-2000}"
gap="${2:-10}"
anchor="${KV_WATCH_ANCHOR:-$root/../shared/bench/kv-watch/etcd_watch_anchor.py}"

start_registry
echo "== tern: $writes writes, $gap ms apart" >&2
"$PYTHON" "$bench_dir/kv_watch.py" "$REGISTRY_HTTP" --writes "$writes" --gap-ms "$gap"
echo "== tern: the anchor's shape (200 writes, 20 ms apart)" >&2
"$PYTHON" "$bench_dir/kv_watch.py" "$REGISTRY_HTTP" --writes 200 --gap-ms 20

if command -v etcd >/dev/null && [[ -f "$anchor" ]]; then
  echo "== etcd anchor (same session)" >&2
  client="127.0.0.1:$(free_port)"
  peer="127.0.0.1:$(free_port)"
  etcd --data-dir "$work/etcd" --listen-client-urls "http://$client" --advertise-client-urls "http://$client" \
    --listen-peer-urls "http://$peer" --initial-advertise-peer-urls "http://$peer" \
    --initial-cluster "default=http://$peer" >"$work/etcd.log" 2>&1 &
  etcd_pid=$!
  for _ in $(seq 200); do
    curl -fsS "http://$client/health" 2>/dev/null | grep -q true && break
    sleep 0.05
  done
  python3 "$anchor" "http://$client" || true
  kill "$etcd_pid"
  wait "$etcd_pid" 2>/dev/null || true
else
  echo "(no etcd or no $anchor: anchor skipped)" >&2
fi

if [[ -n "$REGISTRY_PID" ]]; then
  echo "== durability: PUT, SIGKILL, restart, GET" >&2
  marker="durable-$(date +%s%N)"
  curl -fsS -X PUT "http://$REGISTRY_HTTP/v1/kv/bench/durability" -d "$marker" >/dev/null
  crash_and_restart_registry
  after="$(curl -sS "http://$REGISTRY_HTTP/v1/kv/bench/durability?raw" || true)"
  if [[ "$after" == "$marker" ]]; then
    echo '{"durable_after_sigkill": true}'
  else
    echo "{\"durable_after_sigkill\": false, \"read_back\": $(printf '%s' "$after" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}"
  fi
fi
