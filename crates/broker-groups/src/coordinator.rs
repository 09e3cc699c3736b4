//! The group coordinator: Kafka's classic group protocol (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, DescribeGroups, ListGroups, and the membership checks of OffsetCommit).
//!
//! Pure: no I/O, no clock, no randomness of its own. Time is the `now_ms` argument; the
//! caller calls [`Coordinator::tick`] at [`Coordinator::next_deadline`]. JoinGroup and
//! SyncGroup answers are often deferred (a rebalance waits for every member), so those
//! requests carry a [`ReplyId`] and every call returns the [`Reply`]s it produced, to this
//! request or to requests parked earlier. Every reply id gets exactly one reply unless it is
//! cancelled. Kafka's protocol answers requests in order per connection, so the caller holds
//! back later answers on a connection whose JoinGroup or SyncGroup is parked.
//!
//! Persistence is the caller's: [`Coordinator::take_changes`] hands out the groups whose
//! generation or protocol type changed (to write with `OffsetStore::save_groups`), and
//! [`Coordinator::restore`] brings them back as `Empty` groups after a restart; members
//! rejoin on their own, as with Kafka.

use std::collections::BTreeMap;

use crate::group::{Cx, Group, Member, Waiting};
use crate::messages::{
    ErrorCode, GroupDescription, GroupMetadata, GroupState, HeartbeatRequest, JoinRequest,
    JoinResponse, LeaveRequest, LeaveResponse, LeftMember, MemberDescription, Reply, ReplyId,
    Response, SyncRequest, SyncResponse,
};

/// The coordinator's settings; the defaults are Kafka's, except the initial rebalance delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// `group.min.session.timeout.ms`: shorter session timeouts are refused with
    /// INVALID_SESSION_TIMEOUT. Default 6 s.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`. Default 30 min, Kafka's since 2.3 (it was 5 min).
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members (extended by each newcomer, up to the rebalance timeout).
    /// Kafka's default is 3 s, which makes every fresh consumer wait 3 s for its first
    /// assignment; the default here is 0 so tests and development loops are not slowed down.
    /// A group whose members start together may rebalance once more as they arrive.
    pub initial_rebalance_delay_ms: i32,
    /// How long a member added by a JoinGroup may wait for the join phase to complete
    /// before it is dropped (Kafka's new-member join timeout). Default 5 min.
    pub new_member_join_timeout_ms: i32,
    /// Mixed into generated member ids (`CLIENT_ID-UUID`) so that ids from an earlier run
    /// of the broker do not come back. The default draws it from the process' random hash
    /// keys; tests set it for repeatable ids.
    pub member_id_seed: u64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        CoordinatorConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 0,
            new_member_join_timeout_ms: 300_000,
            member_id_seed: seed,
        }
    }
}

/// Every classic group this broker coordinates.
#[derive(Debug, Clone)]
pub struct Coordinator {
    config: CoordinatorConfig,
    groups: BTreeMap<String, Group>,
    ids: MemberIds,
}

impl Default for Coordinator {
    fn default() -> Self {
        Coordinator::new()
    }
}

impl Coordinator {
    /// A coordinator with the default settings.
    pub fn new() -> Self {
        Coordinator::with_config(CoordinatorConfig::default())
    }

