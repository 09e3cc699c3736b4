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
# RATE: calls per second; set, each service gets an open-loop load at that rate (`tern
# bench search --rate`), both at the same time, and latency is that of a service at this
# load, not the queueing of a saturated one. TERN: the binary (default target/release/tern). Needs a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
TERN="${TERN:-${CARGO_TARGET_DIR:-$root/target}/release/tern}"
rounds="${1:-5}"
seconds="${2:-10}"
load=()
if [[ -n "${RATE:-}" ]]; then load=(--rate "$RATE"); fi
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
bench() { # SERVICE ROUND: one measured run, appended to $results
  local name="$1" round="$2" before after line cpu_us
  before="$(cpu_ticks "${pid[$name]}")"
  line="$("$TERN" bench search --target "${target[$name]}" --duration "$seconds" --warmup 0 --json "${load[@]}")"
  after="$(cpu_ticks "${pid[$name]}")"
  cpu_us="$(python3 -c "import json,sys; b=json.loads(sys.argv[1]); print(round(($after-$before)/$ticks_per_second*1e6/b['ok'], 2))" "$line")"
  echo "{\"service\": \"$name\", \"round\": $round, \"cpu_us_per_request\": $cpu_us, \"bench\": $line}" >>"$results"
  echo "round $round $name: $line"
}
for round in $(seq 1 "$rounds"); do
  if [[ -n "${RATE:-}" ]]; then
    # At a fixed rate both run at once, each with its own load generator: whatever the
    # machine does meanwhile (another VM on the host, a daemon) hits both alike, which
    # alternating runs cannot give. Saturating loads cannot share the cores this way.
    bench bare "$round" &
    bench instrumented "$round"
    wait
  else
    # Which one goes first alternates, so neither always follows the other's load.
    order=(bare instrumented)
    if ((round % 2 == 0)); then order=(instrumented bare); fi
    for name in "${order[@]}"; do bench "$name" "$round"; done
  fi
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
print(f"throughput cost {cost:.1f}%, CPU per request {cpu:+.1f}%, "
      f"added p99 {med['instrumented']['p99_us'] - med['bare']['p99_us']:+.0f} us (difference of medians)")
# The same round's two runs saw the same machine state: their difference is the paired
# estimate, and its quartiles show how far one round can be trusted.
by_round = {}
for r in runs:
    by_round.setdefault(r["round"], {})[r["service"]] = r["bench"]
for key, label in (("p50_us", "p50"), ("p99_us", "p99")):
    diffs = sorted(b["instrumented"][key] - b["bare"][key] for b in by_round.values() if len(b) == 2)
    if len(diffs) >= 4:
        q1, q2, q3 = statistics.quantiles(diffs, n=4)
        print(f"added {label} per round: median {q2:+.0f} us, quartiles {q1:+.0f} / {q3:+.0f} us ({len(diffs)} rounds)")
PY
