//! Shared test fixtures: a controllable gRPC service, a running-service wrapper, a raw
//! HTTP/1.1 client, a log capture and an `eventually` poll helper.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tern_chassis::{ChassisConfig, Error, Handle, ServiceBuilder};
use tern_proto::search::{
    search_client::SearchClient,
    search_server::{Search, SearchServer},
    MonitorResponse, SearchRequest, SearchResponse, SearchResponses,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{oneshot, Notify},
    task::JoinHandle,
};
use tonic::transport::Channel;
use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};

pub use tonic_health::pb::health_check_response::ServingStatus;

/// The `Search` service under test. `search` with query "block" waits until the test
/// calls `release()`; every other call answers at once.
#[derive(Clone, Default)]
pub struct TestSearch {
    pub started: Arc<Notify>,
    pub release: Arc<Notify>,
    /// Set when a blocked call's future is dropped before it finished (aborted).
    pub aborted: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tonic::async_trait]
impl Search for TestSearch {
    async fn monitor(
        &self,
        _: tonic::Request<()>,
    ) -> Result<tonic::Response<MonitorResponse>, tonic::Status> {
        Ok(tonic::Response::new(MonitorResponse { n_things: 42 }))
    }

    async fn search(
        &self,
        request: tonic::Request<SearchRequest>,
    ) -> Result<tonic::Response<SearchResponses>, tonic::Status> {
        let query = request.into_inner().query;
        tracing::info!(query = %query, "searching");
        if query == "block" {
            let guard = SetOnDrop(self.aborted.clone());
            let released = self.release.notified();
            self.started.notify_one();
            released.await;
            std::mem::forget(guard);
        }
        Ok(tonic::Response::new(SearchResponses {
            responses: vec![SearchResponse { response: query }],
        }))
    }
}

impl TestSearch {
    pub fn builder(&self) -> ServiceBuilder {
        tern_chassis::Service::builder("search-service").grpc(SearchServer::new(self.clone()))
    }
}

/// A service serving on 127.0.0.1:0 in a background task.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: Handle,
    pub served: JoinHandle<Result<(), Error>>,
    shutdown: Option<oneshot::Sender<()>>,
}

pub fn config() -> ChassisConfig {
    let mut config = ChassisConfig::default();
    config.shutdown_timeout = Duration::from_secs(30);
    config
}

pub async fn start(builder: ServiceBuilder) -> Running {
    start_with(builder, &config()).await
}

pub async fn start_with(builder: ServiceBuilder, config: &ChassisConfig) -> Running {
    let service = builder.build(config).expect("valid service");
    let handle = service.handle();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let served = tokio::spawn(service.serve(listener, async {
        let _ = rx.await;
    }));
    assert_eq!(handle.listening().await, Some(addr));
    Running {
        addr,
        handle,
        served,
        shutdown: Some(tx),
    }
}

impl Running {
    /// Fires the shutdown future passed to `serve`.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and expects `serve` to return Ok.
    pub async fn stop(mut self) {
        self.trigger_shutdown();
        let result = tokio::time::timeout(Duration::from_secs(30), self.served)
            .await
            .expect("serve returns after shutdown");
        result.unwrap().unwrap();
    }

    pub async fn channel(&self) -> Channel {
        channel(self.addr).await
    }

    pub async fn grpc_health(&self, service: &str) -> ServingStatus {
        grpc_health(&self.channel().await, service).await
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        http_get(self.addr, path, &[]).await.unwrap()
    }
}

pub async fn channel(addr: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub async fn grpc_health(channel: &Channel, service: &str) -> ServingStatus {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

pub fn search_client(channel: &Channel) -> SearchClient<Channel> {
    SearchClient::new(channel.clone())
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 GET over a fresh connection (`Connection: close`).
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let raw = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Polls `check` every 10ms until it returns true; panics after 10s naming `what`.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Everything a logger built with `tern_chassis::log_dispatch` writes (JSON lines).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub fn lines(&self) -> Vec<serde_json::Map<String, serde_json::Value>> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// A JSON logger at `level` writing here, to install with
    /// `tracing::dispatcher::set_default`.
    ///
    /// tracing-core caches each callsite's interest. While only one logger exists it asks
    /// just the default logger of the thread that hits the callsite first, so a callsite
    /// first hit on another test's thread (no logger there) would be cached as "never" for
    /// this one too. A second logger that lives as long as the process makes tracing-core
    /// combine every logger's answer instead.
    pub fn dispatch(&self, level: &str) -> tracing::Dispatch {
        static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::new()));
        let writer = self.clone();
        let mut config = tern_chassis::LogConfig::default();
        config.level = level.to_owned();
        tern_chassis::log_dispatch(&config, "search-service", move || writer.clone())
            .expect("a valid log config")
    }
}
