//! UserService over REST, transcoded from the same contract: routes, proto3 JSON, HTTP
//! statuses and `google.rpc.Status` error bodies, and parity with the gRPC answers.

use http::Method;
use serde_json::{json, Value};
use users::proto::UserRequest;

use crate::support::Running;

#[tokio::test]
async fn rest_routes_follow_the_contract() {
    let service = Running::sqlite().await;
    let (status, ada) = service
        .rest(
            Method::POST,
            "/v1/users",
            Some(json!({"name": "Ada", "email": "ada@example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{ada}");
    let id = ada["id"].as_str().expect("an id").to_owned();
    assert_eq!(ada["name"], "Ada");
    assert!(
        ada["createTime"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{ada}"
    );

    let (status, got) = service
        .rest(Method::GET, &format!("/v1/users/{id}"), None)
        .await;
    assert_eq!((status, &got), (200, &ada));

    // REST and gRPC answer the same.
    let grpc = service
        .grpc()
        .await
        .get_user(UserRequest { id: id.clone() })
        .await
        .expect("found over gRPC")
        .into_inner();
    assert_eq!(grpc.name, got["name"]);
    assert_eq!(grpc.email, got["email"]);

    let (status, patched) = service
        .rest(
            Method::PATCH,
            &format!("/v1/users/{id}"),
            Some(json!({"email": "lovelace@example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Ada");
    assert_eq!(patched["email"], "lovelace@example.com");

    let (status, list) = service
        .rest(Method::GET, "/v1/users?pageSize=10", None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["users"].as_array().map(Vec::len), Some(1));

    let (status, body) = service
        .rest(Method::DELETE, &format!("/v1/users/{id}"), None)
        .await;
    assert_eq!((status, body), (200, json!({})));
    service.stop().await;
}

#[tokio::test]
async fn errors_have_http_statuses_and_status_bodies() {
    let service = Running::sqlite().await;
    let created = json!({"name": "Ada", "email": "ada@example.com"});
    assert_eq!(
        service
            .rest(Method::POST, "/v1/users", Some(created.clone()))
            .await
            .0,
        200
    );

    let cases: Vec<(Method, &str, Option<Value>, u16, i64)> = vec![
        (Method::GET, "/v1/users/nobody", None, 404, 5),
        (Method::DELETE, "/v1/users/nobody", None, 404, 5),
        (Method::POST, "/v1/users", Some(created), 409, 6),
        (
            Method::POST,
            "/v1/users",
            Some(json!({"name": "Bob", "email": "bob"})),
            400,
            3,
        ),
        (
            Method::POST,
            "/v1/users",
            Some(json!({"email": "bob@example.com"})),
            400,
            3,
        ),
        (Method::GET, "/v1/users?pageSize=5000", None, 400, 3),
        (Method::GET, "/v1/users?pageSize=many", None, 400, 3),
    ];
    for (method, path, body, http, code) in cases {
        let (status, error) = service.rest(method.clone(), path, body).await;
        assert_eq!(status, http, "{method} {path}: {error}");
        assert_eq!(error["code"], code, "{method} {path}: {error}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
    let (status, error) = service
        .rest_raw(Method::POST, "/v1/users", "{\"name\": ")
        .await;
    assert_eq!(status, 400, "{error}");
    service.stop().await;
}
