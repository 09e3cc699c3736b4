//! A response body passed through unchanged that reports, once, how the call ended: the
//! gRPC status (from the response headers of a trailers-only answer, else the trailers)
//! and whether the body was read to its end or dropped before.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use http::{HeaderMap, HeaderName};
use http_body::{Body, Frame, SizeHint};

/// Told how a call ended: its gRPC status, if any, and whether the body was read to its end.
pub(crate) trait CallEnd {
    fn end(self, grpc_status: Option<i32>, ended: bool);
}

impl<F: FnOnce(Option<i32>, bool)> CallEnd for F {
    fn end(self, grpc_status: Option<i32>, ended: bool) {
        self(grpc_status, ended)
    }
}

pub(crate) struct ObservedBody<B, E: CallEnd> {
    inner: B,
    grpc_status: Option<i32>,
    on_end: Option<E>,
}

impl<B, E: CallEnd> ObservedBody<B, E> {
    pub(crate) fn new(inner: B, headers: &HeaderMap, on_end: E) -> Self {
        ObservedBody {
            inner,
            grpc_status: grpc_status(headers),
            on_end: Some(on_end),
        }
    }

    /// A body that reports nothing (telemetry off).
    pub(crate) fn unobserved(inner: B) -> Self {
        ObservedBody {
            inner,
            grpc_status: None,
            on_end: None,
        }
    }

    fn end(&mut self, ended: bool) {
        if let Some(on_end) = self.on_end.take() {
            on_end.end(self.grpc_status, ended);
        }
    }
}

impl<B, E> Body for ObservedBody<B, E>
where
    B: Body + Unpin,
    E: CallEnd + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Ok(frame))) if self.on_end.is_some() => {
                if let Some(status) = frame.trailers_ref().and_then(grpc_status) {
                    self.grpc_status = Some(status);
                }
            }
            Poll::Ready(None) => self.end(true),
            Poll::Ready(Some(_)) | Poll::Pending => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, E: CallEnd> Drop for ObservedBody<B, E> {
    fn drop(&mut self) {
        // Dropped without a final poll: an empty body nobody polled to the end counts as
        // ended; anything else was cut short (the peer went away).
        let ended = self.on_end.is_some() && self.grpc_status.is_some();
        self.end(ended);
    }
}

/// A name, not a `&str`: a lookup by `&str` parses the text first, on every call.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers.get(GRPC_STATUS)?.to_str().ok()?.parse::<i32>().ok()
}
