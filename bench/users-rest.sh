#!/usr/bin/env bash
# users `GET /v1/users/{id}` over REST (issue 15): the FastAPI + uvicorn twin
# (bench/users-fastapi, one worker) and, with --rust, the Rust users service, on the same
# SQLite file in the same run. Seeds USERS users (default 10,000), then loads each service
# in turn with `tern bench http` at CONCURRENCY keep-alive connections (default 32) for
# SECONDS (default 10, after 2 s of warm-up) on the seeded ids in random order, and prints
# requests/s, p50/p90/p99/max and errors for each, and the ratio. Goal: Rust ≥ 10× FastAPI's
# requests/s, p99 < 2 ms at c=32.
#
#   bench/users-rest.sh [--rust [BIN]] [--concurrency N] [--duration S] [--users N]
#
# --rust starts BIN (default target/release/users) with PORT and TERN_DATA_DIR: it creates
# $TERN_DATA_DIR/users/users.db with its migrations, which is then seeded and given to
# FastAPI too (without --rust the script creates the table itself).
# With two cores or more, each server runs on CPU 1 and the load generator on CPU 0
# (taskset), so each service has one core to itself; PIN=0 turns that off.
#
# TERN: the tern binary (default target/release/tern); LOAD: the load generator command
# (default "$TERN bench http"); VENV: the FastAPI virtualenv (default
# bench/users-fastapi/.venv, created from its requirements.txt when missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
TERN="${TERN:-$target_dir/release/tern}"
LOAD="${LOAD:-$TERN bench http}"
VENV="${VENV:-$root/bench/users-fastapi/.venv}"
rust=""
concurrency=32
seconds=10
users=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --rust)
      rust="$target_dir/release/users"
      if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then rust="$2"; shift; fi ;;
    --concurrency) concurrency="$2"; shift ;;
    --duration) seconds="$2"; shift ;;
    --users) users="$2"; shift ;;
    *) echo "usage: $0 [--rust [BIN]] [--concurrency N] [--duration S] [--users N]" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck disable=SC2086 # LOAD is a command line
if ! $LOAD --help >/dev/null 2>&1; then
  echo "the load generator \"$LOAD\" does not run: cargo build --release -p tern, or set LOAD" >&2
  exit 1
fi
if [ -n "$rust" ] && [ ! -x "$rust" ]; then
  echo "no users binary at $rust: cargo build --release -p users" >&2
  exit 1
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

server_cpu=()
load_cpu=()
if [ "${PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 1)
  load_cpu=(taskset -c 0)
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (30 s at most) until URL answers 200.
wait_ready() {
  local url="$1" name="$2" log="$3"
  for _ in $(seq 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; then return 0; fi
    sleep 0.1
  done
  echo "$name did not answer 200 at $url within 30 s; its output:" >&2
  cat "$log" >&2
  exit 1
}

data="$work/data"
db="$data/users/users.db"
mkdir -p "$data/users"

if [ -n "$rust" ]; then
  rust_port="$(free_port)"
  PORT="$rust_port" TERN_DATA_DIR="$data" "${server_cpu[@]}" "$rust" >"$work/rust.log" 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:$rust_port/v1/users?page_size=1" "the Rust users service" "$work/rust.log"
fi

if [ ! -x "$VENV/bin/uvicorn" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$root/bench/users-fastapi/requirements.txt"
fi
python3 "$root/bench/users-fastapi/seed.py" "$db" "$work/ids.txt" "$users"

fastapi_port="$(free_port)"
USERS_DB="$db" "${server_cpu[@]}" "$VENV/bin/uvicorn" app:app --app-dir "$root/bench/users-fastapi" \
  --workers 1 --port "$fastapi_port" --no-access-log >"$work/fastapi.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$fastapi_port/healthz" "FastAPI" "$work/fastapi.log"

# Both answer the same users the same way before anything is measured.
if [ -n "$rust" ]; then
  python3 - "$fastapi_port" "$rust_port" "$work/ids.txt" <<'PY'
import json, sys, urllib.request
fastapi, rust, ids = sys.argv[1:]
for user in open(ids).read().split()[:20]:
    fetch = lambda port: json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/users/{user}"))
    if fetch(fastapi) != fetch(rust):
        sys.exit(f"the services answer differently:\n  FastAPI {fetch(fastapi)}\n  Rust    {fetch(rust)}")
PY
fi

measure() {
  local name="$1" port="$2"
  # shellcheck disable=SC2086 # LOAD is a command line
  "${load_cpu[@]}" $LOAD "http://127.0.0.1:$port/v1/users/{id}" --ids "$work/ids.txt" \
    --concurrency "$concurrency" --duration "$seconds" --json >"$work/$name.json"
}

echo "users GET /v1/users/{id}: $users users, $concurrency connections, ${seconds} s each${server_cpu:+, servers on CPU 1, load on CPU 0}"
measure fastapi "$fastapi_port"
runs=(fastapi)
if [ -n "$rust" ]; then
  measure rust "$rust_port"
  runs+=(rust)
fi
python3 - "$work" "${runs[@]}" <<'PY'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
figures = {name: json.load(open(f"{work}/{name}.json")) for name in names}
for name, f in figures.items():
    print(f"{name:8} {f['rps']:>9.0f} requests/s  p50 {f['p50_us'] / 1000:.2f} ms  "
          f"p90 {f['p90_us'] / 1000:.2f} ms  p99 {f['p99_us'] / 1000:.2f} ms  "
          f"max {f['max_us'] / 1000:.2f} ms  errors {f['errors']} {f['errors_by_kind'] or ''}")
if "rust" in figures:
    ratio = figures["rust"]["rps"] / figures["fastapi"]["rps"]
    p99 = figures["rust"]["p99_us"] / 1000
    print(f"rust/fastapi: {ratio:.1f}x requests/s (goal >= 10x); rust p99 {p99:.2f} ms (goal < 2 ms)")
PY
