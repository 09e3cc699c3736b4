//! Fixtures: a broker served in-process on `127.0.0.1:0`, and a raw Kafka client built on
//! kafka-protocol's encoders (requests) and decoders (responses).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tern_broker::{Broker, BrokerConfig, BrokerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A broker serving until [`Running::stop`] (or dropped with its temporary directory).
pub struct Running {
    pub addr: SocketAddr,
    pub handle: BrokerHandle,
    pub dir: PathBuf,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tern_broker::Error>>,
    _temp: Option<tempfile::TempDir>,
}

pub fn config() -> BrokerConfig {
    BrokerConfig::default()
}

impl Running {
    pub async fn start() -> Self {
        Self::with(config()).await
    }

    /// A broker with `config` (its `data_dir` replaced by a fresh temporary directory).
    pub async fn with(config: BrokerConfig) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("broker");
        let mut running = Self::in_dir(config, dir).await;
        running._temp = Some(temp);
        running
    }

    /// A broker on `dir` (kept: for restart tests).
    pub async fn in_dir(mut config: BrokerConfig, dir: PathBuf) -> Self {
        init_logging();
        config.data_dir = dir.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let broker = tokio::task::spawn_blocking(move || Broker::build(config))
            .await
            .expect("build task")
            .expect("broker builds");
        let handle = broker.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(broker.serve(listener, async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            handle,
            dir,
            stop,
            task,
            _temp: None,
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// Stops the broker and returns its temporary directory (kept alive for a restart).
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        let _ = self.stop.send(());
        let served = tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("the broker stops within 20s")
            .expect("the serving task does not panic");
        served.expect("serve returns Ok");
        self._temp.take()
    }
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A Kafka client speaking raw frames.
pub struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client {
            stream,
            correlation: 0,
        }
    }

    /// Encodes `request` at `version` with the right header version, sends it, and
    /// decodes the response (asserting the correlation id).
    pub async fn call<R: Request>(&mut self, version: i16, request: R) -> R::Response {
        let correlation = self.send(version, &request).await;
        self.receive::<R>(version, correlation).await
    }

    /// Sends without waiting for the answer; returns the correlation id.
    pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        let frame = encode_request(version, request, self.next_correlation());
        self.stream.write_all(&frame).await.expect("write request");
        self.correlation
    }

    /// Reads the answer to a request sent with [`Client::send`].
    pub async fn receive<R: Request>(&mut self, version: i16, correlation: i32) -> R::Response {
        let mut frame = self
            .read_frame()
            .await
            .expect("a response, not a closed connection");
        let key = ApiKey::try_from(R::KEY).expect("known key");
        let header = ResponseHeader::decode(&mut frame, key.response_header_version(version))
            .expect("response header decodes");
        assert_eq!(
            header.correlation_id, correlation,
            "responses come in request order"
        );
        let response = R::Response::decode(&mut frame, version).expect("response body decodes");
        assert_eq!(frame.remaining(), 0, "the whole response body was read");
        response
    }

    fn next_correlation(&mut self) -> i32 {
        self.correlation += 1;
        self.correlation
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Closes the sending side (the broker sees end of stream).
    pub async fn shutdown_write(&mut self) {
        self.stream.shutdown().await.expect("shutdown");
    }

    /// The next response frame (after its length), `None` if the broker closed the
    /// connection (or reset it). Fails after 10 s.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let read = async {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
            self.stream.read_exact(&mut frame).await.ok()?;
            Some(Bytes::from(frame))
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("the broker answers or closes within 10s")
    }

    /// Whether the broker closed this connection (EOF or reset) within 10 s.
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        let read = async {
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap_or(false)
    }
}

/// A whole request frame: length, header (version chosen by API and version), body.
pub fn encode_request<R: Request>(version: i16, request: &R, correlation: i32) -> Bytes {
    let key = ApiKey::try_from(R::KEY).expect("known key");
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("tern-it")));
    let mut body = BytesMut::new();
    header
        .encode(&mut body, key.request_header_version(version))
        .expect("header encodes");
    request.encode(&mut body, version).expect("request encodes");
    let mut frame = BytesMut::with_capacity(4 + body.len());
    frame.put_i32(body.len() as i32);
    frame.put_slice(&body);
    frame.freeze()
}

/// Polls `condition` every 20 ms until it holds; fails with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
