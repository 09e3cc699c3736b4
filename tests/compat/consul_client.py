"""The stock Python Consul client (py-consul) against tern's registry.

Registers services with TCP, HTTP and TTL checks and waits for them to pass, puts the node
and a service into maintenance and back (py-consul sends `enable=True`), exercises the
KV store (put/get/recurse/keys/cas/delete) and a blocking KV read that must return as soon
as the key changes. Prints one JSON line and exits 0 when every check passed.

usage: consul_client.py HOST PORT
The registry's own HTTP port doubles as the TCP and HTTP check target.
"""

import json
import sys
import threading
import time

import consul


def wait_until(what, condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return True
        time.sleep(0.05)
    print(f"timed out waiting for {what}; last: {last!r}", file=sys.stderr)
    return False


def passing(c, name):
    _, nodes = c.health.service(name, passing=True)
    return len(nodes) == 1


def main(host, port):
    c = consul.Consul(host=host, port=port)
    checks = {}

    c.agent.service.register("compat-tcp", service_id="compat-tcp-1", address=host, port=port,
                             tags=["v1"], check=consul.Check.tcp(host, port, "1s", timeout="1s"))
    checks["tcp_check_passes"] = wait_until("tcp check", lambda: passing(c, "compat-tcp"))

    url = f"http://{host}:{port}/v1/status/leader"
    c.agent.service.register("compat-http", service_id="compat-http-1", address=host, port=port,
                             meta={"team": "geo"}, check=consul.Check.http(url, "1s", timeout="1s"))
    checks["http_check_passes"] = wait_until("http check", lambda: passing(c, "compat-http"))

    c.agent.service.register("compat-ttl", service_id="compat-ttl-1", address=host, port=port,
                             check=consul.Check.ttl("30s"))
    checks["ttl_starts_critical"] = not passing(c, "compat-ttl")
    c.agent.check.ttl_pass("service:compat-ttl-1")
    checks["ttl_pass_makes_it_pass"] = wait_until("ttl pass", lambda: passing(c, "compat-ttl"))

    _, nodes = c.health.service("compat-tcp", passing=True)
    service = nodes[0]["Service"] if nodes else {}
    checks["health_shape"] = (service.get("ID") == "compat-tcp-1" and service.get("Port") == port
                              and service.get("Tags") == ["v1"] and "Node" in nodes[0]
                              and isinstance(nodes[0].get("Checks"), list))
    _, catalog = c.catalog.service("compat-http")
    checks["catalog_meta"] = bool(catalog) and catalog[0].get("ServiceMeta") == {"team": "geo"}

    # py-consul sends enable=True / enable=False: Go's ParseBool forms, as Consul reads them.
    checks["node_maintenance_enable"] = c.agent.maintenance(True, "compat node") is True
    node_maint = c.agent.checks().get("_node_maintenance", {})
    checks["node_maintenance_critical"] = (node_maint.get("Status") == "critical"
                                           and node_maint.get("Name") == "Node Maintenance Mode"
                                           and node_maint.get("Notes") == "compat node"
                                           and not passing(c, "compat-tcp"))
    checks["node_maintenance_disable"] = c.agent.maintenance(False) is True
    checks["node_maintenance_removed"] = ("_node_maintenance" not in c.agent.checks()
                                          and passing(c, "compat-tcp"))

    enabled = c.agent.service.maintenance("compat-tcp-1", True, "compat service")
    checks["service_maintenance_enable"] = enabled is True
    service_maint = c.agent.checks().get("_service_maintenance:compat-tcp-1", {})
    checks["service_maintenance_critical"] = (
        service_maint.get("Status") == "critical"
        and service_maint.get("Name") == "Service Maintenance Mode"
        and service_maint.get("ServiceID") == "compat-tcp-1"
        and service_maint.get("Notes") == "compat service"
        and not passing(c, "compat-tcp") and passing(c, "compat-http"))
    disabled = c.agent.service.maintenance("compat-tcp-1", False)
    checks["service_maintenance_disable"] = disabled is True
    checks["service_maintenance_removed"] = (
        "_service_maintenance:compat-tcp-1" not in c.agent.checks()
        and passing(c, "compat-tcp"))

    checks["kv_put"] = c.kv.put("compat/a", "1") is True
    _, entry = c.kv.get("compat/a")
    checks["kv_get"] = entry is not None and entry["Value"] == b"1"
    c.kv.put("compat/b/c", "2", flags=42)
    _, entries = c.kv.get("compat/", recurse=True)
    checks["kv_recurse"] = [e["Key"] for e in entries or []] == ["compat/a", "compat/b/c"]
    checks["kv_flags"] = any(e["Flags"] == 42 for e in entries or [])
    _, keys = c.kv.get("compat/", keys=True, separator="/")
    checks["kv_keys_separator"] = keys == ["compat/a", "compat/b/"]
    modify_index = entry["ModifyIndex"] if entry else 0
    checks["kv_cas_rejects_stale"] = c.kv.put("compat/a", "x", cas=modify_index + 1000) is False
    checks["kv_cas_accepts_current"] = c.kv.put("compat/a", "2", cas=modify_index) is True
    _, entry = c.kv.get("compat/a")
    checks["kv_delete_cas"] = c.kv.delete("compat/a", cas=entry["ModifyIndex"]) is True
    c.kv.delete("compat/", recurse=True)
    _, gone = c.kv.get("compat/", recurse=True)
    checks["kv_delete_recurse"] = gone is None

    c.kv.put("compat/watch", "before")
    index, _ = c.kv.get("compat/watch")
    result = {}

    def blocking_read():
        started = time.monotonic()
        _, changed = c.kv.get("compat/watch", index=index, wait="20s")
        result["value"] = changed["Value"] if changed else None
        result["seconds"] = time.monotonic() - started

    reader = threading.Thread(target=blocking_read)
    reader.start()
    time.sleep(0.3)  # let the read reach the server and block; correctness does not depend on it
    c.kv.put("compat/watch", "after")
    reader.join(timeout=25)
    checks["blocking_read_returns_on_change"] = (result.get("value") == b"after"
                                                 and result.get("seconds", 99) < 10)

    for service_id in ("compat-tcp-1", "compat-http-1", "compat-ttl-1"):
        c.agent.service.deregister(service_id)
    checks["deregistered"] = not any(
        name.startswith("compat-") for name in c.agent.services())
    c.kv.delete("compat/", recurse=True)

    ok = all(checks.values())
    print(json.dumps({"ok": ok, "checks": checks}))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
