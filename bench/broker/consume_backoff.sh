#!/usr/bin/env bash
# Produces the harness's 1M x 100 B topic into a fresh durable tern broker, then reads it
# with consume_backoff.py: librdkafka's default queue backoff versus 10 ms (see that file).
#
#   bench/broker/consume_backoff.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="$(cd "$here/../../../shared/bench/kafka" && pwd)"
state="$(mktemp)"
trap 'rm -f "$state"; "$here/broker-tern.sh" stop' EXIT
"$here/broker-tern.sh" start 29092 >/dev/null
(cd "$shared" && /tmp/hv/bin/python perf.py --bootstrap 127.0.0.1:29092 --large-count 1000 \
   --state "$state" --keep-topics produce >/dev/null 2>&1)
topic="$(/tmp/hv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["topics"][0]["topic"])' "$state")"
/tmp/hv/bin/python "$here/consume_backoff.py" 127.0.0.1:29092 "$topic" 1000000
