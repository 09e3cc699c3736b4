// The npm `consul` package (a second client ecosystem) against tern's registry: register with
// a TTL check, pass it, read health and catalog, KV set/get/keys/delete. Prints one JSON line
// and exits 0 when every check passed.
//
// usage: node consul_node.js HOST PORT
"use strict";

const Consul = require("consul");

async function main(host, port) {
  const consul = new Consul({ host, port });
  const checks = {};

  await consul.agent.service.register({
    name: "node-compat",
    id: "node-compat-1",
    address: host,
    port,
    tags: ["js"],
    check: { ttl: "30s", name: "node ttl" },
  });
  const before = await consul.health.service({ service: "node-compat", passing: true });
  checks.ttl_starts_critical = before.length === 0;
  await consul.agent.check.pass({ id: "service:node-compat-1" });
  const after = await consul.health.service({ service: "node-compat", passing: true });
  checks.ttl_pass_makes_it_pass =
    after.length === 1 && after[0].Service.ID === "node-compat-1" && after[0].Service.Port === port;
  const services = await consul.catalog.service.list();
  checks.catalog_lists_tags = JSON.stringify(services["node-compat"]) === JSON.stringify(["js"]);

  checks.kv_set = (await consul.kv.set("node/a", "1")) === true;
  const entry = await consul.kv.get("node/a");
  checks.kv_get = entry !== undefined && entry.Value === "1";
  await consul.kv.set({ key: "node/b", value: "2", flags: 7 });
  const keys = await consul.kv.keys("node/");
  checks.kv_keys = JSON.stringify(keys) === JSON.stringify(["node/a", "node/b"]);
  // The client turns Consul's JSON `false` body into `undefined`, so check the value too.
  const stale = await consul.kv.set({ key: "node/a", value: "x", cas: entry.ModifyIndex + 1000 });
  checks.kv_cas_rejects_stale = stale !== true && (await consul.kv.get("node/a")).Value === "1";
  await consul.kv.del({ key: "node/", recurse: true });
  checks.kv_delete_recurse = (await consul.kv.get({ key: "node/", recurse: true })) === undefined;

  await consul.agent.service.deregister("node-compat-1");
  const remaining = await consul.agent.service.list();
  checks.deregistered = !("node-compat-1" in remaining);

  const ok = Object.values(checks).every(Boolean);
  console.log(JSON.stringify({ ok, checks }));
  return ok ? 0 : 1;
}

if (process.argv.length !== 4) {
  console.error("usage: node consul_node.js HOST PORT");
  process.exit(2);
}
main(process.argv[2], Number(process.argv[3])).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`error: ${err.stack || err}`);
    process.exit(1);
  },
);
