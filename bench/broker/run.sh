#!/usr/bin/env bash
# The shared Kafka harness (../shared/bench/kafka: confluent-kafka throughput, end-to-end
# latency, 17 compatibility checks, consumer-group rejoin, durability) against tern's broker
# and tansu 0.6 (durable sqlite and memory engines), back to back in one run.
#
#   bench/broker/run.sh [BROKERS...]     default: tern tansu-sqlite tansu-memory
#
# Needs a release build (cargo build --release -p tern) and the harness's setup.sh (kcat,
# jq, the /tmp/hv venv, tansu in /tmp/tansu-root). The harness writes next to itself, so
# it runs from a copy in $WORK (default /tmp/tern-kafka-bench); results in $WORK/results/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="$(cd "$here/../../../shared/bench/kafka" 2>/dev/null && pwd || true)"
WORK="${WORK:-/tmp/tern-kafka-bench}"
[ -n "$shared" ] || { echo "../shared/bench/kafka not found next to the project" >&2; exit 1; }
mkdir -p "$WORK"
cp -r "$shared"/. "$WORK"/
cp "$here/broker-tern.sh" "$WORK/"
cd "$WORK"
brokers=("$@")
[ ${#brokers[@]} -gt 0 ] || brokers=(tern tansu-sqlite tansu-memory)
for broker in "${brokers[@]}"; do
  case "$broker" in
    tern) ./run-bench.sh tern 127.0.0.1:29092 "$WORK/broker-tern.sh start 29092" \
            "$WORK/broker-tern.sh stop" "$WORK/broker-tern.sh restart 29092" ;;
    tansu-sqlite|tansu-memory) engine="${broker#tansu-}"
      ./run-bench.sh "$broker" 127.0.0.1:19092 "./broker-tansu.sh start $engine" \
            "./broker-tansu.sh stop" "./broker-tansu.sh restart $engine" ;;
    *) echo "unknown broker $broker" >&2; exit 2 ;;
  esac
done
/tmp/hv/bin/python collect.py "$WORK/results.json" "${brokers[@]/#/results/}"
echo "results: $WORK/results.json and $WORK/results/"
