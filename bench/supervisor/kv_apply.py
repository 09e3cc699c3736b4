"""KV change -> applied in every replica: PUT config/search/log_level (alternating info and
debug), then wait (blocking queries) until each replica's live-config status key
`tern/status/ID/config` reports an index at or past the change. Prints p50/p99/max.

    python kv_apply.py REGISTRY_HTTP ITERATIONS
"""

import http.client
import json
import sys
import time


def request(conn, method, path, body=None):
    conn.request(method, path, body=body)
    response = conn.getresponse()
    data = response.read()
    return response.status, response.getheader("X-Consul-Index"), data


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    iterations = int(sys.argv[2])
    conn = http.client.HTTPConnection(host, int(port))
    status, _, body = request(conn, "GET", "/v1/health/service/search-service?passing")
    ids = [entry["Service"]["ID"] for entry in json.loads(body)]
    assert ids, "no passing search-service instance"
    watchers = {i: http.client.HTTPConnection(host, int(port)) for i in ids}
    latencies = []
    for n in range(iterations + 10):
        value = b"debug" if n % 2 else b"info"
        start = time.perf_counter()
        status, _, _ = request(conn, "PUT", "/v1/kv/config/search/log_level", value)
        assert status == 200
        _, _, body = request(conn, "GET", "/v1/kv/config/search/log_level")
        changed_at = json.loads(body)[0]["ModifyIndex"]
        for instance, watcher in watchers.items():
            index = 0
            while True:
                status, header, body = request(
                    watcher,
                    "GET",
                    f"/v1/kv/tern/status/{instance}/config?index={index}&wait=5s",
                )
                index = int(header or 0)
                if status == 200:
                    reported = json.loads(
                        __import__("base64").b64decode(json.loads(body)[0]["Value"])
                    )
                    if reported["state"] == "applied" and reported["index"] >= changed_at:
                        break
        elapsed = time.perf_counter() - start
        if n >= 10:  # warm-up
            latencies.append(elapsed * 1000)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(
        f"kv change -> applied in {len(ids)} replicas, {len(latencies)} changes: "
        f"p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, max {latencies[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
