//! Tests of the contract reading, the JSON mapping of requests, the OpenAPI document, and
//! (through the generated search server, in-process) the router.

use std::sync::Arc;

use serde_json::{json, Value};
use tern_proto::search::search_server::{Search, SearchServer};
use tern_proto::search::{MonitorResponse, SearchRequest, SearchResponse, SearchResponses};
use tower::ServiceExt;

use super::*;

const SHOP: &str = r#"syntax = "proto3";
package shop.v1;
import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/protobuf/timestamp.proto";
import "tern/api/field.proto";

// A shop item.
message Item {
  // The item id.
  int64 id = 1;
  string display_name = 2 [(google.api.field_behavior) = REQUIRED, (tern.api.field) = { min_length: 1, max_length: 20 }];
  string email = 3 [(tern.api.field) = { format: "email" }];
  Kind kind = 4;
  repeated string tags = 5 [(tern.api.field) = { max_items: 2 }];
  google.protobuf.Timestamp created = 6;
  int32 stock = 7 [(tern.api.field) = { minimum: 0, maximum: 100 }];
}
enum Kind {
  KIND_UNSPECIFIED = 0;
  BOOK = 1;
}
message Filter { string name = 1; }
message GetItemRequest {
  int64 id = 1;
  Filter filter = 2;
  repeated int32 ids = 3;
}
message UpdateItemRequest {
  string name = 1;
  Item item = 2;
}
service Shop {
  // Gets one item.
  rpc GetItem(GetItemRequest) returns (Item) {
    option (google.api.http) = {
      get: "/v1/items/{id}"
      additional_bindings { get: "/v1/shelves/{filter.name}/items/{id}" }
    };
  }
  rpc CreateItem(Item) returns (Item) {
    option (google.api.http) = { post: "/v1/items" body: "*" };
  }
  rpc UpdateItem(UpdateItemRequest) returns (Item) {
    option (google.api.http) = { patch: "/v1/{name=items/*}" body: "item" response_body: "display_name" };
  }
}
"#;

fn shop() -> Contract {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("shop.proto"), SHOP).unwrap();
    let descriptors = tern_proto_build::descriptor_set(&["shop.proto"], &[dir.path()]).unwrap();
    Contract::from_descriptor_set(&descriptors.encoded).unwrap()
}

fn route(contract: &Contract, method: &str, template: &str) -> Arc<Route> {
    contract
        .routes()
        .unwrap()
        .into_iter()
        .find(|r| r.method.name() == method && r.binding.template.text == template)
        .unwrap()
}

fn request(route: &Route, path: &str, query: Option<&str>, body: &str) -> Result<Value, String> {
    let values = route
        .binding
        .template
        .matches(path)
        .expect("the path matches");
    route
        .request_json(values, query, body.as_bytes())
        .map_err(|e| e.message)
}

#[test]
fn path_and_query_fill_the_request() {
    let contract = shop();
    let get = route(&contract, "GetItem", "/v1/items/{id}");
    assert_eq!(
        request(
            &get,
            "/v1/items/42",
            Some("filter.name=a%20b&ids=1&ids=2"),
            ""
        ),
        Ok(json!({"id": "42", "filter": {"name": "a b"}, "ids": [1, 2]}))
    );
    let nested = route(&contract, "GetItem", "/v1/shelves/{filter.name}/items/{id}");
    assert_eq!(
        request(&nested, "/v1/shelves/top/items/7", None, ""),
        Ok(json!({"id": "7", "filter": {"name": "top"}}))
    );
    for (query, problem) in [
        ("id=3", "id: set by the URL path, not a query parameter"),
        ("nope=1", "nope: unknown query parameter"),
        (
            "filter=x",
            "filter: a message; set its fields as filter.FIELD",
        ),
        ("ids=x", "ids: \"x\" is not an integer"),
        (
            "ids=9999999999",
            "ids: [0]: 9999999999 is outside [-2147483648, 2147483647]",
        ),
    ] {
        assert_eq!(
            request(&get, "/v1/items/1", Some(query), ""),
            Err(problem.into()),
            "{query}"
        );
    }
    assert_eq!(
        request(&get, "/v1/items/12345678901234567890", None, ""),
        Err("id: \"12345678901234567890\" is not an integer (a number or a string of up to 18 digits)".into())
    );
}

