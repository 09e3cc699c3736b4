//! The connection pools under [`crate::HttpClient`]: hyper-util's pooling client over
//! its TCP connector (name resolution, `TCP_NODELAY`, connect timeout) or over a
//! connector to one Unix socket path.

use std::{
    future::Future,
    io,
    path::Path,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::Uri;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client, ResponseFuture},
    rt::{TokioExecutor, TokioIo, TokioTimer},
};

use crate::{Address, Options};

#[derive(Clone)]
pub(crate) enum Pool {
    Tcp(Client<HttpConnector, Full<Bytes>>),
    Unix(Client<UnixConnector, Full<Bytes>>),
}

impl Pool {
    pub(crate) fn new(address: Address, options: &Options) -> Pool {
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(options.pool_idle_timeout)
            // Without a timer idle connections are only dropped when next checked out.
            .pool_timer(TokioTimer::new());
        match address {
            Address::Tcp(_) => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(options.connect_timeout));
                Pool::Tcp(builder.build(connector))
            }
            Address::Unix(path) => Pool::Unix(builder.build(UnixConnector {
                path: path.into(),
                timeout: options.connect_timeout,
            })),
        }
    }

    pub(crate) fn request(&self, request: http::Request<Full<Bytes>>) -> ResponseFuture {
        match self {
            Pool::Tcp(client) => client.request(request),
            Pool::Unix(client) => client.request(request),
        }
    }
}

/// Connects to one Unix socket whatever the URI says (the URI only names the pool).
#[derive(Clone)]
pub(crate) struct UnixConnector {
    path: Arc<Path>,
    timeout: Duration,
}

impl tower::Service<Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.path.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(&*path)).await {
                Ok(stream) => stream.map(TokioIo::new),
                // The same kind hyper-util's TCP connector reports, so both read alike.
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timeout")),
            }
        })
    }
}
