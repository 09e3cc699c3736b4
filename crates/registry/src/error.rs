//! The crate's one error type. `http::error` is the only place these become HTTP status
//! codes; messages follow Consul's wording where clients or people may match on it.

/// What went wrong in the registry: a rejected command, a bad config, or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A service registration that cannot be accepted (HTTP 400).
    #[error("{0}")]
    InvalidService(String),
    /// A check definition that cannot be accepted (HTTP 400).
    #[error("{0}")]
    InvalidCheck(String),
    /// A duration in a check definition that is not Go duration text (HTTP 400).
    #[error(
        "invalid duration {value:?} in check {field}: expected e.g. \"10s\", \"500ms\", \"1m30s\""
    )]
    InvalidDuration { field: &'static str, value: String },
    /// No service instance with this ID on the agent (HTTP 404; Consul's wording, so a
    /// client that treats it as "already deregistered" recognises it).
    #[error(
        "Unknown service ID {0:?}. Ensure that the service ID is passed, not the service name."
    )]
    UnknownService(String),
    /// No check with this ID on the agent (HTTP 404).
    #[error("Unknown check ID {0:?}")]
    UnknownCheck(String),
    /// pass/warn/fail/update only apply to TTL checks (HTTP 404, as Consul does).
    #[error("CheckID {0:?} does not have associated TTL")]
    NotTtlCheck(String),
    /// A KV key that cannot be written (HTTP 400).
    #[error("{0}")]
    InvalidKey(String),
    /// A KV value over the 512 KiB limit (HTTP 413).
    #[error("Value exceeds {max} byte limit (got {size} bytes)")]
    ValueTooLarge { size: usize, max: usize },
    /// A transaction with more operations than Consul allows (HTTP 413).
    #[error("Transaction contains too many operations ({count} > {max})")]
    TooManyTxnOps { count: usize, max: usize },
    /// A registry configuration that cannot work, naming the key and the expected form.
    #[error("invalid registry config: {0}")]
    InvalidConfig(String),
    /// A listener could not be bound.
    #[error("cannot listen for {what} on {addr}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("registry HTTP server: {0}")]
    Serve(#[from] std::io::Error),
    /// The DNS interface failed to start or serve.
    #[error("registry DNS: {0}")]
    Dns(#[from] tern_registry_dns::Error),
    /// The journal could not make a change durable (HTTP 500).
    #[error("registry journal: {0}")]
    Journal(#[from] tern_journal::Error),
    /// A command could not be encoded for, or decoded from, the journal.
    #[error("registry persistence: {0}")]
    Persist(String),
    /// A serving task panicked.
    #[error("registry task failed: {0}")]
    Task(String),
}
