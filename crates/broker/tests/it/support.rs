//! Fixtures: a raw Kafka client built on kafka-protocol's encoders (requests) and decoders
//! (responses); the broker served in-process is tern-test-support's `RunningBroker`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
