//! What can go wrong short of an answer, each naming the address, and how hyper's layered
//! errors are read into it.

use std::time::Duration;

use http_body_util::LengthLimitError;

use crate::Options;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The TCP address is not `HOST:PORT`.
    #[error("invalid address {0:?}: expected HOST:PORT, e.g. \"127.0.0.1:8500\"")]
    InvalidAddress(String),
    /// The path or a header cannot go into an HTTP request.
    #[error("invalid request to {addr}: {detail}")]
    InvalidRequest { addr: String, detail: String },
    /// Refused, reset, closed before answering, no such socket, permission denied...
    #[error("cannot reach {addr}: {detail}")]
    Unreachable { addr: String, detail: String },
    /// Connecting took longer than [`Options::connect_timeout`].
    #[error("cannot reach {addr}: no connection within {}", show(.timeout))]
    ConnectTimedOut { addr: String, timeout: Duration },
    /// The whole answer took longer than the request's timeout.
    #[error("no answer from {addr} within {}", show(.timeout))]
    TimedOut { addr: String, timeout: Duration },
    /// The body is longer than the request's limit.
    #[error("the answer from {addr} is larger than {limit} bytes")]
    BodyTooLarge { addr: String, limit: usize },
}

impl Error {
    /// What failed, without the address: for callers that name the server in their own
    /// words ("cannot reach the registry at ADDR: REASON").
    pub fn reason(&self) -> String {
        match self {
            Error::InvalidAddress(_) => self.to_string(),
            Error::InvalidRequest { detail, .. } => format!("invalid request: {detail}"),
            Error::Unreachable { detail, .. } => detail.clone(),
            Error::ConnectTimedOut { timeout, .. } => {
                format!("no connection within {}", show(timeout))
            }
            Error::TimedOut { timeout, .. } => format!("no answer within {}", show(timeout)),
            Error::BodyTooLarge { limit, .. } => format!("answer larger than {limit} bytes"),
        }
    }

    /// The address the failed call went to.
    pub fn addr(&self) -> &str {
        match self {
            Error::InvalidAddress(addr)
            | Error::InvalidRequest { addr, .. }
            | Error::Unreachable { addr, .. }
            | Error::ConnectTimedOut { addr, .. }
            | Error::TimedOut { addr, .. }
            | Error::BodyTooLarge { addr, .. } => addr,
        }
    }
}

fn show(timeout: &Duration) -> String {
    tern_duration::format(*timeout)
}

/// The pool gave no response: a connect timeout, else why the connection failed.
pub(crate) fn no_answer(
    addr: &str,
    error: &hyper_util::client::legacy::Error,
    options: &Options,
) -> Error {
    if let Some(io) = io_cause(error) {
        if io.kind() == std::io::ErrorKind::TimedOut && error.is_connect() {
            return Error::ConnectTimedOut {
                addr: addr.to_owned(),
                timeout: options.connect_timeout,
            };
        }
    }
    Error::Unreachable {
        addr: addr.to_owned(),
        detail: reason(error),
    }
}

/// Reading the body failed: over the limit, or the connection broke.
pub(crate) fn unreadable_body(
    addr: &str,
    error: &(dyn std::error::Error + Send + Sync + 'static),
    limit: usize,
) -> Error {
    if error.is::<LengthLimitError>() {
        return Error::BodyTooLarge {
            addr: addr.to_owned(),
            limit,
        };
    }
    Error::Unreachable {
        addr: addr.to_owned(),
        detail: format!("reading the answer: {}", reason(error)),
    }
}

fn io_cause<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e std::io::Error> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cause = error.source();
    }
    None
}

/// Why, in a few words: the I/O error under the client's layers ("connection refused"),
/// else the innermost cause (hyper-util alone says "client error").
fn reason(error: &(dyn std::error::Error + 'static)) -> String {
    use std::io::ErrorKind::*;
    if let Some(io) = io_cause(error) {
        return match io.kind() {
            ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut
            | HostUnreachable | NetworkUnreachable | AddrNotAvailable | PermissionDenied => {
                io.kind().to_string()
            }
            _ => io.to_string(),
        };
    }
    let mut innermost = error;
    while let Some(cause) = innermost.source() {
        innermost = cause;
    }
    innermost.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_leave_the_address_out() {
        let addr = "127.0.0.1:1".to_owned();
        let timeout = Duration::from_millis(1500);
        for (error, display, reason) in [
            (
                Error::Unreachable {
                    addr: addr.clone(),
                    detail: "connection refused".into(),
                },
                "cannot reach 127.0.0.1:1: connection refused",
                "connection refused",
            ),
            (
                Error::ConnectTimedOut {
                    addr: addr.clone(),
                    timeout,
                },
                "cannot reach 127.0.0.1:1: no connection within 1.5s",
                "no connection within 1.5s",
            ),
            (
                Error::TimedOut {
                    addr: addr.clone(),
                    timeout,
                },
                "no answer from 127.0.0.1:1 within 1.5s",
                "no answer within 1.5s",
            ),
            (
                Error::BodyTooLarge {
                    addr: addr.clone(),
                    limit: 10,
                },
                "the answer from 127.0.0.1:1 is larger than 10 bytes",
                "answer larger than 10 bytes",
            ),
        ] {
            assert_eq!(error.to_string(), display);
            assert_eq!(error.reason(), reason);
            assert_eq!(error.addr(), addr);
        }
    }

    #[test]
    fn io_errors_under_layers_are_found() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error")]
        struct Layer(#[source] std::io::Error);
        let refused = Layer(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(reason(&refused), "connection refused");
        let missing = Layer(std::io::Error::from_raw_os_error(2));
        assert_eq!(reason(&missing), "No such file or directory (os error 2)");
    }
}
