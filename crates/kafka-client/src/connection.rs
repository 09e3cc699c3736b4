//! One TCP connection to one broker, pipelined: requests are written in call order and
//! answers matched by correlation id in the same order (Kafka answers a connection's
//! requests in order). A writer task and a reader task own the socket halves; when
//! either fails, every waiting call fails with `Disconnected` and the handle reports
//! itself dead, so the caller's pool connects again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::Error;

/// The largest response accepted (a longer length prefix is a protocol error).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

struct Outgoing {
    frame: Bytes,
    /// `None` for requests the broker does not answer (Produce with acks=0).
    reply: Option<(i32, oneshot::Sender<Result<Bytes, Error>>)>,
}

/// A cloneable handle to one broker connection.
#[derive(Clone)]
pub(crate) struct Connection {
    addr: Arc<str>,
    client_id: Arc<str>,
    correlation: Arc<AtomicI32>,
    dead: Arc<AtomicBool>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

type Waiting = Arc<Mutex<VecDeque<(i32, oneshot::Sender<Result<Bytes, Error>>)>>>;

impl Connection {
    pub(crate) async fn connect(
        addr: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Connect {
                addr: addr.to_string(),
                reason: format!("no answer within {timeout:?}"),
            })?
            .map_err(|e| Error::Connect {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let (outgoing, mut queue) = mpsc::unbounded_channel::<Outgoing>();
        let waiting: Waiting = Arc::default();
        let addr: Arc<str> = Arc::from(addr);
        let dead = Arc::new(AtomicBool::new(false));

        // Writer: registers the waiter before writing, so the reader always finds it.
        let writer_waiting = waiting.clone();
        let writer_addr = addr.clone();
        let writer_dead = dead.clone();
        tokio::spawn(async move {
            while let Some(request) = queue.recv().await {
                if let Some(reply) = request.reply {
                    lock(&writer_waiting).push_back(reply);
                }
                // The reader sets `dead` before failing the waiters: a waiter pushed
                // after that is failed here.
                if writer_dead.load(Ordering::Acquire) {
                    fail_all(&writer_waiting, &writer_addr, "connection closed");
                    return;
                }
                if let Err(e) = write.write_all(&request.frame).await {
                    writer_dead.store(true, Ordering::Release);
                    fail_all(&writer_waiting, &writer_addr, &e.to_string());
                    return;
                }
            }
            // Every handle dropped: close the sending side; the reader ends on EOF.
            let _ = write.shutdown().await;
        });

        let reader_addr = addr.clone();
        let reader_waiting = waiting;
        let reader_dead = dead.clone();
        tokio::spawn(async move {
            let reason = loop {
                let mut len = [0u8; 4];
                if let Err(e) = read.read_exact(&mut len).await {
                    break e.to_string();
                }
                let len = i32::from_be_bytes(len);
                if len < 4 || len as usize > MAX_RESPONSE_BYTES {
                    break format!("response length {len} out of range");
                }
                let mut frame = vec![0u8; len as usize];
                if let Err(e) = read.read_exact(&mut frame).await {
                    break e.to_string();
                }
                let frame = Bytes::from(frame);
                let correlation = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
                let Some((expected, reply)) = lock(&reader_waiting).pop_front() else {
                    break format!("unexpected response (correlation id {correlation})");
                };
                if expected != correlation {
                    let _ = reply.send(Err(Error::Protocol {
                        addr: reader_addr.to_string(),
                        reason: format!("correlation id {correlation}, expected {expected}"),
                    }));
                    break "responses out of order".to_string();
                }
                let _ = reply.send(Ok(frame));
            };
            tracing::debug!(addr = %reader_addr, %reason, "connection ended");
            reader_dead.store(true, Ordering::Release);
            fail_all(&reader_waiting, &reader_addr, &reason);
        });

        Ok(Connection {
            addr,
            client_id: Arc::from(client_id),
            correlation: Arc::new(AtomicI32::new(0)),
            dead,
            outgoing,
        })
    }

    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the writer has stopped (the socket failed or was closed).
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire) || self.outgoing.is_closed()
    }

    /// Sends `request` at `version` and decodes the answer.
    pub(crate) async fn call<R: Request>(
        &self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, Error> {
        let (correlation, frame) = self.encode(version, request)?;
        let (tx, rx) = oneshot::channel();
        self.outgoing
            .send(Outgoing {
                frame,
                reply: Some((correlation, tx)),
            })
            .map_err(|_| self.disconnected("connection closed"))?;
        let mut frame = rx
            .await
            .map_err(|_| self.disconnected("connection closed"))??;
        let key = api_key::<R>();
        let protocol = |e: String| Error::Protocol {
            addr: self.addr.to_string(),
            reason: format!("{key:?} v{version}: {e}"),
        };
        ResponseHeader::decode(&mut frame, key.response_header_version(version))
            .map_err(|e| protocol(e.to_string()))?;
        let response =
            R::Response::decode(&mut frame, version).map_err(|e| protocol(e.to_string()))?;
        if frame.has_remaining() {
            tracing::debug!(addr = %self.addr, api = ?key, left = frame.remaining(), "response has trailing bytes");
        }
        Ok(response)
    }

    /// Sends `request` without waiting for (or expecting) an answer.
    pub(crate) fn send_only<R: Request>(&self, version: i16, request: &R) -> Result<(), Error> {
        let (_, frame) = self.encode(version, request)?;
        self.outgoing
            .send(Outgoing { frame, reply: None })
            .map_err(|_| self.disconnected("connection closed"))
    }

    fn encode<R: Request>(&self, version: i16, request: &R) -> Result<(i32, Bytes), Error> {
        let key = api_key::<R>();
        let correlation = self
            .correlation
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_string(self.client_id.to_string())));
        let mut body = BytesMut::new();
        body.put_i32(0);
        let encoded = header
            .encode(&mut body, key.request_header_version(version))
            .and_then(|()| request.encode(&mut body, version));
        encoded.map_err(|e| Error::Protocol {
            addr: self.addr.to_string(),
            reason: format!("encoding {key:?} v{version}: {e}"),
        })?;
        let len = (body.len() - 4) as i32;
        body[..4].copy_from_slice(&len.to_be_bytes());
        Ok((correlation, body.freeze()))
    }

    fn disconnected(&self, reason: &str) -> Error {
        Error::Disconnected {
            addr: self.addr.to_string(),
            reason: reason.to_string(),
        }
    }
}

fn api_key<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).unwrap_or(ApiKey::ApiVersions)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn fail_all(waiting: &Waiting, addr: &str, reason: &str) {
    for (_, reply) in lock(waiting).drain(..) {
        let _ = reply.send(Err(Error::Disconnected {
            addr: addr.to_string(),
            reason: reason.to_string(),
        }));
    }
}
