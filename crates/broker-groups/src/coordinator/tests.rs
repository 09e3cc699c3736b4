//! The coordinator driven by explicit time: a harness and printers here, the tests in
//! `rebalance` (membership and time) and `requests` (answers, errors, bookkeeping).
//! Member ids print as `CLIENT~abcd` (the client id and the UUID's first four hex
//! digits); replies as one line each, by reply id.

mod rebalance;
mod requests;

use bytes::Bytes;
use expect_test::Expect;

use super::*;
use crate::messages::LeavingMember;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn config() -> CoordinatorConfig {
    CoordinatorConfig {
        member_id_seed: 7,
        ..CoordinatorConfig::default()
    }
}

struct Harness {
    c: Coordinator,
    now: i64,
    next: ReplyId,
}

impl Harness {
    fn new() -> Self {
        Harness::with(config())
    }

    fn with(config: CoordinatorConfig) -> Self {
        Harness {
            c: Coordinator::with_config(config),
            now: 0,
            next: 0,
        }
    }

    fn at(&mut self, now: i64) -> &mut Self {
        self.now = now;
        self
    }

    fn join(&mut self, req: JoinRequest) -> (ReplyId, Vec<Reply>) {
        self.next += 1;
        (self.next, self.c.join(self.now, self.next, req))
    }

    fn sync(&mut self, req: SyncRequest) -> (ReplyId, Vec<Reply>) {
        self.next += 1;
        (self.next, self.c.sync(self.now, self.next, req))
    }

    fn heartbeat(&mut self, member_id: &str, generation_id: i32) -> ErrorCode {
        let req = HeartbeatRequest {
            group_id: "g".into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
        };
        self.c.heartbeat(self.now, req)
    }

    fn leave(&mut self, members: &[(&str, Option<&str>)]) -> (LeaveResponse, Vec<Reply>) {
        let members = members.iter().map(|(id, instance)| LeavingMember {
            member_id: id.to_string(),
            group_instance_id: instance.map(str::to_string),
        });
        let req = LeaveRequest {
            group_id: "g".into(),
            members: members.collect(),
        };
        self.c.leave(self.now, req)
    }

    fn tick(&mut self) -> Vec<Reply> {
        self.c.tick(self.now)
    }

    /// A new dynamic member the v4+ way: MEMBER_ID_REQUIRED, then JoinGroup with the id.
    /// Returns the id and the second request's reply id and replies.
    fn join_fresh(&mut self, client: &str) -> (String, ReplyId, Vec<Reply>) {
        let (_, replies) = self.join(join_req("", client));
        let id = match &replies[..] {
            [Reply {
                response: Response::Join(r),
                ..
            }] if r.error == ErrorCode::MemberIdRequired => r.member_id.clone(),
            other => panic!("expected MEMBER_ID_REQUIRED, got {other:?}"),
        };
        let (reply, replies) = self.join(join_req(&id, client));
        (id, reply, replies)
    }

    /// `clients` join one after another, the group rebalancing as needed, and the leader
    /// syncs with an assignment per member: a stable group. Returns the ids and generation.
    fn stable(&mut self, clients: &[&str]) -> (Vec<String>, i32) {
        let mut ids: Vec<String> = Vec::new();
        for client in clients {
            let (id, _, _) = self.join_fresh(client);
            // Everyone already in rejoins, so the rebalance completes.
            for other in ids.clone() {
                self.join(join_req(&other, client_of(&other)));
            }
            ids.push(id);
        }
        let description = self.c.describe("g");
        assert_eq!(description.state, GroupState::CompletingRebalance);
        let generation = description.generation_id;
        let leader = description.members[0].member_id.clone();
        let assignments: Vec<(String, Bytes)> = ids
            .iter()
            .map(|id| {
                (
                    id.clone(),
                    Bytes::from(format!("parts-of-{}", client_of(id))),
                )
            })
            .collect();
        for id in ids.iter().filter(|id| **id != leader) {
            self.sync(sync_req(id, generation, vec![]));
        }
        self.sync(sync_req(&leader, generation, assignments));
        assert_eq!(self.c.describe("g").state, GroupState::Stable);
        (ids, generation)
    }
}

fn client_of(member_id: &str) -> &str {
    &member_id[..member_id.len() - 37]
}

fn join_req(member_id: &str, client: &str) -> JoinRequest {
    let metadata = Bytes::from(format!("{client}-range"));
    JoinRequest {
        api_version: 5,
        group_id: "g".into(),
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), metadata)],
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        client_id: client.into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn with_protocols(mut req: JoinRequest, names: &[&str]) -> JoinRequest {
    let client = req.client_id.clone();
    let protocols = names.iter().map(|name| {
        let metadata = Bytes::from(format!("{client}-{name}"));
        (name.to_string(), metadata)
    });
    req.protocols = protocols.collect();
    req
}

fn sync_req(member_id: &str, generation_id: i32, assignments: Vec<(String, Bytes)>) -> SyncRequest {
    SyncRequest {
        group_id: "g".into(),
        generation_id,
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments,
    }
}

/// `CLIENT~abcd` for a generated id, the id itself otherwise.
fn short(id: &str) -> String {
    match id.len() > 37 && id.as_bytes()[id.len() - 37] == b'-' {
        true => format!("{}~{}", client_of(id), &id[id.len() - 36..id.len() - 32]),
        false => id.to_string(),
    }
}

fn text(bytes: &Bytes) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(replies: &[Reply]) -> String {
    let mut replies: Vec<&Reply> = replies.iter().collect();
    replies.sort_by_key(|r| r.reply);
    let lines = replies.iter().map(|r| match &r.response {
        Response::Join(j) => {
            let members = j.members.iter().map(|m| {
                let instance = m.group_instance_id.as_deref().unwrap_or("-");
                format!("{}/{instance}:{}", short(&m.member_id), text(&m.metadata))
            });
            format!(
                "#{} join {:?} gen={} type={:?} proto={:?} leader={} member={} members=[{}]",
                r.reply,
                j.error,
                j.generation_id,
                j.protocol_type,
                j.protocol_name,
                short(&j.leader),
                short(&j.member_id),
                members.collect::<Vec<_>>().join(" ")
            )
        }
        Response::Sync(s) => format!(
            "#{} sync {:?} type={:?} proto={:?} assignment={:?}",
            r.reply,
            s.error,
            s.protocol_type,
            s.protocol_name,
            text(&s.assignment)
        ),
    });
    lines.map(|line| line + "\n").collect()
}

fn describe(c: &Coordinator, group: &str) -> String {
    let d = c.describe(group);
    let mut out = format!(
        "{} {} type={:?} proto={:?} gen={}\n",
        d.group_id,
        d.state.as_str(),
        d.protocol_type,
        d.protocol_name,
        d.generation_id
    );
    for m in &d.members {
        out += &format!(
            "  {} instance={:?} client={} host={} metadata={:?} assignment={:?}\n",
            short(&m.member_id),
            m.group_instance_id,
            m.client_id,
            m.client_host,
            text(&m.metadata),
            text(&m.assignment)
        );
    }
    out
}

fn check(actual: String, expect: Expect) {
    expect.assert_eq(&actual);
}
