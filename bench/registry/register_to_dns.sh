#!/usr/bin/env bash
# Register -> DNS answer latency of `tern registry` (register_to_dns.py).
#   bench/registry/register_to_dns.sh [COUNT]    (default 200)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
start_registry
"$PYTHON" "$bench_dir/register_to_dns.py" "$REGISTRY_HTTP" "$REGISTRY_DNS" --count "${1:-200}"
