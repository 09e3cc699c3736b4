#!/usr/bin/env bash
# All registry benchmarks on one `tern registry`, with its idle RSS before and after:
# dns.sh, kv_watch.sh, register_to_dns.sh. Build first: cargo build --release -p tern.
#   bench/registry/run.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
start_registry
pid="$REGISTRY_PID"
sleep 1
echo "{\"idle_rss_after_start_kib\": $(rss_kib "$pid")}"
"$bench_dir/dns.sh" 10
"$bench_dir/register_to_dns.sh" 200
# kv_watch.sh last: with a registry to reuse it skips its crash/restart durability step.
"$bench_dir/kv_watch.sh" 2000 10
sleep 2
echo "{\"idle_rss_after_benchmarks_kib\": $(rss_kib "$pid")}"
