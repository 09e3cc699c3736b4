//! `/v1/catalog/*`, `/v1/health/*`, `/v1/status/*`, `/v1/prometheus/sd`.

use crate::Api;
use expect_test::expect;
use serde_json::json;

async fn two_webs_and_a_db() -> Api {
    let api = Api::new();
    api.register(
        json!({"Name": "web", "ID": "w1", "Port": 80, "Tags": ["blue", "v1"],
                        "Meta": {"zone": "a"}, "Check": {"TTL": "1m", "Status": "passing"}}),
    )
    .await;
    api.register(json!({"Name": "web", "ID": "w2", "Address": "10.0.0.2", "Port": 81, "Tags": ["green", "v1"],
                        "Check": {"TTL": "1m"}}))
        .await;
    api.register(json!({"Name": "db", "ID": "db1", "Port": 5432}))
        .await;
    api
}

#[tokio::test]
async fn catalog_services_nodes_and_datacenters() {
    let api = two_webs_and_a_db().await;
    let services = api.get("/v1/catalog/services").await.ok();
    assert_eq!(
        services.json(),
        json!({"db": [], "web": ["blue", "green", "v1"]})
    );
    assert!(services.index() >= 4);
    assert_eq!(services.headers["x-consul-knownleader"], "true");
    assert_eq!(services.headers["x-consul-lastcontact"], "0");
    assert_eq!(
        api.get("/v1/catalog/datacenters").await.ok().json(),
        json!(["dc1"])
    );

    let nodes = api.get("/v1/catalog/nodes").await.ok();
    expect![[r#"
        [
          {
            "Address": "127.0.0.1",
            "CreateIndex": 1,
            "Datacenter": "dc1",
            "ID": "NODE-ID",
            "Meta": {},
            "ModifyIndex": 1,
            "Node": "tern",
            "TaggedAddresses": {
              "lan": "127.0.0.1",
              "lan_ipv4": "127.0.0.1",
              "wan": "127.0.0.1",
              "wan_ipv4": "127.0.0.1"
            }
          }
        ]"#]]
    .assert_eq(&without_node_id(&api, nodes.pretty()));
    let node = api.get("/v1/catalog/node/tern").await.ok().json();
    assert_eq!(node["Node"]["Node"], "tern");
    let ids: Vec<_> = node["Services"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(ids, ["db1", "w1", "w2"]);
    assert_eq!(node["Services"]["w2"]["Address"], "10.0.0.2");
    assert_eq!(
        api.get("/v1/catalog/node/other").await.ok().json(),
        json!(null)
    );
}

fn without_node_id(api: &Api, text: String) -> String {
    text.replace(&api.handle.local_node().id, "NODE-ID")
}

#[tokio::test]
async fn catalog_service_with_tags() {
    let api = two_webs_and_a_db().await;
    let web = api.get("/v1/catalog/service/web?tag=blue").await.ok();
    expect![[r#"
        [
          {
            "Address": "127.0.0.1",
            "CreateIndex": 2,
            "Datacenter": "dc1",
            "ID": "NODE-ID",
            "ModifyIndex": 2,
            "Node": "tern",
            "NodeMeta": {},
            "ServiceAddress": "",
            "ServiceEnableTagOverride": false,
            "ServiceID": "w1",
            "ServiceKind": "",
            "ServiceMeta": {
              "zone": "a"
            },
            "ServiceName": "web",
            "ServicePort": 80,
            "ServiceTags": [
              "blue",
              "v1"
            ],
            "ServiceWeights": {
              "Passing": 1,
              "Warning": 1
            },
            "TaggedAddresses": {
              "lan": "127.0.0.1",
              "lan_ipv4": "127.0.0.1",
              "wan": "127.0.0.1",
              "wan_ipv4": "127.0.0.1"
            }
          }
        ]"#]]
    .assert_eq(&without_node_id(&api, web.pretty()));
    let ids = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["ServiceID"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(api.get("/v1/catalog/service/web").await.json()),
        ["w1", "w2"]
    );
    assert_eq!(
        ids(api
            .get("/v1/catalog/service/web?tag=v1&tag=green")
            .await
            .json()),
        ["w2"]
    );
    assert_eq!(
        ids(api
            .get("/v1/catalog/service/web?tag=v1&tag=nope")
            .await
            .json()),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(api.get("/v1/catalog/service/WEB?tag=GREEN").await.json()),
        ["w2"],
        "case-insensitive"
    );
    let unknown = api.get("/v1/catalog/service/nope").await.ok();
    assert_eq!(unknown.json(), json!([]));
    assert!(unknown.index() >= 1);
}

#[tokio::test]
async fn health_service_entries() {
    let api = two_webs_and_a_db().await;
    let web = api
        .get("/v1/health/service/web?passing&tag=blue")
        .await
        .ok();
    expect![[r#"
        [
          {
            "Checks": [
              {
                "CheckID": "serfHealth",
                "CreateIndex": 1,
                "Definition": {},
                "ExposedPort": 0,
                "Interval": "",
                "ModifyIndex": 1,
                "Name": "Serf Health Status",
                "Node": "tern",
                "Notes": "",
                "Output": "Agent alive and reachable",
                "ServiceID": "",
                "ServiceName": "",
                "ServiceTags": [],
                "Status": "passing",
                "Timeout": "",
                "Type": ""
              },
              {
                "CheckID": "service:w1",
                "CreateIndex": 2,
                "Definition": {},
                "ExposedPort": 0,
                "Interval": "",
                "ModifyIndex": 2,
                "Name": "Service 'web' check",
                "Node": "tern",
                "Notes": "",
                "Output": "",
                "ServiceID": "w1",
                "ServiceName": "web",
                "ServiceTags": [
                  "blue",
                  "v1"
                ],
                "Status": "passing",
                "Timeout": "",
                "Type": "ttl"
              }
            ],
            "Node": {
              "Address": "127.0.0.1",
              "CreateIndex": 1,
              "Datacenter": "dc1",
              "ID": "NODE-ID",
              "Meta": {},
              "ModifyIndex": 1,
              "Node": "tern",
              "TaggedAddresses": {
                "lan": "127.0.0.1",
                "lan_ipv4": "127.0.0.1",
                "wan": "127.0.0.1",
                "wan_ipv4": "127.0.0.1"
              }
            },
            "Service": {
              "Address": "",
              "CreateIndex": 2,
              "EnableTagOverride": false,
              "ID": "w1",
              "Meta": {
                "zone": "a"
              },
              "ModifyIndex": 2,
              "Port": 80,
              "Service": "web",
              "Tags": [
                "blue",
                "v1"
              ],
              "Weights": {
                "Passing": 1,
                "Warning": 1
              }
            }
          }
        ]"#]]
    .assert_eq(&without_node_id(&api, web.pretty()));
    let all = api.get("/v1/health/service/web").await.ok().json();
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "without ?passing critical instances are listed"
    );
    let passing = api.get("/v1/health/service/web?passing=1").await.json();
    assert_eq!(passing.as_array().unwrap().len(), 1);
    let not_only_passing = api.get("/v1/health/service/web?passing=False").await;
    assert_eq!(not_only_passing.ok().json().as_array().unwrap().len(), 2);
    let invalid = api.get("/v1/health/service/web?passing=maybe").await;
    assert_eq!(
        (invalid.status.as_u16(), invalid.text()),
        (400, r#"Invalid value for passing: "maybe""#.into())
    );
    let db = api.get("/v1/health/service/db?passing").await.json();
    assert_eq!(
        db[0]["Checks"].as_array().unwrap().len(),
        1,
        "only serfHealth: passing"
    );
}

#[tokio::test]
async fn health_checks_state_and_node() {
    let api = two_webs_and_a_db().await;
    let ids = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["CheckID"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(api.get("/v1/health/checks/web").await.ok().json()),
        ["service:w1", "service:w2"]
    );
    assert_eq!(
        ids(api.get("/v1/health/state/critical").await.ok().json()),
        ["service:w2"]
    );
    assert_eq!(
        ids(api.get("/v1/health/state/passing").await.ok().json()),
        ["serfHealth", "service:w1"]
    );
    assert!(ids(api.get("/v1/health/state/warning").await.ok().json()).is_empty());
    assert_eq!(
        ids(api.get("/v1/health/state/any").await.ok().json()).len(),
        3
    );
    assert_eq!(
        ids(api.get("/v1/health/node/tern").await.ok().json()).len(),
        3
    );
    assert!(ids(api.get("/v1/health/node/other").await.ok().json()).is_empty());
    let bad = api.get("/v1/health/state/green").await;
    assert_eq!(
        (bad.status.as_u16(), bad.text()),
        (400, "Bad check state".into())
    );
}

#[tokio::test]
async fn status_leader_and_peers() {
    let api = Api::new();
    assert_eq!(
        api.get("/v1/status/leader").await.ok().json(),
        json!("127.0.0.1:8300")
    );
    assert_eq!(
        api.get("/v1/status/peers").await.ok().json(),
        json!(["127.0.0.1:8300"])
    );
}

#[tokio::test]
async fn prometheus_http_sd() {
    let api = two_webs_and_a_db().await;
    let sd = api.get("/v1/prometheus/sd?service=web").await.ok();
    expect![[r#"
        [
          {
            "labels": {
              "__meta_consul_address": "127.0.0.1",
              "__meta_consul_dc": "dc1",
              "__meta_consul_health": "passing",
              "__meta_consul_node": "tern",
              "__meta_consul_service": "web",
              "__meta_consul_service_address": "",
              "__meta_consul_service_id": "w1",
              "__meta_consul_service_metadata_zone": "a",
              "__meta_consul_service_port": "80",
              "__meta_consul_tagged_address_lan": "127.0.0.1",
              "__meta_consul_tagged_address_lan_ipv4": "127.0.0.1",
              "__meta_consul_tagged_address_wan": "127.0.0.1",
              "__meta_consul_tagged_address_wan_ipv4": "127.0.0.1",
              "__meta_consul_tags": ",blue,v1,"
            },
            "targets": [
              "127.0.0.1:80"
            ]
          },
          {
            "labels": {
              "__meta_consul_address": "127.0.0.1",
              "__meta_consul_dc": "dc1",
              "__meta_consul_health": "critical",
              "__meta_consul_node": "tern",
              "__meta_consul_service": "web",
              "__meta_consul_service_address": "10.0.0.2",
              "__meta_consul_service_id": "w2",
              "__meta_consul_service_port": "81",
              "__meta_consul_tagged_address_lan": "127.0.0.1",
              "__meta_consul_tagged_address_lan_ipv4": "127.0.0.1",
              "__meta_consul_tagged_address_wan": "127.0.0.1",
              "__meta_consul_tagged_address_wan_ipv4": "127.0.0.1",
              "__meta_consul_tags": ",green,v1,"
            },
            "targets": [
              "10.0.0.2:81"
            ]
          }
        ]"#]]
    .assert_eq(&sd.pretty());
    let targets = |uri: &'static str| {
        let api = api.clone();
        async move {
            let groups = api.get(uri).await.ok().json();
            groups
                .as_array()
                .expect("an array of target groups")
                .iter()
                .map(|g| g["targets"][0].clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        targets("/v1/prometheus/sd").await,
        [
            json!("127.0.0.1:5432"),
            json!("127.0.0.1:80"),
            json!("10.0.0.2:81")
        ],
        "every instance, as consul_sd, critical ones included"
    );
    assert_eq!(
        targets("/v1/prometheus/sd?passing").await,
        [json!("127.0.0.1:5432"), json!("127.0.0.1:80")]
    );
}
