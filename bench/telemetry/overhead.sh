#!/usr/bin/env bash
# What full instrumentation costs the search service: one `tern up` runs two built-in
# search services side by side, `instrumented` (the defaults: RED metrics, trace context,
# a span per call exported over OTLP to tern up's receiver) and `bare` (telemetry.metrics
# and telemetry.traces off), and `tern bench search` loads each in turn, alternating,
# ROUNDS times; then the medians. Same binary, same data, same machine state. Besides QPS
# and latency (noisy: they depend on where the scheduler puts the load generator), it
# reports the service's CPU time per request (utime + stime from /proc, over the run).
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
replica() { # SERVICE FIELD
  (cd "$platform" && "$TERN" ps --json) | python3 -c '
import json, sys
for s in json.load(sys.stdin)["services"]:
    if s["name"] == sys.argv[1]:
        print(s["replicas"][0][sys.argv[2]])' "$1" "$2"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A target=([instrumented]="$(replica instrumented address)" [bare]="$(replica bare address)")
declare -A pid=([instrumented]="$(replica instrumented pid)" [bare]="$(replica bare pid)")
ticks_per_second="$(getconf CLK_TCK)"
echo "instrumented ${target[instrumented]}, bare ${target[bare]}"
results="$platform/results.jsonl"
for round in $(seq 1 "$rounds"); do
  for name in bare instrumented; do
    before="$(cpu_ticks "${pid[$name]}")"
    line="$("$TERN" bench search --target "${target[$name]}" --duration "$seconds" --warmup 0 --json)"
    after="$(cpu_ticks "${pid[$name]}")"
    cpu_us="$(python3 -c "import json,sys; b=json.loads(sys.argv[1]); print(round(($after-$before)/$ticks_per_second*1e6/b['ok'], 2))" "$line")"
    echo "{\"service\": \"$name\", \"round\": $round, \"cpu_us_per_request\": $cpu_us, \"bench\": $line}" >>"$results"
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
    med[name]["cpu"] = statistics.median(r["cpu_us_per_request"] for r in runs if r["service"] == name)
    errors = sum(b["errors"] for b in mine)
    print(f"{name:>12}: median {med[name]['qps']:,.0f} QPS, p50 {med[name]['p50_us']:.0f} us, "
          f"p99 {med[name]['p99_us']:.0f} us, {med[name]['cpu']:.2f} us CPU per request "
          f"({len(mine)} runs, {errors} errors)")
cost = 100 * (1 - med["instrumented"]["qps"] / med["bare"]["qps"])
cpu = 100 * (med["instrumented"]["cpu"] / med["bare"]["cpu"] - 1)
print(f"throughput cost {cost:.1f}%, CPU per request +{cpu:.1f}%, "
      f"added p99 {med['instrumented']['p99_us'] - med['bare']['p99_us']:.0f} us")
PY
