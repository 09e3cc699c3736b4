#!/usr/bin/env bash
# Start / stop tern's broker for ../shared/bench/kafka/run-bench.sh, bound to loopback only
# (the counterpart of that harness's broker-tansu.sh).
#
#   broker-tern.sh start [PORT]     fresh data dir (unless KEEP_DATA=1); waits for the port
#   broker-tern.sh stop
#   broker-tern.sh restart [PORT]   stop + start keeping the data
#
# Env: TERN (binary, default target/release/tern), TERN_BENCH_DATA (default
# /tmp/tern-broker-bench), FLUSH (always|os|INTERVAL, default always: durable).
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
TERN="${TERN:-${CARGO_TARGET_DIR:-$root/target}/release/tern}"
DATA="${TERN_BENCH_DATA:-/tmp/tern-broker-bench}"
cmd="${1:?start|stop|restart}"
mkdir -p "$DATA"
case "$cmd" in
  start)
    port="${2:-29092}"
    [ "${KEEP_DATA:-0}" = 1 ] || rm -rf "$DATA/broker"
    if [ -f "$DATA/broker.pid" ] && kill -0 "$(cat "$DATA/broker.pid")" 2>/dev/null; then
      echo "a broker is already running (pid $(cat "$DATA/broker.pid"))" >&2; exit 1
    fi
    nohup "$TERN" broker --listen "127.0.0.1:$port" --data-dir "$DATA" \
      --flush "${FLUSH:-always}" >>"$DATA/broker.log" 2>&1 &
    echo $! >"$DATA/broker.pid"
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then cat "$DATA/broker.pid"; exit 0; fi
      if ! kill -0 "$(cat "$DATA/broker.pid")" 2>/dev/null; then
        echo "broker exited:" >&2; tail -20 "$DATA/broker.log" >&2; exit 1
      fi
      sleep 0.1
    done
    echo "broker did not open port $port in 10 s" >&2; exit 1 ;;
  stop)
    if [ -f "$DATA/broker.pid" ]; then
      pid="$(cat "$DATA/broker.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$DATA/broker.pid"
    fi ;;
  restart)
    "$0" stop
    KEEP_DATA=1 exec "$0" start "${2:-29092}" ;;
  *) echo "usage: $0 start [PORT] | stop | restart [PORT]" >&2; exit 2 ;;
esac
