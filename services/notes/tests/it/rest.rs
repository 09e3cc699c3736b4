//! NoteService over REST, transcoded from the same contract: routes, proto3 JSON,
//! HTTP statuses and `google.rpc.Status` error bodies, the OpenAPI document.

use http::Method;
use serde_json::json;

use crate::support::Running;

#[tokio::test]
async fn rest_routes_follow_the_contract() {
    let service = Running::sqlite().await;
    let (status, created) = service
        .rest(Method::POST, "/v1/notes", Some(json!({"name": "first"})))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let path = format!("/v1/notes/{id}");
    assert_eq!(service.rest(Method::GET, &path, None).await, (200, created));

    let (status, patched) = service
        .rest(Method::PATCH, &path, Some(json!({"name": "renamed"})))
        .await;
    assert_eq!((status, &patched["name"]), (200, &json!("renamed")));

    let (status, list) = service
        .rest(Method::GET, "/v1/notes?pageSize=10", None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["notes"].as_array().map(Vec::len), Some(1), "{list}");

    assert_eq!(
        service.rest(Method::DELETE, &path, None).await,
        (200, json!({}))
    );
    let (status, error) = service.rest(Method::GET, &path, None).await;
    assert_eq!((status, &error["code"]), (404, &json!(5)), "{error}");
    service.stop().await;
}

#[tokio::test]
async fn bad_input_is_400_naming_what_is_wrong() {
    let service = Running::sqlite().await;
    let (status, error) = service
        .rest(Method::POST, "/v1/notes", Some(json!({})))
        .await;
    assert_eq!(status, 400, "{error}");
    let (status, error) = service
        .rest_raw(Method::POST, "/v1/notes", "{\"name\": ")
        .await;
    assert_eq!(status, 400, "{error}");
    service.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let service = Running::sqlite().await;
    let (status, document) = service.rest(Method::GET, "/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{document}"
    );
    assert!(
        document["paths"]["/v1/notes/{id}"].is_object(),
        "{document}"
    );
    service.stop().await;
}
