#!/usr/bin/env bash
# REST transcoding cost on the search service (issue 15): server CPU per call of
# `GET /v1/search?lat=&lng=` (tern-rest → the tonic handler in-process) against the gRPC
# call `/Search/search` of the same handler, same server process, same query points
# (bundled cities), same open-loop rate. The server runs on CPU 1 and the load generator on
# CPU 0 when there are two cores (PIN=0 turns that off). CPU is the server process'
# utime + stime (/proc/PID/stat) over each run, divided by the calls answered.
# Goal: REST ≤ 1.15 × gRPC CPU per call.
#
#   bench/search-rest.sh [--rate N] [--duration S] [--concurrency N]
#
# TERN: the tern binary (default target/release/tern; cargo build --release -p tern).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
TERN="${TERN:-${CARGO_TARGET_DIR:-$root/target}/release/tern}"
rate=20000
seconds=10
concurrency=32
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) rate="$2"; shift ;;
    --duration) seconds="$2"; shift ;;
    --concurrency) concurrency="$2"; shift ;;
    *) echo "usage: $0 [--rate N] [--duration S] [--concurrency N]" >&2; exit 2 ;;
  esac
  shift
done
if ! "$TERN" bench http --help >/dev/null 2>&1; then
  echo "no tern binary with \`bench http\` at $TERN: cargo build --release -p tern, or set TERN" >&2
  exit 1
fi

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

server_cpu=()
load_cpu=()
if [ "${PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1)
  load_cpu=(taskset -c 0)
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TERN_DATA_DIR="$work" "${server_cpu[@]}" "$TERN" service search --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 600); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/monitor")" = 200 ]; then break; fi
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/v1/monitor" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

# The server's CPU time so far, in clock ticks (utime + stime).
ticks() { awk '{ print $14 + $15 }' "/proc/$server/stat"; }

run() {
  local name="$1"; shift
  local before after
  before="$(ticks)"
  "${load_cpu[@]}" "$@" --concurrency "$concurrency" --rate "$rate" --duration "$seconds" --warmup 0 --json >"$work/$name.json"
  after="$(ticks)"
  echo "$((after - before))" >"$work/$name.ticks"
}

echo "search at $rate calls/s, $concurrency connections, ${seconds} s each${server_cpu:+, server on CPU 1, load on CPU 0}"
# Warm the server up once (both paths), then measure gRPC, REST, gRPC, REST.
run warm-grpc "$TERN" bench search --target "127.0.0.1:$port"
run warm-rest "$TERN" bench http "http://127.0.0.1:$port/v1/search?lat={lat}&lng={lng}"
for round in 1 2; do
  run "grpc$round" "$TERN" bench search --target "127.0.0.1:$port"
  run "rest$round" "$TERN" bench http "http://127.0.0.1:$port/v1/search?lat={lat}&lng={lng}"
done
python3 - "$work" "$(getconf CLK_TCK)" <<'PY'
import json, sys
work, hz = sys.argv[1], int(sys.argv[2])
per_call = {}
for kind in ("grpc", "rest"):
    ok = ticks = 0
    for round in (1, 2):
        f = json.load(open(f"{work}/{kind}{round}.json"))
        if f["errors"]:
            sys.exit(f"{kind} round {round}: {f['errors']} errors")
        ok += f["ok"]
        ticks += int(open(f"{work}/{kind}{round}.ticks").read())
        print(f"{kind:4} round {round}: {f['ok']:>7} ok  p50 {f['p50_us']} us  p99 {f['p99_us']} us")
    per_call[kind] = ticks / hz / ok * 1e6
    print(f"{kind:4} server CPU per call: {per_call[kind]:.2f} us ({ok} calls)")
print(f"rest/grpc CPU per call: {per_call['rest'] / per_call['grpc']:.3f} (goal <= 1.15)")
PY
