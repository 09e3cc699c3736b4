//! `/v1/agent/*`.

use crate::Api;
use expect_test::expect;
use serde_json::json;

#[tokio::test]
async fn register_list_get_and_deregister_a_service() {
    let api = Api::new();
    api.register(json!({
        "Name": "web",
        "ID": "web-8080",
        "Tags": ["primary", "v1"],
        "Address": "10.0.0.5",
        "Port": 8080,
        "Meta": {"version": "1.2"},
        "Check": {"HTTP": "http://10.0.0.5:8080/health", "Interval": "10s", "Timeout": "1s",
                  "Header": {"X-A": ["b"]}, "Method": "HEAD", "TLSSkipVerify": true},
    }))
    .await;
    let services = api.get("/v1/agent/services").await.ok();
    expect![[r#"
        {
          "web-8080": {
            "Address": "10.0.0.5",
            "CreateIndex": 2,
            "Datacenter": "dc1",
            "EnableTagOverride": false,
            "ID": "web-8080",
            "Meta": {
              "version": "1.2"
            },
            "ModifyIndex": 2,
            "Port": 8080,
            "Service": "web",
            "Tags": [
              "primary",
              "v1"
            ],
            "Weights": {
              "Passing": 1,
              "Warning": 1
            }
          }
        }"#]]
    .assert_eq(&services.pretty());
    let one = api.get("/v1/agent/service/web-8080").await.ok();
    assert_eq!(one.json(), services.json()["web-8080"]);

    let checks = api.get("/v1/agent/checks").await.ok();
    expect![[r#"
        {
          "service:web-8080": {
            "CheckID": "service:web-8080",
            "CreateIndex": 2,
            "Definition": {
              "HTTP": "http://10.0.0.5:8080/health",
              "Header": {
                "X-A": [
                  "b"
                ]
              },
              "Interval": "10s",
              "Method": "HEAD",
              "TLSSkipVerify": true,
              "Timeout": "1s"
            },
            "ExposedPort": 0,
            "Interval": "10s",
            "ModifyIndex": 2,
            "Name": "Service 'web' check",
            "Node": "tern",
            "Notes": "",
            "Output": "",
            "ServiceID": "web-8080",
            "ServiceName": "web",
            "ServiceTags": [
              "primary",
              "v1"
            ],
            "Status": "critical",
            "Timeout": "1s",
            "Type": "http"
          }
        }"#]]
    .assert_eq(&checks.pretty());

    api.put("/v1/agent/service/deregister/web-8080", "")
        .await
        .ok();
    assert_eq!(api.get("/v1/agent/services").await.json(), json!({}));
    assert_eq!(api.get("/v1/agent/checks").await.json(), json!({}));
}

#[tokio::test]
async fn id_defaults_to_name_and_checks_list_is_numbered() {
    let api = Api::new();
    api.register(json!({
        "name": "api", "port": 9000,
        "checks": [{"tcp": "127.0.0.1:9000", "interval": "5s"}, {"ttl": "30s", "status": "passing"}],
    }))
    .await;
    let checks = api.get("/v1/agent/checks").await.ok().json();
    assert_eq!(checks["service:api:1"]["Type"], "tcp");
    assert_eq!(
        checks["service:api:1"]["Definition"]["TCP"],
        "127.0.0.1:9000"
    );
    assert_eq!(checks["service:api:2"]["Status"], "passing");
    assert_eq!(
        api.get("/v1/agent/services").await.json()["api"]["Port"],
        9000
    );

    // ?replace-existing-checks drops the checks not in the new definition.
    let body = json!({"Name": "api", "Port": 9000, "Check": {"TTL": "10s"}}).to_string();
    api.put("/v1/agent/service/register?replace-existing-checks", body)
        .await
        .ok();
    let checks = api.get("/v1/agent/checks").await.json();
    let ids: Vec<_> = checks.as_object().unwrap().keys().cloned().collect();
    assert_eq!(ids, ["service:api"]);
}

#[tokio::test]
async fn ttl_pass_warn_fail_update() {
    let api = Api::new();
    api.register(json!({"Name": "job", "Check": {"CheckID": "job-ttl", "TTL": "30s"}}))
        .await;
    let status = |api: Api| async move {
        let c = api.get("/v1/agent/checks").await.json();
        (
            c["job-ttl"]["Status"].clone(),
            c["job-ttl"]["Output"].clone(),
        )
    };
    assert_eq!(status(api.clone()).await, (json!("critical"), json!("")));
    api.put("/v1/agent/check/pass/job-ttl?note=all%20good", "")
        .await
        .ok();
    assert_eq!(
        status(api.clone()).await,
        (json!("passing"), json!("all good"))
    );
    api.put("/v1/agent/check/warn/job-ttl", "").await.ok();
    assert_eq!(status(api.clone()).await, (json!("warning"), json!("")));
    api.put("/v1/agent/check/fail/job-ttl?note=down", "")
        .await
        .ok();
    assert_eq!(
        status(api.clone()).await,
        (json!("critical"), json!("down"))
    );
    let update = json!({"Status": "passing", "Output": "back"}).to_string();
    api.put("/v1/agent/check/update/job-ttl", update).await.ok();
    assert_eq!(status(api.clone()).await, (json!("passing"), json!("back")));
    let bad = api
        .put("/v1/agent/check/update/job-ttl", r#"{"Status":"green"}"#)
        .await;
    assert_eq!(
        (bad.status.as_u16(), bad.text()),
        (400, "Invalid check status: \"green\"".into())
    );
}

#[tokio::test]
async fn standalone_check_register_and_deregister() {
    let api = Api::new();
    api.register(json!({"Name": "db", "ID": "db1", "Port": 5432}))
        .await;
    let check = json!({
        "Name": "db-grpc", "ServiceID": "db1", "GRPC": "127.0.0.1:5432", "GRPCUseTLS": true,
        "Interval": "1m30s", "DeregisterCriticalServiceAfter": "90m", "Notes": "n", "Status": "warning",
    });
    api.put("/v1/agent/check/register", check.to_string())
        .await
        .ok();
    let c = api.get("/v1/agent/checks").await.json()["db-grpc"].clone();
    assert_eq!(c["ServiceName"], "db");
    assert_eq!(c["Status"], "warning");
    assert_eq!(c["Interval"], "1m30s");
    assert_eq!(c["Definition"]["DeregisterCriticalServiceAfter"], "1h30m0s");
    assert_eq!(c["Definition"]["GRPCUseTLS"], true);
    // Node-level check (no ServiceID).
    let node_check = json!({"Name": "disk", "TTL": "1m"});
    api.put("/v1/agent/check/register", node_check.to_string())
        .await
        .ok();
    assert_eq!(
        api.get("/v1/agent/checks").await.json()["disk"]["ServiceID"],
        ""
    );
    api.put("/v1/agent/check/deregister/db-grpc", "").await.ok();
    api.put("/v1/agent/check/deregister/disk", "").await.ok();
    assert_eq!(api.get("/v1/agent/checks").await.json(), json!({}));
}

#[tokio::test]
async fn service_and_node_maintenance() {
    let api = Api::new();
    api.register(json!({"Name": "web", "Check": {"TTL": "1m", "Status": "passing"}}))
        .await;
    let passing = |api: Api| async move {
        api.get("/v1/health/service/web?passing")
            .await
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(passing(api.clone()).await, 1);
    api.put(
        "/v1/agent/service/maintenance/web?enable=true&reason=deploy",
        "",
    )
    .await
    .ok();
    assert_eq!(passing(api.clone()).await, 0);
    let checks = api.get("/v1/agent/checks").await.json();
    let maint = &checks["_service_maintenance:web"];
    assert_eq!(
        (&maint["Notes"], &maint["Status"]),
        (&json!("deploy"), &json!("critical"))
    );
    assert_eq!(maint["Name"], "Service Maintenance Mode");
    api.put("/v1/agent/service/maintenance/web?enable=false", "")
        .await
        .ok();
    assert_eq!(passing(api.clone()).await, 1);

    api.put("/v1/agent/maintenance?enable=true", "").await.ok();
    assert_eq!(passing(api.clone()).await, 0);
    assert!(api.get("/v1/agent/checks").await.json()["_node_maintenance"].is_object());
    api.put("/v1/agent/maintenance?enable=false", "").await.ok();
    assert_eq!(passing(api.clone()).await, 1);

    // Every form of Go's ParseBool, as Consul (py-consul sends `True`).
    api.put("/v1/agent/maintenance?enable=True", "").await.ok();
    assert_eq!(passing(api.clone()).await, 0);
    api.put("/v1/agent/maintenance?enable=F", "").await.ok();
    assert_eq!(passing(api.clone()).await, 1);
    let invalid = api.put("/v1/agent/maintenance?enable=yes", "").await;
    assert_eq!(
        (invalid.status.as_u16(), invalid.text()),
        (400, r#"Invalid value for enable: "yes""#.into())
    );

    let missing = api.put("/v1/agent/service/maintenance/web", "").await;
    assert_eq!(
        (missing.status.as_u16(), missing.text()),
        (400, "Missing value for enable".into())
    );
    let unknown = api
        .put("/v1/agent/service/maintenance/nope?enable=true", "")
        .await;
    assert_eq!(unknown.status.as_u16(), 404);
}

#[tokio::test]
async fn weights_are_kept_and_echoed() {
    let api = Api::new();
    // A field left out of a given `Weights` is 0, as Go decodes it (py-consul sends what
    // it is given); without `Weights` at all Consul's 1 and 1 apply.
    api.register(json!({"Name": "w", "ID": "w1", "Weights": {"Passing": 10}}))
        .await;
    api.register(json!({"Name": "w", "ID": "w2"})).await;
    let agent = api.get("/v1/agent/services").await.ok().json();
    assert_eq!(agent["w1"]["Weights"], json!({"Passing": 10, "Warning": 0}));
    assert_eq!(agent["w2"]["Weights"], json!({"Passing": 1, "Warning": 1}));
    let catalog = api.get("/v1/catalog/service/w").await.ok().json();
    assert_eq!(
        catalog[0]["ServiceWeights"],
        json!({"Passing": 10, "Warning": 0})
    );
    let health = api.get("/v1/health/service/w").await.ok().json();
    assert_eq!(
        health[1]["Service"]["Weights"],
        json!({"Passing": 1, "Warning": 1})
    );
}

#[tokio::test]
async fn self_and_members() {
    let api = Api::new();
    let me = api.get("/v1/agent/self").await.ok().json();
    assert_eq!(me["Config"]["NodeName"], "tern");
    assert_eq!(me["Config"]["Datacenter"], "dc1");
    assert!(me["Config"]["Version"].as_str().unwrap().starts_with("1."));
    assert_eq!(me["Config"]["NodeID"].as_str().unwrap().len(), 36);
    assert_eq!(me["Member"]["Name"], "tern");
    let members = api.get("/v1/agent/members").await.ok().json();
    assert_eq!(members, json!([me["Member"]]));
}

#[tokio::test]
async fn handle_serves_dns_and_check_runners() {
    use tern_registry::{CheckKind, CheckStatus};
    let api = Api::new();
    let h = &api.handle;
    let mut defs = h.watch_check_definitions();
    defs.borrow_and_update();
    api.register(
        json!({"Name": "web", "ID": "w1", "Port": 80, "Tags": ["Blue"], "Meta": {"a": "b"},
                        "Check": {"HTTP": "http://127.0.0.1:80/", "Interval": "2s"}}),
    )
    .await;
    api.register(json!({"Name": "web", "ID": "w2", "Address": "10.0.0.2", "Port": 81}))
        .await;
    assert!(
        defs.has_changed().unwrap(),
        "runners are told about new checks"
    );
    let specs = h.checks_to_run();
    assert_eq!(specs.len(), 1);
    assert_eq!(
        (
            specs[0].id.as_str(),
            specs[0].interval.as_secs(),
            specs[0].timeout.as_secs()
        ),
        ("service:w1", 2, 10)
    );
    assert!(matches!(&specs[0].kind, CheckKind::Http { method, .. } if method == "GET"));

    let ids =
        |v: Vec<tern_registry::Instance>| v.into_iter().map(|i| i.service_id).collect::<Vec<_>>();
    assert_eq!(
        ids(h.passing_instances("web", None)),
        ["w2"],
        "w1's check starts critical"
    );
    h.check_result("service:w1", CheckStatus::Passing, "HTTP GET: 200 OK")
        .await
        .unwrap();
    defs.borrow_and_update();
    h.check_result("service:w1", CheckStatus::Passing, "HTTP GET: 200 OK")
        .await
        .unwrap();
    assert!(
        !defs.has_changed().unwrap(),
        "results do not look like definition changes"
    );
    assert_eq!(ids(h.passing_instances("web", None)), ["w1", "w2"]);
    let w1 = h.passing_instances("web", Some("blue")).remove(0);
    assert_eq!(
        (w1.address.as_str(), w1.port, w1.node.as_str()),
        ("127.0.0.1", 80, "tern")
    );
    assert_eq!(w1.meta["a"], "b");
    let w2 = h.passing_instances("WEB", None).remove(1);
    assert_eq!(
        (
            w2.address.as_str(),
            w2.service_address.as_str(),
            w2.node_address.as_str()
        ),
        ("10.0.0.2", "10.0.0.2", "127.0.0.1")
    );
    assert_eq!(
        w1.service_address, "",
        "DNS falls back to node_address itself"
    );
    assert!(h
        .check_result("gone", CheckStatus::Passing, "")
        .await
        .is_err());
    assert_eq!(h.node("tern").unwrap().address, "127.0.0.1");
    assert!(h.node("other").is_none());
    assert!(h.node("TERN").is_some(), "node names are case-insensitive");
    assert_eq!(h.service_names(), ["web"]);
}
