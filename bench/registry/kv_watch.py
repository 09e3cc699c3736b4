"""KV write -> watcher wake-up latency of a Consul-style registry (blocking queries).

The same measurement as ../shared/bench/kv-watch/etcd_watch_anchor.py, against
`GET /v1/kv/KEY?index=N`: one thread keeps a blocking query open on a key (keep-alive
connection, re-armed with the X-Consul-Index it got), the main thread PUTs new values
(`urllib`, one connection per PUT, as the anchor does) GAP ms apart; latency = the watcher's
answer carrying the value received - PUT sent. Prints one JSON line (p50/p99/max ms).

    python kv_watch.py HOST:PORT [--writes 2000] [--gap-ms 10]
"""
import argparse
import base64
import http.client
import json
import threading
import time
import urllib.request

KEY = "config/search/x"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("http", help="registry HTTP address, HOST:PORT")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--gap-ms", type=float, default=10.0)
    args = parser.parse_args()
    host, port = args.http.rsplit(":", 1)
    base = f"http://{args.http}"

    sent, lat, ready, done = {}, [], threading.Event(), threading.Event()
    at, started = [], [0.0]  # (seconds into the run, latency) for the slowest-wakeups list
    urllib.request.urlopen(urllib.request.Request(f"{base}/v1/kv/{KEY}", data=b"init", method="PUT"), timeout=5).read()
    wakeups = {"total": 0, "no_change": 0}

    def watch():
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("GET", f"/v1/kv/{KEY}")
        resp = conn.getresponse()
        resp.read()
        index = int(resp.getheader("X-Consul-Index"))
        ready.set()
        while not done.is_set():
            conn.request("GET", f"/v1/kv/{KEY}?index={index}&wait=30s")
            resp = conn.getresponse()
            body = resp.read()
            now = time.perf_counter()
            wakeups["total"] += 1
            new_index = int(resp.getheader("X-Consul-Index"))
            if new_index == index:
                wakeups["no_change"] += 1
                continue
            # Consul's rule: an index that goes backwards resets the watch.
            index = new_index if new_index > index else 0
            if resp.status != 200:
                continue
            value = base64.b64decode(json.loads(body)[0]["Value"] or "").decode()
            if value in sent:
                lat.append((now - sent.pop(value)) * 1000)
                at.append((now - started[0], lat[-1]))
            if len(lat) >= args.writes:
                done.set()

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    ready.wait(10)
    time.sleep(0.2)
    started[0] = time.perf_counter()
    for i in range(args.writes):
        value = f"v{i}"
        sent[value] = time.perf_counter()
        req = urllib.request.Request(f"{base}/v1/kv/{KEY}", data=value.encode(), method="PUT")
        urllib.request.urlopen(req, timeout=5).read()
        time.sleep(args.gap_ms / 1000)
    done.wait(15)
    elapsed = time.perf_counter() - started[0]
    lat.sort()
    q = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 3)
    print(json.dumps({
        "target": "tern registry blocking query /v1/kv",
        "writes": args.writes, "gap_ms": args.gap_ms, "events": len(lat),
        "missed": args.writes - len(lat), "wakeups": wakeups["total"],
        "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99), "max_ms": round(lat[-1], 3),
        "seconds": round(elapsed, 1),
        "slowest_at_s": sorted((round(t, 2) for t, ms in sorted(at, key=lambda x: -x[1])[:10])),
    }))


if __name__ == "__main__":
    main()
