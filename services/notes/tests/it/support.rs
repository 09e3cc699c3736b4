//! A notes service serving in the test's runtime on a fresh database, with gRPC and REST
//! clients for it.

use std::net::SocketAddr;

use http::Method;
use notes::proto::note_service_client::NoteServiceClient;
use notes::{Config, NoteConfig, Service};
use serde_json::Value;
use tern_http_client::{Address, HttpClient, Options, Request};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub struct Running {
    pub addr: SocketAddr,
    http: HttpClient,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<Result<(), notes::Error>>>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// On SQLite in a temporary data directory.
    pub async fn sqlite() -> Running {
        Running::start(None).await
    }

    /// On `database` (a URL), the data directory still temporary.
    pub async fn start(database: Option<String>) -> Running {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let config = Config {
            chassis: Default::default(),
            service: NoteConfig {
                data_dir: dir.path().to_owned(),
                database,
            },
        };
        let service = Service::build(&config).await.expect("notes builds");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(service.serve(listener, async {
            let _ = stopped.await;
        }));
        let http = HttpClient::new(Address::Tcp(addr.to_string()), Options::default())
            .expect("an HTTP client");
        Running {
            addr,
            http,
            stop: Some(stop),
            served: Some(served),
            _dir: dir,
        }
    }

    pub async fn grpc(&self) -> NoteServiceClient<Channel> {
        NoteServiceClient::connect(format!("http://{}", self.addr))
            .await
            .expect("gRPC connects")
    }

    /// A REST call: the status and the JSON body (`Null` when empty or not JSON).
    pub async fn rest(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = Request::new(method, path);
        if let Some(body) = body {
            request = request.json(body.to_string());
        }
        let response = self.http.send(request).await.expect("REST call answered");
        let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status.as_u16(), json)
    }

    /// A REST call with a raw body, for malformed input.
    pub async fn rest_raw(&self, method: Method, path: &str, body: &'static str) -> (u16, Value) {
        let response = self
            .http
            .send(Request::new(method, path).json(body))
            .await
            .expect("REST call answered");
        let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status.as_u16(), json)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.expect("serve task").expect("clean shutdown");
        }
    }
}
