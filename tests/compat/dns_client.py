"""dnspython, the original design's DNS client, against tern's Consul-style DNS interface.

Resolves search-service.service.consul for A and SRV (with the SRV targets' addresses from
the additional section), a missing service, and a 40-instance service without EDNS (the UDP
answer is truncated, so dnspython must retry over TCP). Prints one JSON object.

usage: dns_client.py HOST PORT
"""

import json
import sys

import dns.flags
import dns.rdatatype
import dns.resolver


def resolver_for(host, port):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port
    resolver.lifetime = 10
    return resolver


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    resolver = resolver_for(host, port)
    name = "search-service.service.consul"

    a = resolver.resolve(name, "A")
    srv = resolver.resolve(name, "SRV")
    out = {
        "a": sorted(rr.address for rr in a),
        "a_authoritative": bool(a.response.flags & dns.flags.AA),
        "srv": sorted(
            f"{rr.priority} {rr.weight} {rr.port} {rr.target.to_text()}" for rr in srv
        ),
        "srv_additional": sorted(
            f"{rrset.name.to_text()} {rr.address}"
            for rrset in srv.response.additional
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            for rr in rrset
        ),
    }

    try:
        resolver.resolve("missing.service.consul", "A")
        out["missing"] = "answered"
    except dns.resolver.NXDOMAIN:
        out["missing"] = "NXDOMAIN"

    plain = resolver_for(host, port)
    plain.use_edns(False)
    big = plain.resolve("big.service.consul", "A")
    out["big_a"] = len(big)

    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
