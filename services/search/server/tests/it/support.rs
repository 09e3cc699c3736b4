//! Shared fixtures: a search service serving on 127.0.0.1:0 inside the test's runtime, a gRPC
//! client for it, request builders and an `eventually` poll helper.

use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use search_service::{Config, SearchConfig, SearchService};
use tern_chassis::{ChassisConfig, Handle};
use tern_proto::search::search_client::SearchClient;
use tern_proto::search::SearchRequest;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;

/// Paris, Austin and Maseru as the wire carries them.
pub const PARIS: (f32, f32) = (48.8566, 2.3522);
pub const AUSTIN: (f32, f32) = (30.2672, -97.7431);
pub const MASERU: (f32, f32) = (-29.31, 27.48);
/// Features in the bundled Natural Earth layers (admin 0 + admin 1).
pub const BUNDLED_FEATURES: i32 = 341;

/// The repository root (`data/`, `proto/`, `tests/compat/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

pub fn config(service: SearchConfig) -> Config {
    tern_chassis::Config {
        chassis: ChassisConfig::default(),
        service,
    }
}

/// The default configuration on the embedded store in `data_dir` (bundled data imported on
/// first start).
pub fn embedded(data_dir: &Path) -> SearchConfig {
    SearchConfig {
        data_dir: data_dir.to_owned(),
        ..SearchConfig::default()
    }
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary data directory")
}

/// A search service serving in a background task of the test's runtime. Dropping it
/// triggers a graceful shutdown; [`Running::stop`] also waits for it and checks the result.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: Handle,
    served: Option<JoinHandle<Result<(), search_service::Error>>>,
    shutdown: Option<oneshot::Sender<()>>,
    // Dropped last: the store may live in it.
    _data_dir: Option<tempfile::TempDir>,
}

impl Running {
    /// A fresh embedded store in its own temporary directory, with the bundled data.
    pub async fn bundled() -> Running {
        let dir = temp_dir();
        let mut running = Running::start(&config(embedded(dir.path()))).await;
        running._data_dir = Some(dir);
        running
    }

    pub async fn start(config: &Config) -> Running {
        let service = SearchService::build(config)
            .await
            .expect("the search service builds");
        Running::serve(service).await
    }

    pub async fn serve(service: SearchService) -> Running {
        let handle = service.handle();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let (tx, rx) = oneshot::channel::<()>();
        let served = tokio::spawn(service.serve(listener, async {
            let _ = rx.await;
        }));
        assert_eq!(handle.listening().await, Some(addr), "serving on {addr}");
        Running {
            addr,
            handle,
            served: Some(served),
            shutdown: Some(tx),
            _data_dir: None,
        }
    }

    pub async fn channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid endpoint URI")
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect to the search service at {}: {e}", self.addr))
    }

    pub async fn client(&self) -> SearchClient<Channel> {
        SearchClient::new(self.channel().await)
    }

    /// Shuts down gracefully and checks that `serve` returned `Ok`.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let served = self.served.take().expect("serve task");
        tokio::time::timeout(Duration::from_secs(30), served)
            .await
            .expect("the service stops within 30s")
            .expect("serve task did not panic")
            .expect("serve returns Ok");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn point(lat: f32, lng: f32) -> SearchRequest {
    SearchRequest {
        lat,
        lng,
        ..SearchRequest::default()
    }
}

/// A name-only search: (0, 0) with a non-empty query.
pub fn named(query: &str) -> SearchRequest {
    SearchRequest {
        query: query.to_owned(),
        ..SearchRequest::default()
    }
}

pub fn paged(mut request: SearchRequest, page_number: i32, result_per_page: i32) -> SearchRequest {
    request.page_number = page_number;
    request.result_per_page = result_per_page;
    request
}

/// The names a search answers, in order.
pub async fn search(
    client: &mut SearchClient<Channel>,
    request: SearchRequest,
) -> Result<Vec<String>, tonic::Status> {
    let responses = client.search(request).await?.into_inner().responses;
    Ok(responses.into_iter().map(|r| r.response).collect())
}

/// Like [`search`], failing the test with the request on an error status.
pub async fn names(client: &mut SearchClient<Channel>, request: SearchRequest) -> Vec<String> {
    search(client, request.clone())
        .await
        .unwrap_or_else(|status| panic!("search {request:?} failed: {status}"))
}

pub async fn monitor(client: &mut SearchClient<Channel>) -> i32 {
    client
        .monitor(())
        .await
        .unwrap_or_else(|status| panic!("monitor failed: {status}"))
        .into_inner()
        .n_things
}

/// Polls `check` every 20ms until it returns `Ok`, or fails the test after `timeout` with
/// the last thing it saw (the `Err`).
pub async fn eventually<T, E: Debug, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("{what}: not true after {timeout:?}; last seen: {seen:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
