//! `/v1/kv/*` and `/v1/txn`.

use crate::Api;
use expect_test::expect;
use serde_json::json;

#[tokio::test]
async fn put_get_raw_and_flags() {
    let api = Api::new();
    assert_eq!(
        api.put("/v1/kv/config/web/port?flags=42", "8080")
            .await
            .ok()
            .json(),
        json!(true)
    );
    let got = api.get("/v1/kv/config/web/port").await.ok();
    expect![[r#"
        [
          {
            "CreateIndex": 2,
            "Flags": 42,
            "Key": "config/web/port",
            "LockIndex": 0,
            "ModifyIndex": 2,
            "Value": "ODA4MA=="
          }
        ]"#]]
    .assert_eq(&got.pretty());
    assert_eq!(got.index(), 2);
    let raw = api.get("/v1/kv/config/web/port?raw").await.ok();
    assert_eq!(raw.body, b"8080");
    assert_eq!(raw.index(), 2);
    api.put("/v1/kv/empty", "").await.ok();
    assert_eq!(
        api.get("/v1/kv/empty").await.json()[0]["Value"],
        json!(null),
        "empty is null"
    );
    let missing = api.get("/v1/kv/nope").await;
    assert_eq!(missing.status.as_u16(), 404);
    assert!(missing.index() >= 1, "404s carry X-Consul-Index");
}

#[tokio::test]
async fn recurse_keys_and_separator() {
    let api = Api::new();
    for key in ["web/a", "web/sub/b", "web/sub/c", "webz"] {
        api.put(&format!("/v1/kv/{key}"), "x").await.ok();
    }
    let keys: Vec<_> = api
        .get("/v1/kv/web/?recurse")
        .await
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].clone())
        .collect();
    assert_eq!(
        keys,
        [json!("web/a"), json!("web/sub/b"), json!("web/sub/c")]
    );
    assert_eq!(
        api.get("/v1/kv/web/?keys&separator=/").await.ok().json(),
        json!(["web/a", "web/sub/"])
    );
    assert_eq!(
        api.get("/v1/kv/?keys&separator=/").await.ok().json(),
        json!(["web/", "webz"])
    );
    assert_eq!(
        api.get("/v1/kv/?recurse")
            .await
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        api.get("/v1/kv/nothing/?recurse").await.status.as_u16(),
        404
    );
    assert_eq!(api.get("/v1/kv/nothing/?keys").await.status.as_u16(), 404);
}

#[tokio::test]
async fn cas_and_deletes() {
    let api = Api::new();
    assert_eq!(api.put("/v1/kv/lock?cas=0", "a").await.json(), json!(true));
    assert_eq!(api.put("/v1/kv/lock?cas=0", "b").await.json(), json!(false));
    let index = api.get("/v1/kv/lock").await.json()[0]["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(
        api.put(&format!("/v1/kv/lock?cas={}", index + 5), "c")
            .await
            .json(),
        json!(false)
    );
    assert_eq!(
        api.put(&format!("/v1/kv/lock?cas={index}"), "c")
            .await
            .json(),
        json!(true)
    );
    let index = api.get("/v1/kv/lock").await.json()[0]["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(
        api.delete("/v1/kv/lock?cas=1").await.ok().json(),
        json!(false)
    );
    assert_eq!(
        api.delete(&format!("/v1/kv/lock?cas={index}"))
            .await
            .ok()
            .json(),
        json!(true)
    );
    assert_eq!(api.get("/v1/kv/lock").await.status.as_u16(), 404);

    for key in ["t/a", "t/b", "u"] {
        api.put(&format!("/v1/kv/{key}"), "x").await.ok();
    }
    assert_eq!(
        api.delete("/v1/kv/t?recurse").await.ok().json(),
        json!(true)
    );
    assert_eq!(api.get("/v1/kv/?keys").await.json(), json!(["u"]));
    assert_eq!(api.delete("/v1/kv/u").await.ok().json(), json!(true));
    assert_eq!(
        api.delete("/v1/kv/u?recurse&cas=1").await.status.as_u16(),
        400
    );
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn txn_commits_or_rolls_back() {
    let api = Api::new();
    api.put("/v1/kv/a", "1").await.ok();
    let ok = json!([
        {"KV": {"Verb": "set", "Key": "b", "Value": b64("2"), "Flags": 3}},
        {"KV": {"Verb": "get", "Key": "a"}},
        {"KV": {"Verb": "check-index", "Key": "a", "Index": 2}},
        {"KV": {"Verb": "delete-tree", "Key": "zzz"}},
    ]);
    let reply = api.put("/v1/txn", ok.to_string()).await.ok();
    expect![[r#"
        {
          "Errors": null,
          "Results": [
            {
              "KV": {
                "CreateIndex": 3,
                "Flags": 3,
                "Key": "b",
                "LockIndex": 0,
                "ModifyIndex": 3,
                "Value": null
              }
            },
            {
              "KV": {
                "CreateIndex": 2,
                "Flags": 0,
                "Key": "a",
                "LockIndex": 0,
                "ModifyIndex": 2,
                "Value": "MQ=="
              }
            },
            {
              "KV": {
                "CreateIndex": 2,
                "Flags": 0,
                "Key": "a",
                "LockIndex": 0,
                "ModifyIndex": 2,
                "Value": null
              }
            }
          ]
        }"#]]
    .assert_eq(&reply.pretty());

    let failing = json!([
        {"KV": {"Verb": "delete", "Key": "a"}},
        {"KV": {"Verb": "cas", "Key": "b", "Value": b64("x"), "Index": 1}},
    ]);
    let reply = api.put("/v1/txn", failing.to_string()).await;
    assert_eq!(reply.status.as_u16(), 409);
    assert_eq!(
        reply.json(),
        json!({"Results": null, "Errors": [{"OpIndex": 1, "What": "failed to set key \"b\", index is stale"}]})
    );
    assert_eq!(
        api.get("/v1/kv/a").await.status.as_u16(),
        200,
        "the delete was rolled back"
    );

    let node_op = json!([{"Node": {"Verb": "set", "Node": {"Node": "x"}}}]);
    assert_eq!(
        api.put("/v1/txn", node_op.to_string())
            .await
            .status
            .as_u16(),
        400
    );
    let bad_verb = json!([{"KV": {"Verb": "explode", "Key": "a"}}]);
    assert_eq!(
        api.put("/v1/txn", bad_verb.to_string())
            .await
            .status
            .as_u16(),
        400
    );
    let too_many: Vec<_> = (0..129)
        .map(|_| json!({"KV": {"Verb": "get", "Key": "a"}}))
        .collect();
    assert_eq!(
        api.put("/v1/txn", json!(too_many).to_string())
            .await
            .status
            .as_u16(),
        413
    );
}
