#!/usr/bin/env bash
# KV change -> applied live in both search replicas (no restart), ITERATIONS changes.
#   bench/supervisor/kv_apply.sh [ITERATIONS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
start_platform 2
"$PYTHON" "$bench_dir/kv_apply.py" "$REGISTRY_HTTP" "${1:-200}"
