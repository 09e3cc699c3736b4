#!/usr/bin/env bash
# Instructions the telemetry layer executes per call, counted by callgrind: exact and
# repeatable where wall-clock figures on a shared VM are not. Runs `tern service search`
# under valgrind twice, bare (telemetry.metrics and telemetry.traces off) and instrumented
# (the defaults, traces_per_second = 1 so the figure is that of an unsampled call, and an
# OTLP endpoint nobody listens on), zeroes the counters once it serves, sends SECONDS of
# calls at concurrency 1, and divides by the calls answered.
#
#   bench/telemetry/instructions.sh [SECONDS]      default 15
#
# Prints per call: the whole call (everything the service's runtime ran, divided by the
# calls; it moves by a few hundred instructions between runs with idle polling), and in
# the instrumented service what the telemetry layer does when a call starts (read the
# trace context, look up the method, count it in flight) and when it ends (record the
# duration, the span when sampled).
# TERN: the binary (default target/release/tern). Needs valgrind.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
TERN="${TERN:-${CARGO_TARGET_DIR:-$root/target}/release/tern}"
seconds="${1:-15}"
work="$(mktemp -d)"
cleanup() {
  pkill -TERM -f "tern service search --data-dir $work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The data directory is filled natively first: importing under valgrind takes minutes.
listen() { # LOG: the address the service printed
  local i
  for i in $(seq 1 1200); do
    if grep -q " serving " "$1" 2>/dev/null; then
      sed -n 's/.* serving .* on \([0-9.:]*\) .*/\1/p' "$1"
      return
    fi
    sleep 0.5
  done
  echo "the service did not start; its log:" >&2
  cat "$1" >&2
  exit 1
}
"$TERN" service search --data-dir "$work/data" >"$work/native.log" 2>&1 &
listen "$work/native.log" >/dev/null
kill -TERM $! && wait $! || true

measure() { # NAME ENV...
  local name="$1"
  shift
  env "$@" valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" \
    "$TERN" service search --data-dir "$work/data" >"$work/$name.log" 2>&1 &
  local service=$! addr
  addr="$(listen "$work/$name.log")"
  "$TERN" bench search --target "$addr" --concurrency 1 --duration 2 --warmup 0 >/dev/null
  callgrind_control -z "$service" >/dev/null 2>&1
  "$TERN" bench search --target "$addr" --concurrency 1 --duration "$seconds" --warmup 0 \
    --timeout-ms 60000 --json >"$work/$name.json"
  callgrind_control -d "$service" >/dev/null 2>&1
  kill -TERM "$service" && wait "$service" || true
  python3 - "$name" "$work/$name.json" "$work/$name.out.1" <<'PY'
import json, re, subprocess, sys
name, bench, profile = sys.argv[1:]
calls = json.load(open(bench))["ok"]
out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100", profile],
                     capture_output=True, text=True, check=True).stdout
wanted = {
    "whole call": r"multi_thread::worker::Context::run_task \[",
    "Call::start": r"chassis/src/telemetry/layer\.rs:tern_chassis::telemetry::layer::Call::start \[",
    "Call::finish": r"chassis/src/telemetry/layer\.rs:<tern_chassis::telemetry::layer::Call as tern_chassis::telemetry::observe::CallEnd>::end \[",
}
figures = {}
for label, pattern in wanted.items():
    for line in out.splitlines():
        if re.search(pattern, line):
            figures[label] = int(line.split()[0].replace(",", "")) // calls
            break
print(f"{name:>12} ({calls} calls), instructions per call: "
      + ", ".join(f"{label} {value:,}" for label, value in figures.items()))
PY
}
measure bare TERN_TELEMETRY__METRICS=false TERN_TELEMETRY__TRACES=false
measure instrumented TERN_TELEMETRY__OTLP_ENDPOINT=127.0.0.1:1 TERN_TELEMETRY__TRACES_PER_SECOND=1
