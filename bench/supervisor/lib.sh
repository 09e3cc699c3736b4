# Sourced by the bench/supervisor scripts: finds the tern binary and the Python venv, and
# starts a platform (embedded registry on free ports + N search replicas) in a temp dir.
#
#   TERN=path/to/tern      default: target/release/tern
#   PYTHON=path/to/python  default: the test venv
# After `start_platform N`: $PLATFORM (its directory), $REGISTRY_HTTP, $SUPERVISOR_PID.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bench_dir="$root/bench/supervisor"
TERN="${TERN:-${CARGO_TARGET_DIR:-$root/target}/release/tern}"
PYTHON="${PYTHON:-${TERN_TEST_PYTHON:-$HOME/.cache/tern-test-venv/bin/python}}"
PLATFORM="$(mktemp -d)"

cleanup() {
  (cd "$PLATFORM" && "$TERN" down >/dev/null 2>&1) || true
  rm -rf "$PLATFORM"
}
trap cleanup EXIT

write_platform() {
  cat >"$PLATFORM/tern.toml" <<TOML
[registry]
http = "127.0.0.1:0"
dns = "127.0.0.1:0"

[services.search]
builtin = "search"
replicas = $1
drain = "${DRAIN:-1s}"
TOML
}

start_platform() {
  write_platform "$1"
  (cd "$PLATFORM" && "$TERN" up --detach) >/dev/null
  REGISTRY_HTTP="$(grep -o 'http=[0-9.:]*' "$PLATFORM/.tern/supervisor/supervisor.log" | head -1 | cut -d= -f2)"
  SUPERVISOR_PID="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$PLATFORM/.tern/supervisor/control.json")"
}
