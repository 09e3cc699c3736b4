#!/usr/bin/env bash
# DNS throughput of `tern registry` with dnsperf: 3 passing instances of search-service,
# A and SRV queries alternating, UDP on loopback.
#   bench/registry/dns.sh [SECONDS] [extra dnsperf args, default: -c 8 -T 2 -q 100]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds="${1:-10}"
shift || true
extra=("$@")
((${#extra[@]})) || extra=(-c 8 -T 2 -q 100)
command -v dnsperf >/dev/null || { echo "dnsperf missing: apt-get install dnsperf" >&2; exit 1; }

start_registry
for port in 50051 50052 50053; do
  curl -fsS -X PUT "http://$REGISTRY_HTTP/v1/agent/service/register" -d @- <<JSON
{"Name": "search-service", "ID": "search-service-$port", "Address": "127.0.0.1", "Port": $port,
 "Check": {"TTL": "10m", "Status": "passing"}}
JSON
done
printf 'search-service.service.consul A\nsearch-service.service.consul SRV\n' >"$work/queries.txt"
dig_port="${REGISTRY_DNS##*:}"
if command -v dig >/dev/null; then
  dig +short -p "$dig_port" @127.0.0.1 search-service.service.consul SRV >&2
fi
[[ -z "$REGISTRY_PID" ]] || echo "registry VmRSS before: $(rss_kib "$REGISTRY_PID") KiB" >&2
dnsperf -s 127.0.0.1 -p "$dig_port" -d "$work/queries.txt" -l "$seconds" "${extra[@]}"
[[ -z "$REGISTRY_PID" ]] || echo "registry VmRSS after: $(rss_kib "$REGISTRY_PID") KiB" >&2
if [[ -n "$REGISTRY_PID" ]] && grep -q "DNS .* failed" "$work/registry.err"; then
  echo "registry DNS errors: $(grep -c "DNS .* failed" "$work/registry.err")" >&2
  grep "DNS .* failed" "$work/registry.err" | head -n 3 >&2
fi
