#!/usr/bin/env bash
# The harness's produce test (perf.py: 1M x 100 B, acks=all, confluent-kafka) repeated N
# times, alternating tern's broker (durable, --flush always) and tansu's memory engine on
# fresh brokers, then the median of each. One run of each is noisy on 2 cores (the Python
# producer is the limit and shares the CPUs): single samples ranged 734k-835k msg/s here.
#
#   bench/broker/produce_repeat.sh [N]      default 7
#
# Same prerequisites as run.sh (release build, the harness's setup.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="$(cd "$here/../../../shared/bench/kafka" && pwd)"
runs="${1:-7}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
measure() { # NAME BOOTSTRAP
  (cd "$shared" && timeout 300 /tmp/hv/bin/python perf.py --bootstrap "$2" --label "$1" \
      --large-count 1000 --state "$out/state.json" produce 2>/dev/null) |
    /tmp/hv/bin/python -c 'import json,sys
for line in sys.stdin:
    d = json.loads(line)
    if d.get("bench") == "produce" and d["msg_size"] == 100:
        assert d["ok"] and d["delivered"] == d["messages"], d
        print(d["msgs_per_s"])' >>"$out/$1"
}
for i in $(seq 1 "$runs"); do
  "$here/broker-tern.sh" start 29092 >/dev/null
  measure tern 127.0.0.1:29092
  "$here/broker-tern.sh" stop
  (cd "$shared" && ./broker-tansu.sh start memory >/dev/null)
  measure tansu-memory 127.0.0.1:19092
  (cd "$shared" && ./broker-tansu.sh stop)
  echo "run $i: tern $(tail -1 "$out/tern") tansu-memory $(tail -1 "$out/tansu-memory")"
done
for name in tern tansu-memory; do
  sort -n "$out/$name" | awk -v n="$name" '{v[NR]=$1} END {printf "%s: median %.0f msg/s, min %.0f, max %.0f (%d runs)\n", n, v[int((NR+1)/2)], v[1], v[NR], NR}'
done
