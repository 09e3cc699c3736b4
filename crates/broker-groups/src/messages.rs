//! The coordinator's requests and answers: plain structs holding what the Kafka wire
//! messages carry (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups),
//! decoded and encoded by the broker. No serde, no wire format here.

use bytes::Bytes;

/// Chosen by the caller, unique among its pending JoinGroup/SyncGroup requests. Every id
/// passed to [`crate::Coordinator::join`] or [`crate::Coordinator::sync`] gets exactly one
/// [`Reply`], unless [`crate::Coordinator::cancel`] is called for it first.
pub type ReplyId = u64;

/// The answer to one deferred request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub reply: ReplyId,
    pub response: Response,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Join(JoinResponse),
    Sync(SyncResponse),
}

/// The Kafka error codes of the group APIs. `UnknownTopicOrPartition` and
/// `OffsetMetadataTooLarge` are for the broker's per-partition OffsetCommit checks (see
/// [`crate::MAX_OFFSET_METADATA_BYTES`]); the coordinator does not know topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    None,
    UnknownTopicOrPartition,
    OffsetMetadataTooLarge,
    CoordinatorNotAvailable,
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidGroupId,
    UnknownMemberId,
    InvalidSessionTimeout,
    RebalanceInProgress,
    NonEmptyGroup,
    GroupIdNotFound,
    MemberIdRequired,
    FencedInstanceId,
}

impl ErrorCode {
    /// The code on the wire.
    pub fn code(self) -> i16 {
        match self {
            ErrorCode::None => 0,
            ErrorCode::UnknownTopicOrPartition => 3,
            ErrorCode::OffsetMetadataTooLarge => 12,
            ErrorCode::CoordinatorNotAvailable => 15,
            ErrorCode::IllegalGeneration => 22,
            ErrorCode::InconsistentGroupProtocol => 23,
            ErrorCode::InvalidGroupId => 24,
            ErrorCode::UnknownMemberId => 25,
            ErrorCode::InvalidSessionTimeout => 26,
            ErrorCode::RebalanceInProgress => 27,
            ErrorCode::NonEmptyGroup => 68,
            ErrorCode::GroupIdNotFound => 69,
            ErrorCode::MemberIdRequired => 79,
            ErrorCode::FencedInstanceId => 82,
        }
    }

    pub fn is_none(self) -> bool {
        self == ErrorCode::None
    }
}

/// A classic group's state, as DescribeGroups and ListGroups name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment (SyncGroup).
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// No members (offsets may still be committed, by a "simple" consumer too).
    Empty,
    /// No such group.
    Dead,
}

impl GroupState {
    /// The name Kafka puts on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Empty => "Empty",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup request (all versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The request's version: from 4 on, a first join without a member id is answered with
    /// `MEMBER_ID_REQUIRED` and a generated id; below 4 the id is assigned at once.
    pub api_version: i16,
    pub group_id: String,
    /// Empty on a member's first join.
    pub member_id: String,
    /// `group.instance.id` (v5+): a static member.
    pub group_instance_id: Option<String>,
    /// "consumer" for consumers, "connect" for Connect workers, ...
    pub protocol_type: String,
    /// The member's protocols (assignors) by preference, each with its metadata.
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout_ms: i32,
    /// v1+; v0 requests (and a value <= 0) mean the session timeout.
    pub rebalance_timeout_ms: i32,
    /// From the request header; prefixes the generated member id.
    pub client_id: String,
    /// The client's address as DescribeGroups shows it (Kafka: "/127.0.0.1").
    pub client_host: String,
}

/// One member as the leader's JoinGroup answer lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Bytes,
}

/// A JoinGroup answer. On an error: generation -1, no protocol, no leader, no members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub error: ErrorCode,
    pub generation_id: i32,
    /// Null on the wire when `None` (v7+); older versions write "".
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    /// The member's id (the generated one with `MEMBER_ID_REQUIRED`).
    pub member_id: String,
    /// Every member with its metadata, for the leader only; empty for the others.
    pub members: Vec<JoinMember>,
}

impl JoinResponse {
    pub(crate) fn error(member_id: impl Into<String>, error: ErrorCode) -> Self {
        JoinResponse {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.into(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request (all versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+; checked against the group's when given.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment per member id; empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The member's assignment (empty on an error).
    pub assignment: Bytes,
}

impl SyncResponse {
    pub(crate) fn error(error: ErrorCode) -> Self {
        SyncResponse {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A Heartbeat request; the answer is an [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// A LeaveGroup request. v0–2 carry one member id: pass it as the single member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveRequest {
    pub group_id: String,
    pub members: Vec<LeavingMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// Empty: the static member with `group_instance_id` leaves, whatever its id.
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// A LeaveGroup answer. For v0–2 send `error` if it is not NONE, else the single member's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveResponse {
    /// Group-level error.
    pub error: ErrorCode,
    /// One per requested member, in request order.
    pub members: Vec<LeftMember>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error: ErrorCode,
}

/// A DescribeGroups entry. An unknown group is described as `Dead` with no members
/// (DescribeGroups v6+ answers `GROUP_ID_NOT_FOUND` for it; older versions NONE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    /// "" when none.
    pub protocol_type: String,
    /// The selected protocol ("protocol data" on the wire); "" unless `Stable`.
    pub protocol_name: String,
    pub generation_id: i32,
    pub members: Vec<MemberDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Metadata for the selected protocol and the assignment; both empty unless `Stable`.
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// What must survive a restart about a group: written by the caller through
/// [`crate::OffsetStore::save_groups`] from [`crate::Coordinator::take_changes`] and given
/// back to [`crate::Coordinator::restore`] on start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    pub group_id: String,
    /// "" for a group that only ever committed offsets ("simple" consumers).
    pub protocol_type: String,
    /// The last generation: after a restart the group is `Empty` at this generation and the
    /// next rebalance continues from it.
    pub generation_id: i32,
}
