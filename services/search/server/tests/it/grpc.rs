//! The `Search` contract over gRPC against the bundled data, plus the chassis' health
//! endpoints on the same port.

use tern_proto::search::SearchRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::support::*;

#[tokio::test]
async fn point_searches_answer_containing_regions_most_specific_first() {
    let running = Running::bundled().await;
    let mut client = running.client().await;
    let cases: [((f32, f32), &[&str]); 4] = [
        (PARIS, &["France"]),
        (AUSTIN, &["Texas", "United States of America"]),
        ((30.0, -40.0), &[]),
        (MASERU, &["Lesotho"]),
    ];
    for ((lat, lng), expected) in cases {
        assert_eq!(
            names(&mut client, point(lat, lng)).await,
            expected,
            "({lat}, {lng})"
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn name_searches_are_accent_insensitive_and_combine_with_a_point() {
    let running = Running::bundled().await;
    let mut client = running.client().await;

    let hits = names(&mut client, named("sao paulo")).await;
    assert_eq!(
        hits.first().map(String::as_str),
        Some("São Paulo"),
        "{hits:?}"
    );

    let (lat, lng) = AUSTIN;
    let texas_at_austin = SearchRequest {
        query: "texas".to_owned(),
        ..point(lat, lng)
    };
    assert_eq!(names(&mut client, texas_at_austin).await, ["Texas"]);
    let (lat, lng) = PARIS;
    let texas_at_paris = SearchRequest {
        query: "texas".to_owned(),
        ..point(lat, lng)
    };
    assert_eq!(
        names(&mut client, texas_at_paris).await,
        Vec::<String>::new()
    );

    // (0, 0) with a query is name-only: found wherever they are.
    assert_eq!(names(&mut client, named("lesotho")).await, ["Lesotho"]);
    let hits = names(&mut client, named("TEXAS")).await;
    assert_eq!(hits.first().map(String::as_str), Some("Texas"), "{hits:?}");
    // ... but without a query, (0, 0) is a point in the Gulf of Guinea.
    assert_eq!(
        names(&mut client, point(0.0, 0.0)).await,
        Vec::<String>::new()
    );
    running.stop().await;
}

#[tokio::test]
async fn pages_are_one_based_slices_of_one_ranking() {
    let running = Running::bundled().await;
    let mut client = running.client().await;
    let first_six = names(&mut client, paged(named("a"), 1, 6)).await;
    assert_eq!(first_six.len(), 6, "{first_six:?}");
    assert_eq!(
        names(&mut client, paged(named("a"), 2, 3)).await,
        first_six[3..6]
    );
    assert_eq!(
        names(&mut client, paged(named("a"), 0, 3)).await,
        names(&mut client, paged(named("a"), 1, 3)).await,
        "page 0 is page 1"
    );
    assert_eq!(
        names(&mut client, paged(named("a"), 0, 0)).await,
        names(&mut client, paged(named("a"), 1, 10)).await,
        "page size 0 is 10"
    );
    assert_eq!(
        names(&mut client, paged(named("a"), 1000, 1000)).await,
        Vec::<String>::new(),
        "past the end"
    );
    let (lat, lng) = AUSTIN;
    assert_eq!(
        names(&mut client, paged(point(lat, lng), 2, 1)).await,
        ["United States of America"]
    );
    assert_eq!(
        names(&mut client, paged(point(lat, lng), 3, 1)).await,
        Vec::<String>::new()
    );
    running.stop().await;
}

#[tokio::test]
async fn monitor_counts_the_loaded_features() {
    let running = Running::bundled().await;
    let mut client = running.client().await;
    assert_eq!(monitor(&mut client).await, BUNDLED_FEATURES);
    running.stop().await;
}

#[tokio::test]
async fn invalid_arguments_name_the_field_and_the_server_keeps_serving() {
    let running = Running::bundled().await;
    let mut client = running.client().await;
    let cases: [(&str, SearchRequest); 8] = [
        ("lat", point(95.0, 0.0)),
        ("lat", point(-90.5, 0.0)),
        ("lng", point(0.0, -181.0)),
        ("lat", point(f32::NAN, 0.0)),
        ("page_number", paged(point(1.0, 1.0), -1, 0)),
        ("result_per_page", paged(point(1.0, 1.0), 0, -1)),
        ("result_per_page", paged(point(1.0, 1.0), 0, 1001)),
        ("query", named(&"x".repeat(300))),
    ];
    let (lat, lng) = PARIS;
    for (field, request) in cases {
        let status = search(&mut client, request.clone())
            .await
            .expect_err(&format!("{request:?} is invalid"));
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{request:?}: {status}"
        );
        assert!(
            status.message().starts_with(&format!("{field}: ")),
            "{request:?}: the message should name {field}: {:?}",
            status.message()
        );
        assert_eq!(
            names(&mut client, point(lat, lng)).await,
            ["France"],
            "after {request:?}"
        );
    }
    running.stop().await;
}

#[tokio::test]
async fn grpc_health_and_readyz_answer_on_the_search_port() {
    let running = Running::bundled().await;
    assert!(running.handle.is_ready());
    let mut health = HealthClient::new(running.channel().await);
    for service in ["", "search-service", "Search"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap_or_else(|e| panic!("health check of {service:?}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }

    let mut stream = tokio::net::TcpStream::connect(running.addr)
        .await
        .expect("connect for HTTP/1.1");
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: tern\r\nConnection: close\r\n\r\n")
        .await
        .expect("write the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read the response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ready"), "{response}");
    running.stop().await;
}
