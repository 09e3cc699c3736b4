//! The crate's one error type, and Kafka error codes by name.

/// What went wrong. `Clone`, because one failed batch fails every record in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("connecting to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("connection to {addr} lost: {reason}")]
    Disconnected { addr: String, reason: String },
    #[error("bad response from {addr}: {reason}")]
    Protocol { addr: String, reason: String },
    #[error("{context}: Kafka error {code} ({})", code_name(*code))]
    Kafka { context: String, code: i16 },
    #[error("timed out after {after:?}: {what}")]
    Timeout {
        what: String,
        after: std::time::Duration,
    },
    #[error("record {topic}-{partition}@{offset} does not decode: {reason}")]
    Decode {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    #[error("encoding a value for {topic}: {reason}")]
    Encode { topic: String, reason: String },
    #[error("the {0} is closed")]
    Closed(&'static str),
}

impl Error {
    /// The Kafka error code, if the broker answered with one.
    pub fn code(&self) -> Option<i16> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again (after a metadata refresh) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::Disconnected { .. } | Error::Timeout { .. } => true,
            Error::Kafka { code, .. } => is_retriable(*code),
            _ => false,
        }
    }
}

pub(crate) fn kafka(context: impl Into<String>, code: i16) -> Error {
    Error::Kafka {
        context: context.into(),
        code,
    }
}

pub(crate) const NONE: i16 = 0;
pub(crate) const OFFSET_OUT_OF_RANGE: i16 = 1;
pub(crate) const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub(crate) const LEADER_NOT_AVAILABLE: i16 = 5;
pub(crate) const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub(crate) const REQUEST_TIMED_OUT: i16 = 7;
pub(crate) const NETWORK_EXCEPTION: i16 = 13;
pub(crate) const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
pub(crate) const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub(crate) const NOT_COORDINATOR: i16 = 16;
pub(crate) const NOT_ENOUGH_REPLICAS: i16 = 19;
pub(crate) const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
pub(crate) const ILLEGAL_GENERATION: i16 = 22;
pub(crate) const UNKNOWN_MEMBER_ID: i16 = 25;
pub(crate) const REBALANCE_IN_PROGRESS: i16 = 27;
pub(crate) const UNKNOWN_LEADER_EPOCH: i16 = 74;
pub(crate) const MEMBER_ID_REQUIRED: i16 = 79;
pub(crate) const FENCED_INSTANCE_ID: i16 = 82;

/// Errors after which the same request may succeed once metadata is refreshed.
pub(crate) fn is_retriable(code: i16) -> bool {
    matches!(
        code,
        UNKNOWN_TOPIC_OR_PARTITION
            | LEADER_NOT_AVAILABLE
            | NOT_LEADER_OR_FOLLOWER
            | REQUEST_TIMED_OUT
            | NETWORK_EXCEPTION
            | COORDINATOR_LOAD_IN_PROGRESS
            | COORDINATOR_NOT_AVAILABLE
            | NOT_COORDINATOR
            | NOT_ENOUGH_REPLICAS
            | NOT_ENOUGH_REPLICAS_AFTER_APPEND
            | UNKNOWN_LEADER_EPOCH
    )
}

/// Kafka's name for the codes this client meets.
pub fn code_name(code: i16) -> &'static str {
    match code {
        NONE => "NONE",
        OFFSET_OUT_OF_RANGE => "OFFSET_OUT_OF_RANGE",
        2 => "CORRUPT_MESSAGE",
        UNKNOWN_TOPIC_OR_PARTITION => "UNKNOWN_TOPIC_OR_PARTITION",
        LEADER_NOT_AVAILABLE => "LEADER_NOT_AVAILABLE",
        NOT_LEADER_OR_FOLLOWER => "NOT_LEADER_OR_FOLLOWER",
        REQUEST_TIMED_OUT => "REQUEST_TIMED_OUT",
        10 => "MESSAGE_TOO_LARGE",
        NETWORK_EXCEPTION => "NETWORK_EXCEPTION",
        COORDINATOR_LOAD_IN_PROGRESS => "COORDINATOR_LOAD_IN_PROGRESS",
        COORDINATOR_NOT_AVAILABLE => "COORDINATOR_NOT_AVAILABLE",
        NOT_COORDINATOR => "NOT_COORDINATOR",
        17 => "INVALID_TOPIC_EXCEPTION",
        18 => "RECORD_LIST_TOO_LARGE",
        NOT_ENOUGH_REPLICAS => "NOT_ENOUGH_REPLICAS",
        NOT_ENOUGH_REPLICAS_AFTER_APPEND => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        ILLEGAL_GENERATION => "ILLEGAL_GENERATION",
        23 => "INCONSISTENT_GROUP_PROTOCOL",
        UNKNOWN_MEMBER_ID => "UNKNOWN_MEMBER_ID",
        26 => "INVALID_SESSION_TIMEOUT",
        REBALANCE_IN_PROGRESS => "REBALANCE_IN_PROGRESS",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        30 => "GROUP_AUTHORIZATION_FAILED",
        35 => "UNSUPPORTED_VERSION",
        UNKNOWN_LEADER_EPOCH => "UNKNOWN_LEADER_EPOCH",
        MEMBER_ID_REQUIRED => "MEMBER_ID_REQUIRED",
        FENCED_INSTANCE_ID => "FENCED_INSTANCE_ID",
        _ => "see the Kafka protocol's error codes",
    }
}
