"""Kills one search replica with SIGKILL and measures how long until the registry stops
routing to it: gone from /v1/health/service/search-service?passing and from DNS SRV.

usage: failover.py REGISTRY_HTTP REGISTRY_DNS VICTIM_PID VICTIM_PORT
Prints one JSON line: {"http_gone_ms": ..., "dns_gone_ms": ...}.
"""

import json
import os
import signal
import sys
import time
import urllib.request

import dns.resolver


def main(http, dns_addr, pid, port):
    host, dns_port = dns_addr.rsplit(":", 1)
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(dns_port)
    url = f"http://{http}/v1/health/service/search-service?passing"

    def in_http():
        with urllib.request.urlopen(url, timeout=2) as r:
            return any(e["Service"]["Port"] == port for e in json.load(r))

    def in_dns():
        try:
            answer = resolver.resolve("search-service.service.consul", "SRV")
        except dns.resolver.NXDOMAIN:
            return False
        return any(r.port == port for r in answer)

    assert in_http() and in_dns(), "the victim must be routable before the kill"
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    gone = {}
    while len(gone) < 2 and time.monotonic() - killed < 30:
        now = time.monotonic()
        if "http_gone_ms" not in gone and not in_http():
            gone["http_gone_ms"] = round((now - killed) * 1000, 1)
        if "dns_gone_ms" not in gone and not in_dns():
            gone["dns_gone_ms"] = round((now - killed) * 1000, 1)
        time.sleep(0.005)
    print(json.dumps(gone))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
