//! Joining, rebalancing, syncing and leaving, and what time does to members.

use bytes::Bytes;
use expect_test::expect;

use super::*;

#[test]
fn single_member_joins_syncs_and_heartbeats() {
    let mut h = Harness::new();
    let (_, first) = h.join(join_req("", "c1"));
    check(
        show(&first),
        expect![[r#"
            #1 join MemberIdRequired gen=-1 type=None proto=None leader= member=c1~ec77 members=[]
        "#]],
    );
    let Response::Join(first) = &first[0].response else {
        panic!()
    };
    let id = first.member_id.clone();
    assert!(
        id.starts_with("c1-") && id.len() == "c1-".len() + 36,
        "{id}"
    );
    assert_eq!(h.c.describe("g").state, GroupState::Empty);

    let (_, replies) = h.at(5).join(join_req(&id, "c1"));
    check(
        show(&replies),
        expect![[r##"
            #2 join None gen=1 type=Some("consumer") proto=Some("range") leader=c1~ec77 member=c1~ec77 members=[c1~ec77/-:c1-range]
        "##]],
    );
    assert_eq!(h.heartbeat(&id, 1), ErrorCode::None);

    let assignment = vec![(id.clone(), Bytes::from_static(b"t0:0,1"))];
    let (_, replies) = h.sync(sync_req(&id, 1, assignment));
    check(
        show(&replies),
        expect![[r#"
            #3 sync None type=Some("consumer") proto=Some("range") assignment="t0:0,1"
        "#]],
    );
    assert_eq!(h.heartbeat(&id, 1), ErrorCode::None);
    check(
        describe(&h.c, "g"),
        expect![[r#"
            g Stable type="consumer" proto="range" gen=1
              c1~ec77 instance=None client=c1 host=/127.0.0.1 metadata="c1-range" assignment="t0:0,1"
        "#]],
    );
    // A SyncGroup again in the stable group gets the same assignment at once.
    let (_, replies) = h.sync(sync_req(&id, 1, vec![]));
    check(
        show(&replies),
        expect![[r#"
            #4 sync None type=Some("consumer") proto=Some("range") assignment="t0:0,1"
        "#]],
    );
}

#[test]
fn below_v4_the_member_id_is_assigned_at_once() {
    let mut h = Harness::new();
    let mut req = join_req("", "old-client");
    req.api_version = 3;
    let (_, replies) = h.join(req);
    check(
        show(&replies),
        expect![[r##"
            #1 join None gen=1 type=Some("consumer") proto=Some("range") leader=old-client~ec77 member=old-client~ec77 members=[old-client~ec77/-:old-client-range]
        "##]],
    );
}

#[test]
fn second_member_triggers_a_rebalance_and_the_leader_assigns() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable(&["a"]);
    let a = ids[0].clone();
    assert_eq!(generation, 1);

    let (b, _, replies) = h.at(1_000).join_fresh("b");
    assert!(replies.is_empty(), "b waits for a to rejoin: {replies:?}");
    assert_eq!(h.c.describe("g").state, GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::RebalanceInProgress);

    let (_, replies) = h.at(1_500).join(join_req(&a, "a"));
    check(
        show(&replies),
        expect![[r##"
            #5 join None gen=2 type=Some("consumer") proto=Some("range") leader=a~ec77 member=b~9ceb members=[]
            #6 join None gen=2 type=Some("consumer") proto=Some("range") leader=a~ec77 member=a~ec77 members=[a~ec77/-:a-range b~9ceb/-:b-range]
        "##]],
    );
    // a stays the leader. The follower's SyncGroup waits for the leader's.
    let (_, replies) = h.at(1_600).sync(sync_req(&b, 2, vec![]));
    assert!(replies.is_empty(), "{replies:?}");
    check(
        describe(&h.c, "g"),
        expect![[r#"
            g CompletingRebalance type="consumer" proto="" gen=2
              a~ec77 instance=None client=a host=/127.0.0.1 metadata="" assignment=""
              b~9ceb instance=None client=b host=/127.0.0.1 metadata="" assignment=""
        "#]],
    );
    let assignments = vec![
        (a.clone(), Bytes::from_static(b"for-a")),
        (b.clone(), Bytes::from_static(b"for-b")),
        ("nobody".to_string(), Bytes::from_static(b"ignored")),
    ];
    let (_, replies) = h.at(1_700).sync(sync_req(&a, 2, assignments));
    check(
        show(&replies),
        expect![[r##"
            #7 sync None type=Some("consumer") proto=Some("range") assignment="for-b"
            #8 sync None type=Some("consumer") proto=Some("range") assignment="for-a"
        "##]],
    );
    check(
        describe(&h.c, "g"),
        expect![[r#"
            g Stable type="consumer" proto="range" gen=2
              a~ec77 instance=None client=a host=/127.0.0.1 metadata="a-range" assignment="for-a"
              b~9ceb instance=None client=b host=/127.0.0.1 metadata="b-range" assignment="for-b"
        "#]],
    );
}

#[test]
fn pending_member_id_blocks_the_rebalance_until_it_joins_or_expires() {
    let mut h = Harness::new();
    let (ids, _) = h.stable(&["a"]);
    let a = ids[0].clone();
    // b got its id but has not joined with it yet; a's rejoin cannot complete the phase.
    let (_, replies) = h.at(100).join(join_req("", "b"));
    assert_eq!(replies.len(), 1);
    let (_, replies) = h.at(200).join(join_req(&a, "a"));
    assert!(replies.is_empty(), "waits for b: {replies:?}");
    // a's session deadline comes first; a is parked in JoinGroup, so it does not expire.
    assert_eq!(h.c.next_deadline(), Some(i64::from(SESSION)));
    assert!(h.at(i64::from(SESSION)).tick().is_empty());
    assert_eq!(h.c.next_deadline(), Some(100 + i64::from(SESSION)));
    // b never comes back: its id expires after the session timeout and a's join completes.
    let replies = h.at(100 + i64::from(SESSION)).tick();
    check(
        show(&replies),
        expect![[r##"
            #5 join None gen=2 type=Some("consumer") proto=Some("range") leader=a~ec77 member=a~ec77 members=[a~ec77/-:a-range]
        "##]],
    );
}

#[test]
fn session_expiry_removes_the_member_and_rebalances() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    // a heartbeats, b does not.
    for t in (3_000..=9_000).step_by(3_000) {
        assert_eq!(h.at(t).heartbeat(&a, generation), ErrorCode::None);
    }
    assert_eq!(h.c.next_deadline(), Some(i64::from(SESSION)), "b's session");
    assert!(h.at(9_999).tick().is_empty());
    assert!(h.at(10_000).tick().is_empty(), "nobody is parked");
    check(
        describe(&h.c, "g"),
        expect![[r#"
            g PreparingRebalance type="consumer" proto="" gen=2
              a~ec77 instance=None client=a host=/127.0.0.1 metadata="" assignment=""
        "#]],
    );
    assert_eq!(h.heartbeat(&b, generation), ErrorCode::UnknownMemberId);
    assert_eq!(h.heartbeat(&a, generation), ErrorCode::RebalanceInProgress);
    let (_, replies) = h.at(10_500).join(join_req(&a, "a"));
    check(
        show(&replies),
        expect![[r##"
            #8 join None gen=3 type=Some("consumer") proto=Some("range") leader=a~ec77 member=a~ec77 members=[a~ec77/-:a-range]
        "##]],
    );
}

#[test]
fn rebalance_timeout_removes_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let (_, _, replies) = h.at(1_000).join_fresh("c");
    assert!(replies.is_empty());
    h.at(2_000).join(join_req(&a, "a"));
    // b keeps heartbeating (so its session does not expire) but never rejoins.
    for t in (4_000..31_000).step_by(3_000) {
        assert_eq!(
            h.at(t).heartbeat(&b, generation),
            ErrorCode::RebalanceInProgress
        );
        assert!(h.tick().is_empty());
    }
    assert_eq!(h.c.next_deadline(), Some(1_000 + i64::from(REBALANCE)));
    let replies = h.at(31_000).tick();
    check(
        show(&replies),
        expect![[r##"
            #9 join None gen=3 type=Some("consumer") proto=Some("range") leader=a~ec77 member=c~28ce members=[]
            #10 join None gen=3 type=Some("consumer") proto=Some("range") leader=a~ec77 member=a~ec77 members=[a~ec77/-:a-range c~28ce/-:c-range]
        "##]],
    );
    assert_eq!(h.heartbeat(&b, generation), ErrorCode::UnknownMemberId);
}

#[test]
fn leave_triggers_a_rebalance_and_the_last_leave_empties_the_group() {
    let mut h = Harness::new();
    let (ids, _) = h.stable(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let (response, replies) = h.at(100).leave(&[(&b, None), ("ghost", None)]);
    assert!(replies.is_empty());
    check(
        format!("{response:?}\n"),
        expect![[r#"
            LeaveResponse { error: None, members: [LeftMember { member_id: "b-9cebe8a6-d050-4d01-babe-04fe634dfa5a", group_instance_id: None, error: None }, LeftMember { member_id: "ghost", group_instance_id: None, error: UnknownMemberId }] }
        "#]],
    );
    assert_eq!(h.c.describe("g").state, GroupState::PreparingRebalance);
    let (_, replies) = h.at(200).join(join_req(&a, "a"));
    check(
        show(&replies),
        expect![[r##"
            #8 join None gen=3 type=Some("consumer") proto=Some("range") leader=a~ec77 member=a~ec77 members=[a~ec77/-:a-range]
        "##]],
    );
    // a leaves while its answer is out: the group is empty, at the next generation.
    let (response, replies) = h.at(300).leave(&[(&a, None)]);
    assert_eq!(response.members[0].error, ErrorCode::None);
    assert!(replies.is_empty());
    check(
        describe(&h.c, "g"),
        expect![[r#"
            g Empty type="consumer" proto="" gen=4
        "#]],
    );
    // Leaving an unknown group: each member is unknown.
    let req = LeaveRequest {
        group_id: "nope".into(),
        members: vec![LeavingMember {
            member_id: "x".into(),
            group_instance_id: None,
        }],
    };
    let (response, _) = h.c.leave(400, req);
    assert_eq!(response.error, ErrorCode::None);
    assert_eq!(response.members[0].error, ErrorCode::UnknownMemberId);
}

#[test]
fn leaving_while_parked_answers_the_parked_join() {
    let mut h = Harness::new();
    let (ids, _) = h.stable(&["a"]);
    let (b, b_reply, _) = h.at(100).join_fresh("b");
    let (response, replies) = h.at(200).leave(&[(&b, None)]);
    assert_eq!(response.members[0].error, ErrorCode::None);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].reply, b_reply);
    check(
        show(&replies),
        expect![[r#"
            #5 join UnknownMemberId gen=-1 type=None proto=None leader= member= members=[]
        "#]],
    );
    let (_, replies) = h.at(300).join(join_req(&ids[0], "a"));
    assert_eq!(replies.len(), 1);
}

#[test]
fn protocol_is_chosen_by_the_members_votes() {
    let mut h = Harness::new();
    let mut req = with_protocols(join_req("", "a"), &["roundrobin", "range"]);
    req.api_version = 3;
    h.join(req);
    let a = h.c.describe("g").members[0].member_id.clone();
    // b and c both prefer range; a prefers roundrobin; "sticky" is not supported by all.
    let (b, _, _) = h.at(10).join_fresh("b");
    let c_req = with_protocols(join_req("", "c"), &["sticky", "range", "roundrobin"]);
    let (_, replies) = h.join(c_req);
    let Response::Join(c) = &replies[0].response else {
        panic!()
    };
    let c = c.member_id.clone();
    let b_req = with_protocols(join_req(&b, "b"), &["range", "roundrobin"]);
    h.join(b_req);
    let c_req = with_protocols(join_req(&c, "c"), &["sticky", "range", "roundrobin"]);
    h.join(c_req);
    let a_req = with_protocols(join_req(&a, "a"), &["roundrobin", "range"]);
    let (_, replies) = h.at(20).join(a_req);
    check(
        show(&replies),
        expect![[r##"
            #5 join None gen=2 type=Some("consumer") proto=Some("range") leader=a~ec77 member=b~9ceb members=[]
            #6 join None gen=2 type=Some("consumer") proto=Some("range") leader=a~ec77 member=c~28ce members=[]
            #7 join None gen=2 type=Some("consumer") proto=Some("range") leader=a~ec77 member=a~ec77 members=[a~ec77/-:a-range b~9ceb/-:b-range c~28ce/-:c-range]
        "##]],
    );
}

#[test]
fn cancelled_requests_get_no_reply_and_their_members_expire_later() {
    let mut h = Harness::new();
    let (ids, _) = h.stable(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    // b rejoins with new metadata (a rebalance), then its connection goes away.
    let b_req = with_protocols(join_req(&b, "b"), &["range", "roundrobin"]);
    let (b_reply, replies) = h.at(100).join(b_req);
    assert!(replies.is_empty());
    h.c.cancel(b_reply);
    h.c.cancel(999); // unknown: nothing happens
                     // b still counts as rejoined: a's rejoin completes the phase, with no reply to b.
    let (a_reply, replies) = h.at(200).join(join_req(&a, "a"));
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].reply, a_reply);
    check(
        describe(&h.c, "g"),
        expect![[r#"
            g CompletingRebalance type="consumer" proto="" gen=3
              a~ec77 instance=None client=a host=/127.0.0.1 metadata="" assignment=""
              b~9ceb instance=None client=b host=/127.0.0.1 metadata="" assignment=""
        "#]],
    );
    let (_, replies) = h.at(300).sync(sync_req(&a, 3, vec![]));
    assert_eq!(replies.len(), 1);
    // b never heartbeats again: its session ends 10 s after the join phase.
    for t in (3_000..=9_000).step_by(3_000) {
        assert_eq!(h.at(t).heartbeat(&a, 3), ErrorCode::None);
    }
    assert_eq!(h.c.next_deadline(), Some(10_200));
    assert!(h.at(10_200).tick().is_empty());
    check(
        describe(&h.c, "g"),
        expect![[r#"
            g PreparingRebalance type="consumer" proto="" gen=3
              a~ec77 instance=None client=a host=/127.0.0.1 metadata="" assignment=""
        "#]],
    );
}

#[test]
fn follower_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let (a, _, _) = h.join_fresh("a");
    let (b, _, _) = h.at(10).join_fresh("b");
    let (_, replies) = h.at(20).join(join_req(&a, "a"));
    assert_eq!(replies.len(), 2);
    let generation = h.c.describe("g").generation_id;
    let leader = h.c.describe("g").members[0].member_id.clone();
    assert_eq!(leader, a);
    let (_, replies) = h.at(30).sync(sync_req(&a, generation, vec![]));
    assert_eq!(replies.len(), 1);
    // b heartbeats (as does a) but never sends SyncGroup.
    for t in (3_000..30_020).step_by(3_000) {
        assert_eq!(h.at(t).heartbeat(&a, generation), ErrorCode::None);
        assert_eq!(h.heartbeat(&b, generation), ErrorCode::None);
        assert!(h.tick().is_empty());
    }
    assert_eq!(h.c.next_deadline(), Some(20 + i64::from(REBALANCE)));
    assert!(h.at(30_020).tick().is_empty());
    check(
        describe(&h.c, "g"),
        expect![[r#"
            g PreparingRebalance type="consumer" proto="" gen=2
              a~ec77 instance=None client=a host=/127.0.0.1 metadata="" assignment=""
        "#]],
    );
    assert_eq!(h.heartbeat(&a, generation), ErrorCode::RebalanceInProgress);
}

#[test]
fn initial_rebalance_delay_waits_for_more_members() {
    let mut h = Harness::with(CoordinatorConfig {
        initial_rebalance_delay_ms: 3_000,
        ..config()
    });
    let (_, _, replies) = h.join_fresh("a");
    assert!(replies.is_empty());
    assert_eq!(h.c.next_deadline(), Some(3_000));
    let (_, _, replies) = h.at(1_000).join_fresh("b");
    assert!(
        replies.is_empty(),
        "the initial delay holds even when everyone joined"
    );
    // At 3 s a newcomer arrived during the delay: wait another 3 s.
    assert!(h.at(3_000).tick().is_empty());
    assert_eq!(h.c.next_deadline(), Some(6_000));
    let replies = h.at(6_000).tick();
    check(
        show(&replies),
        expect![[r##"
            #2 join None gen=1 type=Some("consumer") proto=Some("range") leader=a~ec77 member=a~ec77 members=[a~ec77/-:a-range b~9ceb/-:b-range]
            #4 join None gen=1 type=Some("consumer") proto=Some("range") leader=a~ec77 member=b~9ceb members=[]
        "##]],
    );
}

#[test]
fn leader_rejoin_forces_a_rebalance_but_a_follower_with_the_same_metadata_does_not() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable(&["a", "b"]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let (_, replies) = h.at(100).join(join_req(&b, "b"));
    check(
        show(&replies),
        expect![[r##"
            #8 join None gen=2 type=Some("consumer") proto=Some("range") leader=a~ec77 member=b~9ceb members=[]
        "##]],
    );
    assert_eq!(h.c.describe("g").state, GroupState::Stable);
    let (_, replies) = h.at(200).join(join_req(&a, "a"));
    assert!(replies.is_empty());
    assert_eq!(h.c.describe("g").state, GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat(&b, generation), ErrorCode::RebalanceInProgress);
}

#[test]
fn a_second_join_while_parked_replaces_the_first() {
    let mut h = Harness::new();
    let (ids, _) = h.stable(&["a", "b"]);
    let a = ids[0].clone();
    let (first, _) = h.at(100).join(join_req(&a, "a"));
    let (second, replies) = h.at(200).join(join_req(&a, "a"));
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].reply, first);
    check(
        show(&replies),
        expect![[r#"
            #8 join RebalanceInProgress gen=-1 type=None proto=None leader= member=a~ec77 members=[]
        "#]],
    );
    let (_, replies) = h.at(300).join(join_req(&ids[1], "b"));
    assert!(replies.iter().any(|r| r.reply == second));
}

#[test]
fn static_members_join_without_member_id_required_and_fence_their_old_id() {
    let mut h = Harness::new();
    let mut req = join_req("", "s");
    req.group_instance_id = Some("instance-1".into());
    let (_, replies) = h.join(req.clone());
    check(
        show(&replies),
        expect![[r##"
            #1 join None gen=1 type=Some("consumer") proto=Some("range") leader=instance-1~ec77 member=instance-1~ec77 members=[instance-1~ec77/instance-1:s-range]
        "##]],
    );
    let Response::Join(joined) = &replies[0].response else {
        panic!()
    };
    let old = joined.member_id.clone();
    // The same instance restarts and joins without its member id: it gets a new one and
    // the old one is fenced.
    let (_, replies) = h.at(1_000).join(req);
    let Response::Join(rejoined) = &replies[0].response else {
        panic!()
    };
    let new = rejoined.member_id.clone();
    assert_ne!(old, new);
    assert_eq!(rejoined.generation_id, 2);
    let heartbeat = |member: &str| HeartbeatRequest {
        group_id: "g".into(),
        generation_id: 2,
        member_id: member.into(),
        group_instance_id: Some("instance-1".into()),
    };
    assert_eq!(
        h.c.heartbeat(1_000, heartbeat(&old)),
        ErrorCode::FencedInstanceId
    );
    assert_eq!(h.c.heartbeat(1_000, heartbeat(&new)), ErrorCode::None);
    // It leaves by instance id alone.
    let (response, _) = h.at(2_000).leave(&[("", Some("instance-1"))]);
    assert_eq!(response.members[0].error, ErrorCode::None);
    assert_eq!(h.c.describe("g").state, GroupState::Empty);
    let (response, _) = h.at(2_000).leave(&[("", Some("instance-1"))]);
    assert_eq!(response.members[0].error, ErrorCode::UnknownMemberId);
}

#[test]
fn static_members_that_do_not_rejoin_stay_in_the_group() {
    let mut h = Harness::new();
    let mut s = join_req("", "s");
    s.group_instance_id = Some("instance-1".into());
    s.session_timeout_ms = 60_000; // outlives the rebalance below without heartbeats
    let (_, replies) = h.join(s);
    let Response::Join(joined) = &replies[0].response else {
        panic!()
    };
    let s = joined.member_id.clone();
    h.sync(sync_req(&s, 1, vec![]));
    let (d, _, _) = h.at(100).join_fresh("d");
    let replies = h.at(100 + i64::from(REBALANCE)).tick();
    check(
        show(&replies),
        expect![[r##"
            #4 join None gen=2 type=Some("consumer") proto=Some("range") leader=d~9ceb member=d~9ceb members=[instance-1~ec77/instance-1:s-range d~9ceb/-:d-range]
        "##]],
    );
    let members = h.c.describe("g").members;
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(members.iter().any(|m| m.member_id == d));
}
