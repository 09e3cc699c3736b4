//! Telemetry: RED metrics on `/metrics` after calls, and one trace assembled in a real
//! OTLP collector (tern-traces) across client → frontend → discovery client → backend,
//! with the parent links and the correlation id carried over each hop.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
};

use tern_chassis::{kafka::TypedProducer, Balanced, Discovery, DiscoveryOptions, Event, Service};
use tern_proto::search::{
    search_client::SearchClient,
    search_server::{Search, SearchServer},
    MonitorResponse, SearchRequest, SearchResponses,
};
use tern_traces::{Listeners, StoreHandle, TraceConfig, TraceId, TraceServer};
use tokio::{net::TcpListener, sync::Notify};

use crate::{
    registry::{registering, RunningRegistry},
    support::{self, *},
};

fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    tern_metrics::parse(metrics)
        .unwrap_or_else(|e| panic!("/metrics parses: {e}\n{metrics}"))
        .value(name, labels)
}

#[tokio::test]
async fn calls_show_up_as_red_metrics() {
    let service = start(TestSearch::default().builder()).await;
    let mut client = search_client(&service.channel().await);
    for query in ["a", "b"] {
        client
            .search(SearchRequest {
                query: query.to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    assert_eq!(service.get("/healthz").await.status, 200);
    assert_eq!(service.get("/no/such/page").await.status, 404);

    let scrape = service.get("/metrics").await;
    assert_eq!(scrape.status, 200);
    assert_eq!(
        scrape.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let metrics = scrape.body;
    let grpc = [
        ("rpc_system", "grpc"),
        ("rpc_service", "Search"),
        ("rpc_method", "search"),
        ("rpc_grpc_status_code", "0"),
    ];
    assert_eq!(
        sample(&metrics, "rpc_server_call_duration_seconds_count", &grpc),
        Some(2.0),
        "{metrics}"
    );
    let http = |route: &'static str, code: &'static str| {
        [
            ("http_request_method", "GET"),
            ("http_route", route),
            ("http_response_status_code", code),
        ]
    };
    let count = "http_server_request_duration_seconds_count";
    assert_eq!(sample(&metrics, count, &http("/healthz", "200")), Some(1.0));
    // No route matched: one label value whatever the path, so paths cannot add series.
    assert_eq!(sample(&metrics, count, &http("", "404")), Some(1.0));
    assert_eq!(
        sample(
            &metrics,
            "rpc_server_active_calls",
            &[("rpc_service", "Search")]
        ),
        Some(0.0)
    );
    assert!(sample(&metrics, "process_resident_memory_bytes", &[]).unwrap_or(0.0) > 0.0);

    let openmetrics = http_get(
        service.addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text;version=1.0.0")],
    )
    .await
    .unwrap();
    assert!(
        openmetrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{openmetrics:?}"
    );
    assert!(openmetrics.body.ends_with("# EOF\n"));
    service.stop().await;
}

/// Relays every search to the backend through the discovery client.
#[derive(Clone)]
struct Relay(Balanced);

#[tonic::async_trait]
impl Search for Relay {
    async fn monitor(
        &self,
        _: tonic::Request<()>,
    ) -> Result<tonic::Response<MonitorResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not relayed"))
    }

    async fn search(
        &self,
        request: tonic::Request<SearchRequest>,
    ) -> Result<tonic::Response<SearchResponses>, tonic::Status> {
        SearchClient::new(self.0.clone())
            .search(request.into_inner())
            .await
    }
}

async fn collector() -> (StoreHandle, SocketAddr) {
    let server = TraceServer::build(TraceConfig::default()).unwrap();
    let store = server.store();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = grpc.local_addr().unwrap();
    tokio::spawn(server.serve(Listeners { grpc, http }, std::future::pending()));
    (store, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_the_caller_the_frontend_and_the_backend() {
    let (store, otlp) = collector().await;
    let registry = RunningRegistry::start().await;
    let mut config = registering(registry.http);
    config.telemetry.otlp_endpoint = Some(otlp.to_string());

    let backend = start_with(TestSearch::default().builder(), &config).await;
    let balanced = Discovery::new(&registry.http.to_string())
        .unwrap()
        .with_options(DiscoveryOptions::default())
        .balanced("search-service")
        .await
        .unwrap();
    eventually("the backend is discovered", || async {
        balanced.instances().len() == 1
    })
    .await;
    let frontend = start_with(
        Service::builder("frontend").grpc(SearchServer::new(Relay(balanced))),
        &config,
    )
    .await;

    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let mut request = tonic::Request::new(SearchRequest {
        query: "relayed".to_owned(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-{caller_span}-01").parse().unwrap(),
    );
    request
        .metadata_mut()
        .insert("x-request-id", "checkout-42".parse().unwrap());
    let answer = search_client(&frontend.channel().await)
        .search(request)
        .await
        .unwrap();
    assert_eq!(answer.into_inner().responses[0].response, "relayed");

    let trace_id: TraceId = trace.parse().unwrap();
    let mut spans = Vec::new();
    eventually("three spans of the trace in the collector", || {
        spans = store.trace(&trace_id).unwrap_or_default();
        let done = spans.len() == 3;
        async move { done }
    })
    .await;
    let find = |service: &str, kind: &str| {
        spans
            .iter()
            .find(|s| s.service == service && s.kind.as_str() == kind)
            .unwrap_or_else(|| panic!("a {kind} span of {service} in {spans:#?}"))
    };
    let front_server = find("frontend", "server");
    let front_client = find("frontend", "client");
    let back_server = find("search-service", "server");
    assert_eq!(
        front_server
            .parent_span_id
            .map(|p| p.to_string())
            .as_deref(),
        Some(caller_span)
    );
    assert_eq!(front_client.parent_span_id, Some(front_server.span_id));
    assert_eq!(back_server.parent_span_id, Some(front_client.span_id));
    for span in [front_server, front_client, back_server] {
        assert_eq!(span.name, "Search/search", "{span:?}");
    }
    let request_id = |span: &tern_traces::Span| {
        span.attributes
            .iter()
            .find(|(k, _)| k == "tern.request_id")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(request_id(back_server), Some("checkout-42".into()));
    assert_eq!(request_id(front_server), Some("checkout-42".into()));

    frontend.stop().await;
    backend.stop().await;
}

/// Publishes every search's query as an order, then answers.
#[derive(Clone)]
struct Publish(Arc<OnceLock<TypedProducer<Order>>>);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Order {
    item: String,
}

#[tonic::async_trait]
impl Search for Publish {
    async fn monitor(
        &self,
        _: tonic::Request<()>,
    ) -> Result<tonic::Response<MonitorResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("no"))
    }

    async fn search(
        &self,
        request: tonic::Request<SearchRequest>,
    ) -> Result<tonic::Response<SearchResponses>, tonic::Status> {
        let item = request.into_inner().query;
        let producer = self
            .0
            .get()
            .ok_or_else(|| tonic::Status::unavailable("no producer"))?;
        producer
            .send(item.clone(), &Order { item })
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        Ok(tonic::Response::new(SearchResponses::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_follows_a_record_through_the_broker() {
    let (store, otlp) = collector().await;
    let broker = tern_test_support::broker::RunningBroker::start().await;
    let bootstrap = broker.bootstrap();
    let mut config = support::config();
    config.telemetry.otlp_endpoint = Some(otlp.to_string());
    config.broker = Some(bootstrap);

    let handled = Arc::new(Notify::new());
    let notify = handled.clone();
    let billing = start_with(
        Service::builder("billing").consume("orders", move |_: Event<Order>| {
            let notify = notify.clone();
            async move {
                notify.notify_one();
                Ok::<(), String>(())
            }
        }),
        &config,
    )
    .await;
    let producer = Arc::new(OnceLock::new());
    let orders = start_with(
        Service::builder("orders").grpc(SearchServer::new(Publish(producer.clone()))),
        &config,
    )
    .await;
    let typed = TypedProducer::new(orders.handle.producer().await.unwrap(), "orders");
    assert!(producer.set(typed).is_ok());

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let mut request = tonic::Request::new(SearchRequest {
        query: "book".to_owned(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-b7ad6b7169203331-01").parse().unwrap(),
    );
    search_client(&orders.channel().await)
        .search(request)
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(15), handled.notified())
        .await
        .expect("billing handles the order");

    let trace_id: TraceId = trace.parse().unwrap();
    let mut spans = Vec::new();
    eventually(
        "server, producer and consumer spans in the collector",
        || {
            spans = store.trace(&trace_id).unwrap_or_default();
            let done = spans.len() == 3;
            async move { done }
        },
    )
    .await;
    let kind = |kind: &str| {
        spans
            .iter()
            .find(|s| s.kind.as_str() == kind)
            .unwrap_or_else(|| panic!("a {kind} span in {spans:#?}"))
    };
    let (server, producer, consumer) = (kind("server"), kind("producer"), kind("consumer"));
    assert_eq!(
        (server.service.as_str(), producer.service.as_str()),
        ("orders", "orders")
    );
    assert_eq!(consumer.service, "billing");
    assert_eq!(producer.name, "orders publish");
    assert_eq!(consumer.name, "orders process");
    assert_eq!(producer.parent_span_id, Some(server.span_id));
    assert_eq!(consumer.parent_span_id, Some(producer.span_id));

    orders.stop().await;
    billing.stop().await;
}