#[test]
fn bodies_follow_the_proto3_json_mapping_and_the_field_rules() {
    let contract = shop();
    let create = route(&contract, "CreateItem", "/v1/items");
    let ok = r#"{"displayName": "Dune", "email": "a@b.example", "kind": "BOOK", "id": 5,
                "tags": ["x"], "created": "2024-01-02T03:04:05Z", "stock": 3}"#;
    let value = request(&create, "/v1/items", None, ok).unwrap();
    let framed = create.grpc_body(value).unwrap();
    assert_eq!(framed[0], 0, "uncompressed gRPC frame");
    // Proto names are accepted as well as JSON names.
    assert!(request(&create, "/v1/items", None, r#"{"display_name": "Dune"}"#).is_ok());
    for (body, problem) in [
        ("", "request body: missing; expected a JSON object"),
        (
            "{",
            "request body: invalid JSON: EOF while parsing an object at line 1 column 1",
        ),
        ("[]", "request body: an array is not a JSON object"),
        ("{}", "display_name: required field missing"),
        (
            r#"{"displayName": "x", "colour": 1}"#,
            "colour: unknown field of shop.v1.Item",
        ),
        (
            r#"{"displayName": ""}"#,
            "display_name: 0 characters is fewer than 1",
        ),
        (
            r#"{"displayName": "x", "email": "nope"}"#,
            "email: \"nope\" is not a valid email",
        ),
        (
            r#"{"displayName": "x", "kind": 1}"#,
            "kind: 1 is not one of KIND_UNSPECIFIED, BOOK",
        ),
        (
            r#"{"displayName": "x", "stock": 101}"#,
            "stock: 101 is outside [0, 100]",
        ),
        (
            r#"{"displayName": "x", "stock": "3"}"#,
            "stock: \"3\" is not an integer",
        ),
        (
            r#"{"displayName": "x", "tags": ["a", "b", "c"]}"#,
            "tags: 3 items is outside [0, 2]",
        ),
        (
            r#"{"displayName": "x", "email": null}"#,
            "email: null is not allowed; leave the field out instead",
        ),
        (
            r#"{"displayName": "x", "created": "yesterday"}"#,
            "created: \"yesterday\" is not an RFC 3339 date-time",
        ),
    ] {
        assert_eq!(
            request(&create, "/v1/items", None, body),
            Err(problem.into()),
            "{body}"
        );
    }
    let update = route(&contract, "UpdateItem", "/v1/{name=items/*}");
    assert_eq!(
        request(&update, "/v1/items/7", None, r#"{"displayName": "x"}"#),
        Ok(json!({"name": "items/7", "item": {"displayName": "x"}}))
    );
    assert_eq!(
        request(
            &update,
            "/v1/items/7",
            None,
            r#"{"id": "x", "displayName": "x"}"#
        ),
        Err("item.id: \"x\" is not an integer (a number or a string of up to 18 digits)".into())
    );
}

#[test]
fn openapi_states_the_contract() {
    let doc = shop().with_info("shop", "2").openapi().unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"], json!({"title": "shop", "version": "2"}));
    let get = &doc["paths"]["/v1/items/{id}"]["get"];
    assert_eq!(get["operationId"], "Shop_GetItem");
    assert_eq!(get["summary"], "Gets one item.");
    let names: Vec<&str> = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "filter.name", "ids"]);
    assert_eq!(get["parameters"][0]["in"], "path");
    assert_eq!(get["parameters"][2]["schema"]["type"], "array");
    assert_eq!(
        doc["paths"]["/v1/shelves/{filter.name}/items/{id}"]["get"]["operationId"],
        "Shop_GetItem_2"
    );
    let statuses: Vec<&String> = get["responses"].as_object().unwrap().keys().collect();
    assert_eq!(
        statuses,
        ["200", "400", "401", "403", "404", "409", "429", "499", "500", "501", "503", "504"]
    );
    assert_eq!(
        get["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/google.rpc.Status"
    );
    let update = &doc["paths"]["/v1/items/{name}"]["patch"];
    assert_eq!(
        update["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/shop.v1.Item"
    );
    assert_eq!(
        update["responses"]["200"]["content"]["application/json"]["schema"]["type"],
        "string"
    );
    let item = &doc["components"]["schemas"]["shop.v1.Item"];
    assert_eq!(item["required"], json!(["displayName"]));
    assert_eq!(item["additionalProperties"], false);
    assert!(item["description"]
        .as_str()
        .unwrap()
        .starts_with("A shop item."));
    let p = &item["properties"];
    assert_eq!(p["id"]["description"], "The item id.");
    assert_eq!(p["id"]["type"], json!(["string", "integer"]));
    assert_eq!(p["displayName"]["minLength"], 1);
    assert_eq!(p["email"]["format"], "email");
    assert_eq!(
        p["kind"],
        json!({"type": "string", "enum": ["KIND_UNSPECIFIED", "BOOK"]})
    );
    assert_eq!(p["tags"]["maxItems"], 2);
    assert_eq!(p["created"]["format"], "date-time");
    assert_eq!(
        (&p["stock"]["minimum"], &p["stock"]["maximum"]),
        (&json!(0), &json!(100))
    );
}

#[test]
fn rules_file_selectors_and_fields_must_exist() {
    let contract =
        || Contract::from_descriptor_set(tern_proto::search::FILE_DESCRIPTOR_SET).unwrap();
    let err = contract()
        .with_rules_file("http:\n  rules:\n    - selector: Search.find\n      get: /x\n")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("selector \"Search.find\" names no method"),
        "{err}"
    );
    let err = contract()
        .with_rules_file("tern:\n  fields:\n    SearchRequest.latitude: { minimum: 0 }\n")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("field \"SearchRequest.latitude\" names no field"),
        "{err}"
    );
    let err = contract()
        .with_rules_file("http:\n  rules:\n    - selector: Search.search\n      get: /v1/{nope}\n")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("SearchRequest has no field \"nope\""),
        "{err}"
    );
}