    pub fn with_config(config: CoordinatorConfig) -> Self {
        let ids = MemberIds {
            seed: config.member_id_seed,
            next: 0,
        };
        Coordinator {
            config,
            groups: BTreeMap::new(),
            ids,
        }
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// A JoinGroup. The answer to this request may be among the returned replies or come
    /// later (from another member's request, [`Coordinator::tick`], ...).
    pub fn join(&mut self, now_ms: i64, reply: ReplyId, req: JoinRequest) -> Vec<Reply> {
        let mut cx = Cx {
            config: &self.config,
            now: now_ms,
            out: Vec::new(),
        };
        let group_id = req.group_id.clone();
        if let Some(response) = join(&mut self.groups, &mut self.ids, &mut cx, reply, req) {
            let response = Response::Join(response);
            cx.out.push(Reply { reply, response });
        }
        if let Some(group) = self.groups.get_mut(&group_id) {
            group.process_due(&mut cx);
        }
        cx.out
    }

    /// A SyncGroup. A follower's is parked until the leader's arrives.
    pub fn sync(&mut self, now_ms: i64, reply: ReplyId, req: SyncRequest) -> Vec<Reply> {
        let mut cx = Cx {
            config: &self.config,
            now: now_ms,
            out: Vec::new(),
        };
        let group = self.groups.get_mut(&req.group_id);
        if let Some(response) = sync(group, &mut cx, reply, req) {
            let response = Response::Sync(response);
            cx.out.push(Reply { reply, response });
        }
        cx.out
    }

    /// A Heartbeat: restarts the member's session. REBALANCE_IN_PROGRESS tells it to rejoin.
    pub fn heartbeat(&mut self, now_ms: i64, req: HeartbeatRequest) -> ErrorCode {
        if req.group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return ErrorCode::UnknownMemberId;
        };
        let instance_id = req.group_instance_id.as_deref();
        if let Err(error) = group.validate_member(&req.member_id, instance_id) {
            return error;
        }
        if req.generation_id != group.generation {
            return ErrorCode::IllegalGeneration;
        }
        let state = group.state;
        if let Some(member) = group.member_mut(&req.member_id) {
            member.reschedule(now_ms);
        }
        match state {
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
        }
    }

    /// A LeaveGroup of one or more members (a static one by its instance id alone when its
    /// member id is empty); the group rebalances without them.
    pub fn leave(&mut self, now_ms: i64, req: LeaveRequest) -> (LeaveResponse, Vec<Reply>) {
        let mut cx = Cx {
            config: &self.config,
            now: now_ms,
            out: Vec::new(),
        };
        let response = leave(self.groups.get_mut(&req.group_id), &mut cx, req);
        (response, cx.out)
    }

