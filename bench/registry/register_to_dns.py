"""Register -> DNS latency of a Consul-style registry.

For each of N registrations: `PUT /v1/agent/service/register` of a new service `reg-I`
(address 127.1.X.Y, a TTL check with Status passing, so it is answerable at once); once the
PUT has returned, `reg-I.service.consul A` is asked over UDP in a tight loop until the answer
holds the address. latency = first such answer received - PUT returned (the time a
client that was told "registered" may still get NXDOMAIN). The PUT's own duration is
reported too. Prints one JSON line.

    python register_to_dns.py HTTP_HOST:PORT DNS_HOST:PORT [--count 200]
"""
import argparse
import http.client
import json
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("http")
    parser.add_argument("dns")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--prefix", default=f"reg{int(time.time())}")
    args = parser.parse_args()
    host, port = args.http.rsplit(":", 1)
    dns_host, dns_port = args.dns.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)

    visible, put_ms, polls, rcodes_before = [], [], [], {}
    for i in range(args.count):
        name = f"{args.prefix}-{i}"
        address = f"127.1.{i // 250}.{i % 250 + 1}"
        body = json.dumps({
            "Name": name, "ID": name, "Address": address, "Port": 8080,
            "Check": {"TTL": "10m", "Status": "passing"},
        })
        query = dns.message.make_query(f"{name}.service.consul.", dns.rdatatype.A)
        t0 = time.perf_counter()
        conn.request("PUT", "/v1/agent/service/register", body=body,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        t1 = time.perf_counter()
        if resp.status != 200:
            raise SystemExit(f"register {name}: HTTP {resp.status}")
        n = 0
        while True:
            n += 1
            answer = dns.query.udp(query, dns_host, port=int(dns_port), timeout=1)
            t2 = time.perf_counter()
            if any(rr.address == address for rrset in answer.answer for rr in rrset
                   if rrset.rdtype == dns.rdatatype.A):
                break
            code = dns.rcode.to_text(answer.rcode())
            rcodes_before[code] = rcodes_before.get(code, 0) + 1
            if t2 - t1 > 5:
                raise SystemExit(f"{name} not in DNS 5 s after registration")
        put_ms.append((t1 - t0) * 1000)
        visible.append((t2 - t1) * 1000)
        polls.append(n)

    def q(xs, p):
        xs = sorted(xs)
        return round(xs[min(len(xs) - 1, int(p * len(xs)))], 3)

    print(json.dumps({
        "registrations": args.count,
        "visible_p50_ms": q(visible, 0.5), "visible_p99_ms": q(visible, 0.99),
        "visible_max_ms": round(max(visible), 3),
        "first_query_answered": sum(1 for n in polls if n == 1),
        "answers_before_visible": rcodes_before,
        "put_p50_ms": q(put_ms, 0.5), "put_p99_ms": q(put_ms, 0.99),
    }))


if __name__ == "__main__":
    main()
