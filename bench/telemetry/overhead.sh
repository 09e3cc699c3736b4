#!/usr/bin/env bash
# What full instrumentation costs the search service: one `tern up` runs two built-in
# search services side by side, `instrumented` (the defaults: RED metrics, trace context,
# a span per call exported over OTLP to tern up's receiver) and `bare` (telemetry.metrics
# and telemetry.traces off), and `tern bench search` loads each in turn, alternating,
# ROUNDS times; then the medians. Same binary, same data, same machine state.
#
#   bench/telemetry/overhead.sh [ROUNDS] [SECONDS]      defaults 5 rounds of 10 s
#
# TERN: the binary (default target/release/tern). Needs a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
TERN="${TERN:-${CARGO_TARGET_DIR:-$root/target}/release/tern}"
rounds="${1:-5}"
seconds="${2:-10}"
platform="$(mktemp -d)"
cleanup() {
  (cd "$platform" && "$TERN" down >/dev/null 2>&1) || true
  rm -rf "$platform"
}
trap cleanup EXIT

cat >"$platform/tern.toml" <<TOML
[registry]
http = "127.0.0.1:0"
dns = "127.0.0.1:0"

[broker]
embedded = false

[telemetry]
otlp_grpc = "127.0.0.1:0"
otlp_http = "127.0.0.1:0"
statsd = false

[services.instrumented]
builtin = "search"
register_as = "search-instrumented"

[services.bare]
builtin = "search"
register_as = "search-bare"
env = { TERN_TELEMETRY__METRICS = "false", TERN_TELEMETRY__TRACES = "false" }
TOML
(cd "$platform" && "$TERN" up --detach) >/dev/null
address() {
  (cd "$platform" && "$TERN" ps --json) | python3 -c '
import json, sys
for s in json.load(sys.stdin)["services"]:
    if s["name"] == sys.argv[1]:
        print(s["replicas"][0]["address"])' "$1"
}
declare -A target=([instrumented]="$(address instrumented)" [bare]="$(address bare)")
echo "instrumented ${target[instrumented]}, bare ${target[bare]}"
results="$platform/results.jsonl"
for round in $(seq 1 "$rounds"); do
  for name in bare instrumented; do
    line="$("$TERN" bench search --target "${target[$name]}" --duration "$seconds" --json)"
    echo "{\"service\": \"$name\", \"round\": $round, \"bench\": $line}" >>"$results"
    echo "round $round $name: $line"
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for name in ("bare", "instrumented"):
    mine = [r["bench"] for r in runs if r["service"] == name]
    med[name] = {k: statistics.median(b[k] for b in mine) for k in ("qps", "p50_us", "p99_us")}
    errors = sum(b["errors"] for b in mine)
    print(f"{name:>12}: median {med[name]['qps']:,.0f} QPS, p50 {med[name]['p50_us']:.0f} us, "
          f"p99 {med[name]['p99_us']:.0f} us ({len(mine)} runs, {errors} errors)")
cost = 100 * (1 - med["instrumented"]["qps"] / med["bare"]["qps"])
print(f"throughput cost {cost:.1f}%, added p99 {med['instrumented']['p99_us'] - med['bare']['p99_us']:.0f} us")
PY
