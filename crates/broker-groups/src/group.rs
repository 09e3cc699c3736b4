//! One classic group and its state machine: members, the rebalance barrier, generations,
//! assignments and the deadlines time makes due. Kafka's `ClassicGroup` and the parts of its
//! `GroupMetadataManager` that move a group between states, with its timers turned into
//! deadlines (`i64` milliseconds) that [`Group::process_due`] handles in order.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::coordinator::CoordinatorConfig;
use crate::messages::{
    ErrorCode, GroupState, JoinMember, JoinRequest, JoinResponse, Reply, ReplyId, Response,
    SyncResponse,
};

/// Whether a member awaits the answer to a JoinGroup or SyncGroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    No,
    /// Waiting; `None` once the caller cancelled the reply (the connection went away).
    /// Kafka does not notice a closed connection, so the member still counts as waiting:
    /// the rebalance goes on and the member's session expires afterwards if it is gone.
    Yes(Option<ReplyId>),
}

impl Waiting {
    pub(crate) fn is_waiting(self) -> bool {
        matches!(self, Waiting::Yes(_))
    }

    /// Stops waiting; the reply to answer, if any.
    fn take(&mut self) -> Option<ReplyId> {
        match std::mem::replace(self, Waiting::No) {
            Waiting::Yes(reply) => reply,
            Waiting::No => None,
        }
    }

    /// Forgets `reply` (still waiting); whether it was this one's.
    pub(crate) fn cancel(&mut self, reply: ReplyId) -> bool {
        if *self == Waiting::Yes(Some(reply)) {
            *self = Waiting::Yes(None);
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub join: Waiting,
    pub sync: Waiting,
    /// Added by the current rebalance: its session does not count yet, but it is dropped if
    /// the rebalance does not complete within the new-member join timeout.
    pub is_new: bool,
    pub session_deadline: Option<i64>,
}

impl Member {
    pub(crate) fn from_request(id: String, req: &JoinRequest, rebalance_timeout_ms: i32) -> Self {
        Member {
            id,
            instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            join: Waiting::No,
            sync: Waiting::No,
            is_new: false,
            session_deadline: None,
        }
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    pub(crate) fn metadata(&self, protocol: &str) -> Bytes {
        let found = self.protocols.iter().find(|(name, _)| name == protocol);
        found
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    pub(crate) fn reschedule(&mut self, now: i64) {
        self.session_deadline = Some(now + i64::from(self.session_timeout_ms));
    }
}

/// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms` for more
/// members, extended while new ones arrive, up to the rebalance timeout.
#[derive(Debug, Clone)]
pub(crate) struct InitialDelay {
    delay_ms: i64,
    remaining_ms: i64,
    new_member_added: bool,
}

/// What a state change needs: the settings, the time, and where the answers go.
pub(crate) struct Cx<'a> {
    pub config: &'a CoordinatorConfig,
    pub now: i64,
    pub out: Vec<Reply>,
}

impl Cx<'_> {
    pub(crate) fn answer_join(&mut self, reply: Option<ReplyId>, response: JoinResponse) {
        if let Some(reply) = reply {
            let response = Response::Join(response);
            self.out.push(Reply { reply, response });
        }
    }

    pub(crate) fn answer_sync(&mut self, reply: Option<ReplyId>, response: SyncResponse) {
        if let Some(reply) = reply {
            let response = Response::Sync(response);
            self.out.push(Reply { reply, response });
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    /// In the order they joined (the leader is re-elected from the front).
    pub members: Vec<Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, until their owner joins with them or the
    /// deadline (the session timeout) passes. A rebalance waits for them too.
    pub pending_join: Vec<(String, i64)>,
    /// Members that have not sent SyncGroup for the current generation yet; removed when
    /// `sync_deadline` (the rebalance timeout after the join phase) passes.
    pub pending_sync: BTreeSet<String>,
    pub sync_deadline: Option<i64>,
    /// When the join phase ends whether or not every member rejoined.
    pub join_deadline: Option<i64>,
    pub initial: Option<InitialDelay>,
    /// The generation or protocol type changed since [`crate::Coordinator::take_changes`].
    pub dirty: bool,
}

/// A deadline that came due, in the order [`Group::process_due`] prefers on a tie.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    PendingMember(String),
    Session(String),
    Sync,
    Join,
}

impl Group {
    pub(crate) fn new(id: String) -> Self {
        Group {
            id,
            state: GroupState::Empty,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending_join: Vec::new(),
            pending_sync: BTreeSet::new(),
            sync_deadline: None,
            join_deadline: None,
            initial: None,
            dirty: false,
        }
    }

    pub(crate) fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    pub(crate) fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    pub(crate) fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    pub(crate) fn is_pending(&self, id: &str) -> bool {
        self.pending_join.iter().any(|(pending, _)| pending == id)
    }

    pub(crate) fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        let member = self
            .members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id));
        member.map(|m| m.id.as_str())
    }

