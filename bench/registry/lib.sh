# Sourced by the bench/registry scripts: finds the tern binary and the Python venv, and
# starts (or reuses) a `tern registry` on loopback.
#
#   REGISTRY_HTTP=127.0.0.1:P REGISTRY_DNS=127.0.0.1:Q  reuse a running registry
#   TERN=path/to/tern                                  default: target/release/tern
#   PYTHON=path/to/python                              default: the test venv
# After `start_registry`: $REGISTRY_HTTP, $REGISTRY_DNS, $REGISTRY_PID (empty if reused).

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bench_dir="$root/bench/registry"
TERN="${TERN:-${CARGO_TARGET_DIR:-$root/target}/release/tern}"
PYTHON="${PYTHON:-${TERN_TEST_PYTHON:-$HOME/.cache/tern-test-venv/bin/python}}"
REGISTRY_PID=""
work="$(mktemp -d)"

cleanup() {
  if [[ -n "$REGISTRY_PID" ]]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A port free for both UDP and TCP right now (the registry binds DNS on both).
free_port() {
  python3 - <<'PY'
import socket
for _ in range(100):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
PY
}

# VmRSS of a process, in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Kills the registry we started with SIGKILL (no shutdown hooks) and starts it again on the
# same ports and working directory: what a crash does to acknowledged writes.
crash_and_restart_registry() {
  kill -9 "$REGISTRY_PID"
  wait "$REGISTRY_PID" 2>/dev/null || true
  (cd "$work" && exec "$TERN" registry --http "$REGISTRY_HTTP" --dns "$REGISTRY_DNS") \
    >>"$work/registry.out" 2>>"$work/registry.err" &
  REGISTRY_PID=$!
  for _ in $(seq 200); do
    curl -fsS "http://$REGISTRY_HTTP/v1/status/leader" >/dev/null 2>&1 && return
    sleep 0.05
  done
  echo "tern registry did not restart: $(tail -n 2 "$work/registry.err")" >&2
  exit 1
}

start_registry() {
  if [[ -n "${REGISTRY_HTTP:-}" && -n "${REGISTRY_DNS:-}" ]]; then
    echo "using the registry at http://$REGISTRY_HTTP, dns $REGISTRY_DNS" >&2
    return
  fi
  [[ -x "$TERN" ]] || { echo "no $TERN: run cargo build --release -p tern" >&2; exit 1; }
  # Ports are picked, released and handed to tern; if one was taken meanwhile, tern exits
  # and the next try picks others.
  for _ in 1 2 3 4 5; do
    REGISTRY_HTTP="127.0.0.1:$(free_port)"
    REGISTRY_DNS="127.0.0.1:$(free_port)"
    # From $work, so whatever the registry writes (a `.tern/` data dir) is thrown away.
    (cd "$work" && exec "$TERN" registry --http "$REGISTRY_HTTP" --dns "$REGISTRY_DNS") \
      >>"$work/registry.out" 2>>"$work/registry.err" &
    REGISTRY_PID=$!
    for _ in $(seq 100); do
      if curl -fsS "http://$REGISTRY_HTTP/v1/status/leader" >/dev/null 2>&1; then
        echo "tern registry pid $REGISTRY_PID: http://$REGISTRY_HTTP, dns $REGISTRY_DNS" >&2
        export REGISTRY_HTTP REGISTRY_DNS REGISTRY_PID
        return
      fi
      kill -0 "$REGISTRY_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    echo "tern registry did not start; retrying: $(tail -n 2 "$work/registry.err")" >&2
  done
  echo "tern registry did not start in 5 tries" >&2
  exit 1
}