    /// Handles what time made due: expired sessions (the member is removed and the group
    /// rebalances), ended join phases, members that did not send SyncGroup in time.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Reply> {
        let mut cx = Cx {
            config: &self.config,
            now: now_ms,
            out: Vec::new(),
        };
        for group in self.groups.values_mut() {
            group.process_due(&mut cx);
        }
        cx.out
    }

    /// When [`Coordinator::tick`] next has work, if ever.
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups.values().filter_map(Group::next_deadline).min()
    }

    /// The group for DescribeGroups (`Dead` if there is no such group).
    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let Some(group) = self.groups.get(group_id) else {
            return GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_name: String::new(),
                generation_id: -1,
                members: Vec::new(),
            };
        };
        let stable = group.state == GroupState::Stable;
        let protocol = match stable {
            true => group.protocol_name.clone().unwrap_or_default(),
            false => String::new(),
        };
        let members = group.members.iter().map(|m| MemberDescription {
            member_id: m.id.clone(),
            group_instance_id: m.instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            metadata: match stable {
                true => m.metadata(&protocol),
                false => Default::default(),
            },
            assignment: match stable {
                true => m.assignment.clone(),
                false => Default::default(),
            },
        });
        GroupDescription {
            group_id: group.id.clone(),
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            members: members.collect(),
            protocol_name: protocol,
            generation_id: group.generation,
        }
    }

    /// Every group for ListGroups: id, protocol type ("" if none) and state, by id.
    pub fn list(&self) -> Vec<(String, String, GroupState)> {
        let groups = self.groups.values().map(|g| {
            let protocol_type = g.protocol_type.clone().unwrap_or_default();
            (g.id.clone(), protocol_type, g.state)
        });
        groups.collect()
    }

    /// Whether an OffsetCommit from `member_id` at `generation` may store offsets (Kafka's
    /// `validateOffsetCommit`). A commit with generation -1 and no member ("simple" consumers,
    /// admin tools) is allowed while the group is empty or unknown; after such a commit to an
    /// unknown group call [`Coordinator::ensure_group`] so that it is listed.
    pub fn can_commit(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ErrorCode> {
        let Some(group) = self.groups.get(group_id) else {
            return match generation < 0 {
                true => Ok(()),
                false => Err(ErrorCode::IllegalGeneration),
            };
        };
        if generation < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            group.validate_member(member_id, group_instance_id)?;
            if generation != group.generation {
                return Err(ErrorCode::IllegalGeneration);
            }
        } else if group.state != GroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        match group.state {
            GroupState::CompletingRebalance => Err(ErrorCode::RebalanceInProgress),
            _ => Ok(()),
        }
    }

    /// Creates an `Empty` group without a protocol type if there is none: one that only
    /// stores offsets, as Kafka creates on a simple consumer's commit.
    pub fn ensure_group(&mut self, group_id: &str) {
        if !self.groups.contains_key(group_id) {
            let group = Group::new(group_id.to_string());
            self.groups.insert(group_id.to_string(), group);
        }
    }

    /// Brings back a group saved before a restart, as `Empty` at its last generation (a
    /// group that is already active keeps its state; the generation never goes back).
    pub fn restore(&mut self, metadata: GroupMetadata) {
        let group = self.groups.entry(metadata.group_id.clone());
        let group = group.or_insert_with(|| Group::new(metadata.group_id.clone()));
        group.generation = group.generation.max(metadata.generation_id);
        if group.members.is_empty() && !metadata.protocol_type.is_empty() {
            group.protocol_type = Some(metadata.protocol_type);
        }
    }

    /// The groups whose generation or protocol type changed since the last call, as they
    /// are now: what to persist (with `OffsetStore::save_groups`).
    pub fn take_changes(&mut self) -> Vec<GroupMetadata> {
        let changed = self.groups.values_mut().filter(|g| g.dirty);
        let changed = changed.map(|g| {
            g.dirty = false;
            GroupMetadata {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                generation_id: g.generation,
            }
        });
        changed.collect()
    }

    /// DeleteGroups: only an `Empty` group can go (NON_EMPTY_GROUP otherwise,
    /// GROUP_ID_NOT_FOUND if there is none). The caller deletes its offsets.
    pub fn delete_group(&mut self, group_id: &str) -> Result<(), ErrorCode> {
        let Some(group) = self.groups.get(group_id) else {
            return Err(ErrorCode::GroupIdNotFound);
        };
        if group.state != GroupState::Empty {
            return Err(ErrorCode::NonEmptyGroup);
        }
        self.groups.remove(group_id);
        Ok(())
    }

    /// Forgets a parked request whose connection went away: it gets no reply. Its member
    /// still counts as having sent it (Kafka cannot tell either); if the client is gone for
    /// good its session expires after the rebalance.
    pub fn cancel(&mut self, reply: ReplyId) {
        for group in self.groups.values_mut() {
            for member in &mut group.members {
                if member.join.cancel(reply) || member.sync.cancel(reply) {
                    return;
                }
            }
        }
    }
}

/// Generated member ids: `PREFIX-UUID`, the UUID (version 4 form) drawn from the seed and
/// a counter, so ids are unique per coordinator and repeatable in tests.
#[derive(Debug, Clone)]
struct MemberIds {
    seed: u64,
    next: u64,
}

