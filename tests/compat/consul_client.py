"""The stock Python Consul client (py-consul) against tern's registry.

Registers services with TCP, HTTP and TTL checks and waits for them to pass, puts the node
and a service into maintenance and back (py-consul sends `enable=True`), exercises the
KV store (put/get/recurse/keys/cas/delete) and a blocking KV read that must return as soon
as the key changes. Prints one JSON line and exits 0 when every check passed.

Then the original design's server registration, exactly: no address and
`Check.tcp("", port, "30s")` (a target without a host, which Consul dials as its own
machine) against a socket this script listens on. The check must pass long before its
first 30 s interval is over (tern runs a new check at once), the catalog and health
answers must carry an empty service address beside the node's, and dnspython must
resolve the service (SRV, with the node's A record as additional, and A) to 127.0.0.1.
The check and registration defaults py-consul relies on are checked along the way.

usage: consul_client.py HOST PORT DNS_PORT
The registry's own HTTP port doubles as the TCP and HTTP check target.
"""

import json
import socket
import sys
import threading
import time

import consul
import consul.exceptions
import dns.rdatatype
import dns.resolver


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


def listen():
    """A loopback listener accepting (and closing) connections in the background."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            conn, _ = server.accept()
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def original_registration(c, checks, host, dns_port):
    """The original server's registration, exactly, and its lookups over HTTP and DNS."""
    port = listen()
    service_id = f"compat-original-{port}"
    registered = time.monotonic()
    c.agent.service.register("compat-original", service_id=service_id, port=port,
                             check=consul.Check.tcp("", port, "30s"))
    # Consul itself waits a random part of the interval before a check's first run;
    # tern runs it at once, so this deadline is well inside the first 30 s.
    checks["original_passes_before_first_interval"] = (
        wait_until("original check", lambda: passing(c, "compat-original"), timeout=10)
        and time.monotonic() - registered < 30)
    check = c.agent.checks().get(f"service:{service_id}", {})
    checks["original_check_shape"] = (
        check.get("Name") == "Service 'compat-original' check"
        and check.get("Type") == "tcp"
        and check.get("Interval") == "30s"
        and check.get("Timeout") == ""
        and check.get("Definition", {}).get("TCP") == f":{port}"
        and check.get("Output") == f"TCP connect 127.0.0.1:{port}: Success")
    _, catalog = c.catalog.service("compat-original")
    entry = catalog[0] if catalog else {}
    checks["original_catalog_addresses"] = (entry.get("ServiceAddress") == ""
                                            and entry.get("Address") == "127.0.0.1"
                                            and entry.get("ServicePort") == port)
    _, nodes = c.health.service("compat-original", passing=True)
    node = nodes[0] if nodes else {}
    checks["original_health_addresses"] = (node.get("Service", {}).get("Address") == ""
                                           and node.get("Node", {}).get("Address") == "127.0.0.1")
    checks["original_agent_address"] = c.agent.services().get(service_id, {}).get("Address") == ""

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = dns_port
    resolver.lifetime = 10
    srv = resolver.resolve("compat-original.service.consul", "SRV")
    checks["original_dns_srv"] = [(rr.port, rr.target.to_text()) for rr in srv] == [
        (port, "tern.node.dc1.consul.")]
    checks["original_dns_srv_additional_a"] = [
        (rrset.name.to_text(), rr.address)
        for rrset in srv.response.additional if rrset.rdtype == dns.rdatatype.A
        for rr in rrset] == [("tern.node.dc1.consul.", "127.0.0.1")]
    a = resolver.resolve("compat-original.service.consul", "A")
    checks["original_dns_a"] = [rr.address for rr in a] == ["127.0.0.1"]
    c.agent.service.deregister(service_id)


def empty_host_targets(c, checks, port):
    """TCP and HTTP targets without a host, and other defaults py-consul leaves to Consul."""
    tcp_port = listen()
    c.agent.service.register("compat-empty", service_id="compat-empty-tcp", port=tcp_port,
                             check=consul.Check.tcp("", tcp_port, "1s", deregister="90s"))
    checks["empty_host_tcp_passes"] = wait_until(
        "tcp check of :PORT", lambda: passing(c, "compat-empty"))
    definition = c.agent.checks().get("service:compat-empty-tcp", {}).get("Definition", {})
    checks["deregister_after_kept"] = definition.get("DeregisterCriticalServiceAfter") == "1m30s"
    c.agent.service.deregister("compat-empty-tcp")

    # Timeout omitted: Consul's 10 s default; two checks are numbered service:ID:1, :2.
    c.agent.service.register(
        "compat-empty", service_id="compat-empty-http", port=port,
        check=consul.Check.http(f"http://:{port}/v1/status/leader", "1s"),
        extra_checks=[consul.Check.tcp("", port, "1s")])
    checks["empty_host_http_passes"] = wait_until(
        "http check of http://:PORT", lambda: passing(c, "compat-empty"))
    agent_checks = c.agent.checks()
    checks["checks_list_numbered"] = (
        agent_checks.get("service:compat-empty-http:1", {}).get("Type") == "http"
        and agent_checks.get("service:compat-empty-http:2", {}).get("Type") == "tcp"
        and agent_checks["service:compat-empty-http:1"]["Name"] == "Service 'compat-empty' check")
    c.agent.service.deregister("compat-empty-http")

    try:
        c.agent.service.register("compat-script", check=consul.Check.script(["true"], "1s"))
        checks["script_check_refused"] = False
    except consul.exceptions.BadRequest as error:
        checks["script_check_refused"] = "Args checks are not supported" in str(error)
    # A never-registered ID: 404 from the agent, which py-consul reports as False.
    checks["deregister_unknown_is_false"] = c.agent.service.deregister("compat-never") is False


def main(host, port, dns_port):
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

    original_registration(c, checks, host, dns_port)
    empty_host_targets(c, checks, port)

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
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