    /// Kafka's `validateMember`: a static member must be the instance's current member id
    /// (else FENCED_INSTANCE_ID); every member must exist (else UNKNOWN_MEMBER_ID).
    pub(crate) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if let Some(instance_id) = instance_id {
            match self.static_member_id(instance_id) {
                None => return Err(ErrorCode::UnknownMemberId),
                Some(current) if current != member_id => return Err(ErrorCode::FencedInstanceId),
                Some(_) => {}
            }
        }
        match self.member(member_id) {
            Some(_) => Ok(()),
            None => Err(ErrorCode::UnknownMemberId),
        }
    }

    /// Whether a member of `protocol_type` with `protocols` may join: an empty group takes any
    /// non-empty type and protocol list; otherwise the type must be the group's and one of
    /// the protocols supported by every member.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.supported_by_all(name))
    }

    fn supported_by_all(&self, protocol: &str) -> bool {
        self.members.iter().all(|m| m.supports(protocol))
    }

    /// The protocol every member supports that most members prefer (each votes for the
    /// first such protocol in its list); a tie goes to the one voted for first, in join order.
    fn select_protocol(&self) -> Option<String> {
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for member in &self.members {
            let vote = member.protocols.iter().map(|(name, _)| name.as_str());
            let Some(vote) = vote.into_iter().find(|name| self.supported_by_all(name)) else {
                continue;
            };
            match votes.iter_mut().find(|(name, _)| *name == vote) {
                Some((_, count)) => *count += 1,
                None => votes.push((vote, 1)),
            }
        }
        let most = votes.iter().map(|(_, count)| *count).max()?;
        let winner = votes.iter().find(|(_, count)| *count == most);
        winner.map(|(name, _)| name.to_string())
    }

    /// The longest of the members' rebalance timeouts (at least 1 ms).
    fn rebalance_timeout_ms(&self) -> i64 {
        let longest = self
            .members
            .iter()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max();
        longest.unwrap_or(0).max(1)
    }

    fn all_joined(&self) -> bool {
        self.pending_join.is_empty() && self.members.iter().all(|m| m.join.is_waiting())
    }

    /// Every member with its metadata for the selected protocol, as the leader gets them.
    pub(crate) fn current_members(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        let members = self.members.iter().map(|m| JoinMember {
            member_id: m.id.clone(),
            group_instance_id: m.instance_id.clone(),
            metadata: m.metadata(protocol),
        });
        members.collect()
    }

    /// The current generation as a JoinGroup answer for `member_id` (with the members if it
    /// is the leader).
    pub(crate) fn join_response(&self, member_id: &str) -> JoinResponse {
        JoinResponse {
            error: ErrorCode::None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: match self.is_leader(member_id) {
                true => self.current_members(),
                false => Vec::new(),
            },
        }
    }

    fn add(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.pending_join.retain(|(id, _)| *id != member.id);
        self.members.push(member);
    }

    /// Takes a member out of the group (its replies are the caller's to answer); the first
    /// remaining member becomes the leader if it was the leader.
    fn remove(&mut self, id: &str) -> Option<Member> {
        let index = self.members.iter().position(|m| m.id == id)?;
        let member = self.members.remove(index);
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.pending_sync.remove(id);
        Some(member)
    }

    /// Adds a member that joins now (Kafka's `addMemberThenRebalanceOrCompleteJoin`).
    pub(crate) fn add_member(&mut self, mut member: Member, reply: ReplyId, cx: &mut Cx) {
        member.join = Waiting::Yes(Some(reply));
        member.is_new = true;
        // A new member cannot heartbeat before its JoinGroup is answered, and a parked
        // request's disconnect is not noticed: drop it if the rebalance takes this long.
        member.session_deadline = Some(cx.now + i64::from(cx.config.new_member_join_timeout_ms));
        if let Some(initial) = self.initial.as_mut() {
            initial.new_member_added = true;
        }
        self.add(member);
        self.maybe_prepare_rebalance_or_complete_join(cx);
    }

    /// A known member joins again with `req` (Kafka's `updateMemberThenRebalanceOrCompleteJoin`).
    pub(crate) fn update_member(
        &mut self,
        id: &str,
        req: &JoinRequest,
        rebalance_timeout_ms: i32,
        reply: ReplyId,
        cx: &mut Cx,
    ) {
        let Some(member) = self.member_mut(id) else {
            return;
        };
        member.protocols = req.protocols.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = rebalance_timeout_ms;
        // A second JoinGroup while one is parked replaces it; the first is told to retry.
        let superseded = std::mem::replace(&mut member.join, Waiting::Yes(Some(reply))).take();
        let member_id = member.id.clone();
        cx.answer_join(
            superseded,
            JoinResponse::error(member_id, ErrorCode::RebalanceInProgress),
        );
        self.maybe_prepare_rebalance_or_complete_join(cx);
    }

    /// A static member's instance joins with a new member id: the old id is fenced (its
    /// parked requests answered FENCED_INSTANCE_ID) and the member continues under the new
    /// one. Kafka then skips the rebalance when nothing changed; this always rebalances (or
    /// joins the one under way), which costs a generation but needs no special leader case.
    pub(crate) fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        req: &JoinRequest,
        rebalance_timeout_ms: i32,
        reply: ReplyId,
        cx: &mut Cx,
    ) {
        let Some(member) = self.member_mut(old_id) else {
            return;
        };
        let fenced_join = member.join.take();
        let fenced_sync = member.sync.take();
        member.id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.protocols = req.protocols.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = rebalance_timeout_ms;
        member.join = Waiting::Yes(Some(reply));
        member.reschedule(cx.now);
        cx.answer_join(
            fenced_join,
            JoinResponse::error(old_id, ErrorCode::FencedInstanceId),
        );
        cx.answer_sync(
            fenced_sync,
            SyncResponse::error(ErrorCode::FencedInstanceId),
        );
        if self.is_leader(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id);
        }
        self.maybe_prepare_rebalance_or_complete_join(cx);
    }

    fn maybe_prepare_rebalance_or_complete_join(&mut self, cx: &mut Cx) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty => {
                self.prepare_rebalance(cx)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(cx),
            GroupState::Dead => {}
        }
    }

    /// Starts a rebalance: members awaiting their assignment are told to rejoin, and the
    /// join phase ends when every member rejoined or the rebalance timeout passes.
    fn prepare_rebalance(&mut self, cx: &mut Cx) {
        if self.state == GroupState::CompletingRebalance {
            self.propagate_error(ErrorCode::RebalanceInProgress, cx);
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let initial = self.state == GroupState::Empty;
        self.state = GroupState::PreparingRebalance;
        if initial {
            let delay_ms = i64::from(cx.config.initial_rebalance_delay_ms.max(0));
            let remaining_ms = (self.rebalance_timeout_ms() - delay_ms).max(0);
            self.initial = Some(InitialDelay {
                delay_ms,
                remaining_ms,
                new_member_added: false,
            });
            self.join_deadline = Some(cx.now + delay_ms);
        } else if self.all_joined() {
            self.complete_join(cx);
        } else {
            self.join_deadline = Some(cx.now + self.rebalance_timeout_ms());
        }
    }

    fn maybe_complete_join(&mut self, cx: &mut Cx) {
        let joining = self.state == GroupState::PreparingRebalance && self.initial.is_none();
        if joining && self.all_joined() {
            self.complete_join(cx);
        }
    }

    /// Ends the join phase: dynamic members that did not rejoin are removed, the leader is
    /// kept or re-elected among those that did, the generation moves on and every joined
    /// member gets its answer (the leader with the member list).
    fn complete_join(&mut self, cx: &mut Cx) {
        self.join_deadline = None;
        self.initial = None;
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.join.is_waiting() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.take_out(&id, cx);
        }
        if let Some(leader) = self.leader.clone() {
            let rejoined = self.member(&leader).is_some_and(|m| m.join.is_waiting());
            if !rejoined {
                match self.members.iter().find(|m| m.join.is_waiting()) {
                    Some(member) => self.leader = Some(member.id.clone()),
                    None => {
                        // Only static members that have not rejoined are left: wait for them
                        // (or for their sessions to expire).
                        self.join_deadline = Some(cx.now + self.rebalance_timeout_ms());
                        return;
                    }
                }
            }
        }
        self.generation += 1;
        self.dirty = true;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.state = GroupState::Empty;
            return;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        let leader_view = self.current_members();
        let (generation, now) = (self.generation, cx.now);
        for member in &mut self.members {
            let response = JoinResponse {
                error: ErrorCode::None,
                generation_id: generation,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol_name.clone(),
                leader: self.leader.clone().unwrap_or_default(),
                member_id: member.id.clone(),
                members: match self.leader.as_deref() == Some(member.id.as_str()) {
                    true => leader_view.clone(),
                    false => Vec::new(),
                },
            };
            cx.answer_join(member.join.take(), response);
            member.reschedule(now);
            member.is_new = false;
            self.pending_sync.insert(member.id.clone());
        }
        self.sync_deadline = Some(now + self.rebalance_timeout_ms());
    }

    /// The leader's SyncGroup: every member gets its assignment (empty if the leader gave
    /// none) and the group is stable.
    pub(crate) fn complete_sync(&mut self, assignments: Vec<(String, Bytes)>, cx: &mut Cx) {
        for member in &mut self.members {
            let given = assignments.iter().rev().find(|(id, _)| *id == member.id);
            member.assignment = given.map(|(_, a)| a.clone()).unwrap_or_default();
            if member.sync.is_waiting() {
                let response = SyncResponse {
                    error: ErrorCode::None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment: member.assignment.clone(),
                };
                cx.answer_sync(member.sync.take(), response);
                member.reschedule(cx.now);
            }
        }
        self.state = GroupState::Stable;
    }

    /// Clears the assignments and answers every parked SyncGroup with `error`.
    fn propagate_error(&mut self, error: ErrorCode, cx: &mut Cx) {
        for member in &mut self.members {
            member.assignment = Bytes::new();
            if member.sync.is_waiting() {
                cx.answer_sync(member.sync.take(), SyncResponse::error(error));
                member.reschedule(cx.now);
            }
        }
    }

    /// Removes members that left or failed, answering what they had parked with
    /// UNKNOWN_MEMBER_ID, then rebalances (or completes the join phase under way).
    pub(crate) fn remove_members(&mut self, ids: &[String], cx: &mut Cx) {
        let mut removed = false;
        for id in ids {
            removed |= self.take_out(id, cx);
        }
        if removed {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(cx),
                GroupState::PreparingRebalance => self.maybe_complete_join(cx),
                GroupState::Empty | GroupState::Dead => {}
            }
        }
    }

    /// Removes a member, answering what it had parked with UNKNOWN_MEMBER_ID; whether it
    /// was there.
    fn take_out(&mut self, id: &str, cx: &mut Cx) -> bool {
        let Some(mut member) = self.remove(id) else {
            return false;
        };
        let unknown = ErrorCode::UnknownMemberId;
        cx.answer_join(member.join.take(), JoinResponse::error("", unknown));
        cx.answer_sync(member.sync.take(), SyncResponse::error(unknown));
        true
    }

    /// Forgets ids handed out with MEMBER_ID_REQUIRED; a join phase waiting for them may end.
    pub(crate) fn remove_pending(&mut self, id: &str, cx: &mut Cx) {
        self.pending_join.retain(|(pending, _)| pending != id);
        self.maybe_complete_join(cx);
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<i64> {
        self.due(i64::MAX).map(|(deadline, _)| deadline)
    }

    /// The earliest deadline at or before `now` and what it is for.
    fn due(&self, now: i64) -> Option<(i64, Due)> {
        let pending = self.pending_join.iter();
        let pending = pending.map(|(id, at)| (*at, Due::PendingMember(id.clone())));
        let sessions = self.members.iter().filter_map(|m| {
            let at = m.session_deadline?;
            Some((at, Due::Session(m.id.clone())))
        });
        let sync = self.sync_deadline.map(|at| (at, Due::Sync));
        let join = self.join_deadline.map(|at| (at, Due::Join));
        let all = pending.chain(sessions).chain(sync).chain(join);
        all.filter(|(at, _)| *at <= now).min()
    }

    /// Handles every deadline at or before `cx.now`, earliest first.
    pub(crate) fn process_due(&mut self, cx: &mut Cx) {
        while let Some((_, due)) = self.due(cx.now) {
            match due {
                Due::PendingMember(id) => self.remove_pending(&id, cx),
                Due::Session(id) => self.expire_session(&id, cx),
                Due::Sync => {
                    self.sync_deadline = None;
                    self.expire_pending_sync(cx);
                }
                Due::Join => {
                    self.join_deadline = None;
                    self.end_join_phase(cx);
                }
            }
        }
    }

    /// A member's session ran out. Members with a parked JoinGroup or SyncGroup are not
    /// expected to heartbeat (their session restarts when it is answered), except new ones.
    fn expire_session(&mut self, id: &str, cx: &mut Cx) {
        let Some(member) = self.member_mut(id) else {
            return;
        };
        if !member.is_new && (member.join.is_waiting() || member.sync.is_waiting()) {
            member.session_deadline = None;
        } else {
            self.remove_members(&[id.to_string()], cx);
        }
    }

    /// The rebalance timeout after the join phase passed: members that have not sent
    /// SyncGroup are removed and the group rebalances without them.
    fn expire_pending_sync(&mut self, cx: &mut Cx) {
        let syncing = matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if !syncing || self.pending_sync.is_empty() {
            return;
        }
        for id in std::mem::take(&mut self.pending_sync) {
            self.take_out(&id, cx);
        }
        self.prepare_rebalance(cx);
    }

    /// The join phase's time is up: extend the initial delay if members keep arriving,
    /// else complete it.
    fn end_join_phase(&mut self, cx: &mut Cx) {
        if let Some(initial) = self.initial.as_mut() {
            if initial.new_member_added && initial.remaining_ms > 0 {
                let configured = i64::from(cx.config.initial_rebalance_delay_ms.max(0));
                let delay_ms = configured.min(initial.remaining_ms);
                initial.remaining_ms = (initial.remaining_ms - initial.delay_ms).max(0);
                initial.delay_ms = delay_ms;
                initial.new_member_added = false;
                self.join_deadline = Some(cx.now + delay_ms);
                return;
            }
        }
        if self.state == GroupState::PreparingRebalance {
            self.complete_join(cx);
        }
    }
}