impl MemberIds {
    fn generate(&mut self, prefix: &str) -> String {
        self.next += 1;
        let high = splitmix64(self.seed ^ self.next.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let low = splitmix64(high ^ self.seed.rotate_left(32));
        let uuid = (u128::from(high) << 64) | u128::from(low);
        // Version 4, RFC 4122 variant.
        let uuid = (uuid & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
        let hex = format!("{uuid:032x}");
        format!(
            "{prefix}-{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// JoinGroup; `Some` is the answer to give at once, `None` means the request is parked (or
/// answered among `cx.out`).
fn join(
    groups: &mut BTreeMap<String, Group>,
    ids: &mut MemberIds,
    cx: &mut Cx,
    reply: ReplyId,
    req: JoinRequest,
) -> Option<JoinResponse> {
    let fail = |error| Some(JoinResponse::error(req.member_id.clone(), error));
    if req.group_id.is_empty() {
        return fail(ErrorCode::InvalidGroupId);
    }
    let bounds = cx.config.min_session_timeout_ms..=cx.config.max_session_timeout_ms;
    if !bounds.contains(&req.session_timeout_ms) {
        return fail(ErrorCode::InvalidSessionTimeout);
    }
    let rebalance_timeout_ms = match req.rebalance_timeout_ms > 0 {
        true => req.rebalance_timeout_ms,
        false => req.session_timeout_ms,
    };
    let new_member = req.member_id.is_empty();
    let group = match groups.get_mut(&req.group_id) {
        Some(group) => group,
        None if new_member => {
            // Checked before the group exists, so a refused join leaves nothing behind.
            if req.protocol_type.is_empty() || req.protocols.is_empty() {
                return fail(ErrorCode::InconsistentGroupProtocol);
            }
            let group = Group::new(req.group_id.clone());
            groups.entry(req.group_id.clone()).or_insert(group)
        }
        None => return fail(ErrorCode::UnknownMemberId),
    };
    if !group.supports_protocols(&req.protocol_type, &req.protocols) {
        return fail(ErrorCode::InconsistentGroupProtocol);
    }
    if new_member {
        let instance_id = req.group_instance_id.as_deref();
        let member_id = ids.generate(instance_id.unwrap_or(&req.client_id));
        match instance_id.and_then(|i| group.static_member_id(i)) {
            Some(old_id) => {
                let old_id = old_id.to_string();
                group.replace_static_member(
                    &old_id,
                    member_id,
                    &req,
                    rebalance_timeout_ms,
                    reply,
                    cx,
                );
            }
            None if instance_id.is_none() && req.api_version >= 4 => {
                let deadline = cx.now + i64::from(req.session_timeout_ms);
                group.pending_join.push((member_id.clone(), deadline));
                return Some(JoinResponse::error(member_id, ErrorCode::MemberIdRequired));
            }
            None => {
                let member = Member::from_request(member_id, &req, rebalance_timeout_ms);
                group.add_member(member, reply, cx);
            }
        }
        return None;
    }
    if group.is_pending(&req.member_id) {
        let member = Member::from_request(req.member_id.clone(), &req, rebalance_timeout_ms);
        group.add_member(member, reply, cx);
        return None;
    }
    let instance_id = req.group_instance_id.as_deref();
    if let Err(error) = group.validate_member(&req.member_id, instance_id) {
        return fail(error);
    }
    let unchanged = group
        .member(&req.member_id)
        .is_some_and(|m| m.protocols == req.protocols);
    let rejoin = match group.state {
        GroupState::PreparingRebalance => true,
        // Same metadata: the member most likely missed the answer; give it again.
        GroupState::CompletingRebalance => !unchanged,
        // The leader rejoining forces a rebalance (new topics, ...); so do changed metadata.
        GroupState::Stable => group.is_leader(&req.member_id) || !unchanged,
        GroupState::Empty | GroupState::Dead => return fail(ErrorCode::UnknownMemberId),
    };
    if !rejoin {
        return Some(group.join_response(&req.member_id));
    }
    group.update_member(&req.member_id, &req, rebalance_timeout_ms, reply, cx);
    None
}

/// SyncGroup; `Some` is the answer to give at once, `None` means the request is parked (or
/// answered among `cx.out`).
fn sync(
    group: Option<&mut Group>,
    cx: &mut Cx,
    reply: ReplyId,
    req: SyncRequest,
) -> Option<SyncResponse> {
    let fail = |error| Some(SyncResponse::error(error));
    if req.group_id.is_empty() {
        return fail(ErrorCode::InvalidGroupId);
    }
    let Some(group) = group else {
        return fail(ErrorCode::UnknownMemberId);
    };
    let instance_id = req.group_instance_id.as_deref();
    if let Err(error) = group.validate_member(&req.member_id, instance_id) {
        return fail(error);
    }
    if req.generation_id != group.generation {
        return fail(ErrorCode::IllegalGeneration);
    }
    let differs = |given: &Option<String>, current: &Option<String>| match (given, current) {
        (Some(given), Some(current)) => given != current,
        _ => false,
    };
    if differs(&req.protocol_type, &group.protocol_type)
        || differs(&req.protocol_name, &group.protocol_name)
    {
        return fail(ErrorCode::InconsistentGroupProtocol);
    }
    match group.state {
        GroupState::PreparingRebalance => fail(ErrorCode::RebalanceInProgress),
        GroupState::CompletingRebalance => {
            group.pending_sync.remove(&req.member_id);
            let is_leader = group.is_leader(&req.member_id);
            if let Some(member) = group.member_mut(&req.member_id) {
                let parked = std::mem::replace(&mut member.sync, Waiting::Yes(Some(reply)));
                if let Waiting::Yes(superseded) = parked {
                    let retry = SyncResponse::error(ErrorCode::RebalanceInProgress);
                    cx.answer_sync(superseded, retry);
                }
            }
            if is_leader {
                group.complete_sync(req.assignments, cx);
            }
            None
        }
        GroupState::Stable => {
            group.pending_sync.remove(&req.member_id);
            let member = group.member_mut(&req.member_id);
            let assignment = member.map(|m| {
                m.reschedule(cx.now);
                m.assignment.clone()
            });
            Some(SyncResponse {
                error: ErrorCode::None,
                protocol_type: group.protocol_type.clone(),
                protocol_name: group.protocol_name.clone(),
                assignment: assignment.unwrap_or_default(),
            })
        }
        GroupState::Empty | GroupState::Dead => fail(ErrorCode::UnknownMemberId),
    }
}

fn leave(group: Option<&mut Group>, cx: &mut Cx, req: LeaveRequest) -> LeaveResponse {
    let answer = |m: &crate::messages::LeavingMember, error| LeftMember {
        member_id: m.member_id.clone(),
        group_instance_id: m.group_instance_id.clone(),
        error,
    };
    if req.group_id.is_empty() {
        return LeaveResponse {
            error: ErrorCode::InvalidGroupId,
            members: Vec::new(),
        };
    }
    let Some(group) = group else {
        let unknown = req
            .members
            .iter()
            .map(|m| answer(m, ErrorCode::UnknownMemberId));
        return LeaveResponse {
            error: ErrorCode::None,
            members: unknown.collect(),
        };
    };
    let mut leaving = Vec::new();
    let mut members = Vec::with_capacity(req.members.len());
    for m in &req.members {
        let instance_id = m.group_instance_id.as_deref();
        let outcome = if m.member_id.is_empty() {
            match instance_id.and_then(|i| group.static_member_id(i)) {
                Some(id) => {
                    leaving.push(id.to_string());
                    Ok(())
                }
                None => Err(ErrorCode::UnknownMemberId),
            }
        } else if group.is_pending(&m.member_id) {
            group.remove_pending(&m.member_id, cx);
            Ok(())
        } else {
            let valid = group.validate_member(&m.member_id, instance_id);
            valid.map(|()| leaving.push(m.member_id.clone()))
        };
        members.push(answer(m, outcome.err().unwrap_or(ErrorCode::None)));
    }
    group.remove_members(&leaving, cx);
    group.process_due(cx);
    LeaveResponse {
        error: ErrorCode::None,
        members,
    }
}

#[cfg(test)]
mod tests;
