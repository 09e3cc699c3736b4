//! One client connection: frames in, responses out, in order.
//!
//! The read side reads a frame (4-byte length, then that many bytes), parses the header
//! and runs the request's in-order stage (`api::dispatch`): everything that must happen
//! in request order (appends, group state changes) happens there. What may take long
//! (an fsync for acks=all, a long-polling Fetch, a JoinGroup waiting for the group) comes
//! back as a deferred reply; the write side awaits replies in request order and writes
//! them, so the next requests are read and processed meanwhile (at most
//! [`MAX_IN_FLIGHT`] queued per connection).
//!
//! Bad input closes only this connection, after a log line: a length below 8 or above
//! `max_request_bytes`, end of stream mid-frame, an unknown API key, a header or body
//! that does not decode. Nothing is allocated for a frame before its bytes arrive.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::api::{self, Reply};
use crate::state::BrokerState;

/// Replies queued per connection before the reader waits for the writer.
pub(crate) const MAX_IN_FLIGHT: usize = 64;

/// The smallest frame: api key, api version and correlation id (2 + 2 + 4 bytes).
const MIN_FRAME: usize = 8;

/// What a connection knows about itself; handlers record deferred group replies here so
/// they are cancelled when the connection goes.
pub(crate) struct Conn {
    pub peer: SocketAddr,
    pub client_id: String,
    pub pending_group_replies: Vec<u64>,
}

#[derive(Debug)]
pub(crate) enum FrameError {
    Io(std::io::Error),
    BadLength(i32),
    Truncated { have: usize, need: usize },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "read failed: {e}"),
            FrameError::BadLength(len) => write!(f, "frame length {len} out of bounds"),
            FrameError::Truncated { have, need } => {
                write!(f, "connection closed mid-frame ({have} of {need} bytes)")
            }
        }
    }
}

/// Reads length-prefixed frames; buffers grow with the bytes that actually arrive.
pub(crate) struct FrameReader {
    read: OwnedReadHalf,
    buf: BytesMut,
    max: usize,
}

impl FrameReader {
    pub fn new(read: OwnedReadHalf, max: usize) -> Self {
        FrameReader {
            read,
            buf: BytesMut::with_capacity(64 * 1024),
            max,
        }
    }

    /// The next frame's bytes (after the length), `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            let mut need = 4;
            if let Some(prefix) = self.buf.get(..4) {
                let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                let ok = usize::try_from(len).is_ok_and(|l| (MIN_FRAME..=self.max).contains(&l));
                if !ok {
                    return Err(FrameError::BadLength(len));
                }
                need = 4 + len as usize;
                if self.buf.len() >= need {
                    self.buf.advance(4);
                    return Ok(Some(self.buf.split_to(len as usize).freeze()));
                }
            }
            // Room for what is missing, a chunk at a time: a huge length prefix gets
            // memory only as its bytes arrive.
            let missing = need - self.buf.len();
            self.buf.reserve(missing.clamp(4096, 1024 * 1024));
            let read = self
                .read
                .read_buf(&mut self.buf)
                .await
                .map_err(FrameError::Io)?;
            if read == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated {
                        have: self.buf.len(),
                        need,
                    })
                };
            }
        }
    }
}

/// A reply on its way to the writer: the encoded frame, or a future producing it
/// (`None`: close the connection instead).
pub(crate) enum Queued {
    Ready(Bytes),
    Deferred(BoxFuture<'static, Option<Bytes>>),
}

/// Serves one connection until the client goes, it misbehaves, or `shutdown` flips.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<BrokerState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut frames = FrameReader::new(read, state.config.max_request_bytes);
    let (queue, replies) = mpsc::channel::<Queued>(MAX_IN_FLIGHT);
    let mut writer = tokio::spawn(write_replies(write, replies));
    let mut conn = Conn {
        peer,
        client_id: String::new(),
        pending_group_replies: Vec::new(),
    };
    tracing::debug!(%peer, "connection opened");
    let mut clean = true;
    loop {
        let frame = tokio::select! {
            frame = frames.next() => frame,
            _ = shutdown.wait_for(|stop| *stop) => break,
            // The writer stopped (write error or a deferred reply asked to close).
            _ = &mut writer => { clean = false; break }
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                tracing::warn!(%peer, client_id = %conn.client_id, %error, "closing connection: bad frame");
                clean = false;
                break;
            }
        };
        match api::dispatch(&state, &mut conn, frame).await {
            Reply::Send(queued) => {
                if queue.send(queued).await.is_err() {
                    clean = false;
                    break;
                }
            }
            Reply::Nothing => {}
            Reply::Close => {
                clean = false;
                break;
            }
        }
    }
    drop(queue);
    if clean {
        // Let the queued replies go out (the client may have only half-closed).
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut writer).await;
    }
    writer.abort();
    state
        .groups
        .cancel(std::mem::take(&mut conn.pending_group_replies));
    tracing::debug!(%peer, client_id = %conn.client_id, "connection closed");
}

/// Writes replies in request order; small ones are coalesced into one write.
async fn write_replies(write: OwnedWriteHalf, mut replies: mpsc::Receiver<Queued>) {
    let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, write);
    while let Some(queued) = replies.recv().await {
        let frame = match queued {
            Queued::Ready(frame) => frame,
            Queued::Deferred(future) => match future.await {
                Some(frame) => frame,
                None => break,
            },
        };
        if out.write_all(&frame).await.is_err() {
            return;
        }
        if replies.is_empty() && out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.flush().await;
    let _ = out.shutdown().await;
}