/// Answers the query back, or the error the query names.
struct Echo;

#[tonic::async_trait]
impl Search for Echo {
    async fn monitor(
        &self,
        _: tonic::Request<()>,
    ) -> Result<tonic::Response<MonitorResponse>, tonic::Status> {
        Ok(tonic::Response::new(MonitorResponse { n_things: 7 }))
    }

    async fn search(
        &self,
        request: tonic::Request<SearchRequest>,
    ) -> Result<tonic::Response<SearchResponses>, tonic::Status> {
        let r = request.into_inner();
        match r.query.as_str() {
            "missing" => Err(tonic::Status::not_found("no such place: missing")),
            "down" => Err(tonic::Status::unavailable("feature store unavailable")),
            query => Ok(tonic::Response::new(SearchResponses {
                responses: vec![SearchResponse {
                    response: format!("{query}@{},{}", r.lat, r.lng),
                }],
            })),
        }
    }
}

async fn call(router: &Router, method: &str, uri: &str) -> (u16, http::HeaderMap, String) {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_router_runs_the_grpc_handler() {
    let contract = Contract::from_descriptor_set(tern_proto::search::FILE_DESCRIPTOR_SET)
        .unwrap()
        .with_rules_file(tern_proto::search::HTTP_RULES)
        .unwrap();
    let router = contract.router(SearchServer::new(Echo)).unwrap();
    let (status, headers, body) =
        call(&router, "GET", "/v1/search?query=Paris&lat=48.5&lng=2.25").await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"responses":[{"response":"Paris@48.5,2.25"}]}"#)
    );
    assert_eq!(headers["content-type"], "application/json");
    let (status, _, body) = call(&router, "GET", "/v1/search?query=missing").await;
    assert_eq!(
        (status, body.as_str()),
        (
            404,
            r#"{"code":5,"details":[],"message":"no such place: missing"}"#
        )
    );
    let (status, _, body) = call(&router, "GET", "/v1/search?query=down").await;
    assert_eq!(
        (status, body.as_str()),
        (
            503,
            r#"{"code":14,"details":[],"message":"feature store unavailable"}"#
        )
    );
    let (status, _, body) = call(&router, "GET", "/v1/search?lat=95").await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            r#"{"code":3,"details":[],"message":"lat: 95 is outside [-90, 90]"}"#
        )
    );
    let (status, _, body) = call(&router, "GET", "/v1/monitor").await;
    assert_eq!((status, body.as_str()), (200, r#"{"nThings":7}"#));
    let (status, headers, _) = call(&router, "DELETE", "/v1/search").await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET,HEAD");
    let (status, _, body) = call(&router, "GET", "/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(doc["paths"]["/v1/search"]["get"].is_object());
    let (status, _, body) = call(&router, "GET", "/docs").await;
    assert_eq!(status, 200);
    assert!(body.contains("SwaggerUIBundle"));
}
