"""The original design's way to reach a service: dnspython asks the registry's DNS for
search-service.service.consul (SRV for the ports, the A records of the targets from the
additional section, as the 2016 post's client did), then calls Search.search over gRPC on
every instance found. Prints one JSON object: the instances ("IP:PORT", sorted) and what
each answered for a point; exits 0 when every instance answered.

usage: search_dns_client.py DNS_HOST DNS_PORT LAT LNG
(search_pb2 / search_pb2_grpc on PYTHONPATH, generated from proto/search.proto)
"""

import json
import sys

import dns.rdatatype
import dns.resolver
import grpc

import search_pb2
import search_pb2_grpc


def instances(host, port):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port
    resolver.lifetime = 10
    srv = resolver.resolve("search-service.service.consul", "SRV")
    addresses = {
        rrset.name.to_text(): rr.address
        for rrset in srv.response.additional
        if rrset.rdtype == dns.rdatatype.A
        for rr in rrset
    }
    found = []
    for rr in srv:
        target = rr.target.to_text()
        ip = addresses.get(target) or resolver.resolve(target, "A")[0].address
        found.append(f"{ip}:{rr.port}")
    return sorted(found)


def main():
    host, port, lat, lng = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    found = instances(host, port)
    answers = {}
    for target in found:
        with grpc.insecure_channel(target) as channel:
            stub = search_pb2_grpc.SearchStub(channel)
            reply = stub.search(search_pb2.SearchRequest(lat=lat, lng=lng), timeout=10)
            answers[target] = [r.response for r in reply.responses]
    print(json.dumps({"instances": found, "answers": answers}, sort_keys=True))


if __name__ == "__main__":
    main()
