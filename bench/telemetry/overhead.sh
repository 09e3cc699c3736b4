#!/usr/bin/env bash
# What full instrumentation costs the search service. One `tern up` runs three built-in
# search services side by side: `instrumented` (the defaults: RED metrics, trace context,
# spans exported over OTLP to tern up's receiver) and two `bare` ones (telemetry.metrics
# and telemetry.traces off). Same binary, same data, same machine.
#
# Each round has two parts:
# - throughput: `tern bench search` saturates instrumented, then bare (the order
#   alternates between rounds), SECONDS each; QPS, p99 and the service's CPU time per
#   request (utime + stime from /proc).
# - latency: `tern bench search --baseline` runs whose workers call instrumented and bare
#   in turn, call by call, so both see the same moments of the machine (separate runs on
#   a shared 2-core VM differ by a few hundred µs at p99, more than the difference
#   sought). Two loads: one call at a time (a hop's own latency, no queueing), and RATE
#   calls per second to each (open loop, default 5000: queueing at a tenth of saturation
#   for the pair). Not closed loop at saturation: alternating workers pile up at whichever
#   service is slower, which turns a 1% difference in cost into a far larger one in
#   latency. Which of the two is --target alternates between rounds. The same runs
#   between the two bare services are the control: what the method reports when there is
#   no difference.
#
# A process's placement (which core, what it shares a cache with) biases it by tens of
# µs for as long as it lives, so the rounds are spread over PLATFORMS fresh `tern up`s
# (default 3), each with new replicas.
#
#   bench/telemetry/overhead.sh [ROUNDS] [SECONDS]      defaults 12 rounds of 5 s
#
# TERN: the binary (default target/release/tern). Needs a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
TERN="${TERN:-${CARGO_TARGET_DIR:-$root/target}/release/tern}"
rounds="${1:-12}"
platforms="${PLATFORMS:-3}"
seconds="${2:-5}"
rate="${RATE:-5000}"
platform="$(mktemp -d)"
results="$(mktemp)"
cleanup() {
  (cd "$platform" && "$TERN" down >/dev/null 2>&1) || true
  rm -rf "$platform" "$results"
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

[services.control]
builtin = "search"
register_as = "search-control"
env = { TERN_TELEMETRY__METRICS = "false", TERN_TELEMETRY__TRACES = "false" }
TOML
replica() { # SERVICE FIELD
  (cd "$platform" && "$TERN" ps --json) | python3 -c '
import json, sys
for s in json.load(sys.stdin)["services"]:
    if s["name"] == sys.argv[1]:
        print(s["replicas"][0][sys.argv[2]])' "$1" "$2"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A target pid
start_platform() {
  (cd "$platform" && "$TERN" up --detach) >/dev/null
  for name in instrumented bare control; do
    target[$name]="$(replica "$name" address)"
    pid[$name]="$(replica "$name" pid)"
  done
  echo "instrumented ${target[instrumented]}, bare ${target[bare]}, control ${target[control]}"
}
ticks_per_second="$(getconf CLK_TCK)"
throughput() { # SERVICE ROUND
  local name="$1" round="$2" before after line cpu_us
  before="$(cpu_ticks "${pid[$name]}")"
  line="$("$TERN" bench search --target "${target[$name]}" --duration "$seconds" --warmup 0 --json)"
  after="$(cpu_ticks "${pid[$name]}")"
  cpu_us="$(python3 -c "import json,sys; b=json.loads(sys.argv[1]); print(round(($after-$before)/$ticks_per_second*1e6/b['ok'], 2))" "$line")"
  echo "{\"kind\": \"throughput\", \"service\": \"$name\", \"round\": $round, \"cpu_us_per_request\": $cpu_us, \"bench\": $line}" >>"$results"
  echo "round $round throughput $name: $line"
}
latency() { # A B ROUND LOAD ARGS...: A against B, interleaved
  local a="$1" b="$2" round="$3" load="$4" first second line
  shift 4
  first="$a" second="$b"
  if ((round % 2 == 0)); then first="$b" second="$a"; fi
  line="$("$TERN" bench search --target "${target[$first]}" --baseline "${target[$second]}" \
    --duration "$seconds" --warmup 1 --json "$@")"
  echo "{\"kind\": \"latency\", \"load\": \"$load\", \"pair\": \"$a-$b\", \"target\": \"$first\", \"round\": $round, \"bench\": $line}" >>"$results"
  echo "round $round latency ($load) $first vs $second: $line"
}
for round in $(seq 1 "$rounds"); do
  if (((round - 1) % ((rounds + platforms - 1) / platforms) == 0)); then
    (cd "$platform" && "$TERN" down >/dev/null 2>&1) || true
    start_platform
  fi
  order=(bare instrumented)
  if ((round % 2 == 0)); then order=(instrumented bare); fi
  for name in "${order[@]}"; do throughput "$name" "$round"; done
  for pair in "instrumented bare" "control bare"; do
    # shellcheck disable=SC2086 # the pair is two words on purpose
    latency $pair "$round" "one call at a time" --concurrency 1
    # shellcheck disable=SC2086
    latency $pair "$round" "$rate/s each" --rate "$rate"
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
rounds = len({r["round"] for r in runs})
print(f"throughput, {rounds} rounds, medians:")
med = {}
for name in ("bare", "instrumented"):
    mine = [r for r in runs if r["kind"] == "throughput" and r["service"] == name]
    med[name] = {
        "qps": statistics.median(r["bench"]["qps"] for r in mine),
        "p99": statistics.median(r["bench"]["p99_us"] for r in mine),
        "cpu": statistics.median(r["cpu_us_per_request"] for r in mine),
    }
    errors = sum(r["bench"]["errors"] for r in mine)
    print(f"  {name:>12}: {med[name]['qps']:,.0f} QPS, p99 {med[name]['p99']:.0f} us, "
          f"{med[name]['cpu']:.2f} us CPU per request ({errors} errors)")
cost = 100 * (1 - med["instrumented"]["qps"] / med["bare"]["qps"])
cpu = 100 * (med["instrumented"]["cpu"] / med["bare"]["cpu"] - 1)
print(f"  throughput cost {cost:.1f}%, CPU per request {cpu:+.1f}%")
loads = list(dict.fromkeys(r["load"] for r in runs if r["kind"] == "latency"))
for load in loads:
    print(f"latency, {load}, interleaved call by call, per-round difference (median [quartiles]):")
    for pair, (a, b) in (("instrumented-bare", ("instrumented", "bare")), ("control-bare", ("control", "bare"))):
        diffs = {"p50_us": [], "p90_us": [], "p99_us": [], "p999_us": []}
        for r in runs:
            if r["kind"] != "latency" or r["load"] != load or r["pair"] != pair:
                continue
            mine, other = r["bench"], r["bench"]["baseline"]
            if r["target"] != a:
                mine, other = other, mine
            for key in diffs:
                diffs[key].append(mine[key] - other[key])
        parts = []
        for key, values in diffs.items():
            if len(values) >= 4:
                q1, q2, q3 = statistics.quantiles(values, n=4)
                parts.append(f"{key[:-3]} {q2:+.0f} [{q1:+.0f}, {q3:+.0f}]")
            elif values:
                parts.append(f"{key[:-3]} {statistics.median(values):+.0f}")
        print(f"  {a} - {b}: " + ", ".join(parts) + " us")
PY
