//! Kafka consumer groups for tern's Kafka-compatible broker: the group coordinator of the
//! classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups,
//! ListGroups, the member checks of OffsetCommit) and the durable store of committed offsets
//! and group metadata (OffsetCommit, OffsetFetch, DeleteGroups).
//!
//! - [`Coordinator`] is pure: requests in, answers out, time an argument. Parked JoinGroup
//!   and SyncGroup requests are answered through [`Reply`]s; the broker calls
//!   [`Coordinator::tick`] at [`Coordinator::next_deadline`].
//! - [`OffsetStore`] keeps `(group, topic, partition) -> OffsetEntry` and each group's
//!   protocol type and generation in a `tern-journal`; a commit resolves once durable.
//!
//! The broker wires them: on start-up `OffsetStore::groups()` goes to
//! `Coordinator::restore`; after each coordinator call `Coordinator::take_changes()` goes to
//! `OffsetStore::save_groups`; an OffsetCommit is `Coordinator::can_commit` then
//! `OffsetStore::commit`; DeleteGroups is `Coordinator::delete_group` then
//! `OffsetStore::delete_group`. Kafka error codes are [`ErrorCode`]s; mapping them (and
//! [`Error`]) onto the wire is the broker's.

mod coordinator;
mod error;
mod group;
mod messages;
mod offsets;

pub use coordinator::{Coordinator, CoordinatorConfig};
pub use error::Error;
pub use messages::{
    ErrorCode, GroupDescription, GroupMetadata, GroupState, HeartbeatRequest, JoinMember,
    JoinRequest, JoinResponse, LeaveRequest, LeaveResponse, LeavingMember, LeftMember,
    MemberDescription, Reply, ReplyId, Response, SyncRequest, SyncResponse,
};
pub use offsets::{OffsetEntry, OffsetStore, OffsetStoreConfig, MAX_OFFSET_METADATA_BYTES};
pub use tern_journal::SyncPolicy;
