//! Request errors, DescribeGroups/ListGroups, the OffsetCommit checks, persistence of
//! generations, deletion and member ids.

use expect_test::expect;

use super::*;

#[test]
fn heartbeat_errors() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable(&["a"]);
    let a = ids[0].clone();
    assert_eq!(h.heartbeat(&a, generation), ErrorCode::None);
    assert_eq!(
        h.heartbeat(&a, generation + 1),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        h.heartbeat("stranger", generation),
        ErrorCode::UnknownMemberId
    );
    let mut req = HeartbeatRequest {
        group_id: "other".into(),
        generation_id: 1,
        member_id: a.clone(),
        group_instance_id: None,
    };
    assert_eq!(h.c.heartbeat(0, req.clone()), ErrorCode::UnknownMemberId);
    req.group_id = String::new();
    assert_eq!(h.c.heartbeat(0, req.clone()), ErrorCode::InvalidGroupId);
    req.group_id = "g".into();
    req.group_instance_id = Some("not-registered".into());
    assert_eq!(h.c.heartbeat(0, req), ErrorCode::UnknownMemberId);
}

#[test]
fn sync_errors() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable(&["a"]);
    let a = ids[0].clone();
    let error = |replies: Vec<Reply>| match &replies[..] {
        [Reply {
            response: Response::Sync(s),
            ..
        }] => s.error,
        other => panic!("one sync answer expected: {other:?}"),
    };
    assert_eq!(
        error(h.sync(sync_req(&a, generation + 1, vec![])).1),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        error(h.sync(sync_req("who", generation, vec![])).1),
        ErrorCode::UnknownMemberId
    );
    let mut other_protocol = sync_req(&a, generation, vec![]);
    other_protocol.protocol_name = Some("roundrobin".into());
    assert_eq!(
        error(h.sync(other_protocol).1),
        ErrorCode::InconsistentGroupProtocol
    );
    let mut unknown_group = sync_req(&a, generation, vec![]);
    unknown_group.group_id = "nope".into();
    assert_eq!(error(h.sync(unknown_group).1), ErrorCode::UnknownMemberId);
    // During a rebalance a SyncGroup is told to rejoin.
    h.join_fresh("b");
    assert_eq!(
        error(h.sync(sync_req(&a, generation, vec![])).1),
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn join_errors() {
    let mut h = Harness::new();
    let error = |replies: Vec<Reply>| match &replies[..] {
        [Reply {
            response: Response::Join(j),
            ..
        }] => j.error,
        other => panic!("one join answer expected: {other:?}"),
    };
    let mut req = join_req("", "c");
    req.session_timeout_ms = 5_999;
    assert_eq!(
        error(h.join(req.clone()).1),
        ErrorCode::InvalidSessionTimeout
    );
    req.session_timeout_ms = 1_800_001;
    assert_eq!(error(h.join(req).1), ErrorCode::InvalidSessionTimeout);
    let mut req = join_req("", "c");
    req.group_id = String::new();
    assert_eq!(error(h.join(req).1), ErrorCode::InvalidGroupId);
    // A member id the coordinator never gave out.
    assert_eq!(
        error(h.join(join_req("c-made-up", "c")).1),
        ErrorCode::UnknownMemberId
    );
    let mut req = join_req("", "c");
    req.protocols.clear();
    assert_eq!(error(h.join(req).1), ErrorCode::InconsistentGroupProtocol);
    let mut req = join_req("", "c");
    req.protocol_type = String::new();
    assert_eq!(error(h.join(req).1), ErrorCode::InconsistentGroupProtocol);
    assert!(
        h.c.list().is_empty(),
        "a refused join leaves no group behind"
    );

    h.stable(&["a"]);
    assert_eq!(
        error(h.join(join_req("c-made-up", "c")).1),
        ErrorCode::UnknownMemberId
    );
    // Another protocol type, or no protocol in common with the members.
    let mut connect = join_req("", "w");
    connect.protocol_type = "connect".into();
    assert_eq!(
        error(h.join(connect).1),
        ErrorCode::InconsistentGroupProtocol
    );
    let sticky = with_protocols(join_req("", "s"), &["sticky"]);
    assert_eq!(
        error(h.join(sticky).1),
        ErrorCode::InconsistentGroupProtocol
    );
    assert_eq!(h.c.describe("g").state, GroupState::Stable);
}

#[test]
fn describe_and_list_follow_the_states() {
    let mut h = Harness::new();
    h.c.restore(GroupMetadata {
        group_id: "restored".into(),
        protocol_type: "consumer".into(),
        generation_id: 7,
    });
    h.c.ensure_group("simple");
    let (ids, _) = h.stable(&["a"]);
    let list = |c: &Coordinator| -> String {
        let groups = c.list().into_iter();
        groups
            .map(|(g, t, s)| format!("{g} {t:?} {}\n", s.as_str()))
            .collect()
    };
    check(
        list(&h.c),
        expect![[r#"
            g "consumer" Stable
            restored "consumer" Empty
            simple "" Empty
        "#]],
    );
    h.join_fresh("b");
    assert_eq!(h.c.describe("g").state, GroupState::PreparingRebalance);
    h.join(join_req(&ids[0], "a"));
    assert_eq!(h.c.describe("g").state, GroupState::CompletingRebalance);
    check(
        describe(&h.c, "restored") + &describe(&h.c, "simple") + &describe(&h.c, "unknown"),
        expect![[r#"
            restored Empty type="consumer" proto="" gen=7
            simple Empty type="" proto="" gen=0
            unknown Dead type="" proto="" gen=-1
        "#]],
    );
}

#[test]
fn offset_commits_are_checked_against_membership_and_generation() {
    let mut h = Harness::new();
    // Unknown group: only a simple (generation -1) commit.
    assert_eq!(h.c.can_commit("g", "", None, -1), Ok(()));
    assert_eq!(
        h.c.can_commit("g", "m", None, 3),
        Err(ErrorCode::IllegalGeneration)
    );
    let (ids, generation) = h.stable(&["a"]);
    let a = ids[0].clone();
    assert_eq!(h.c.can_commit("g", &a, None, generation), Ok(()));
    assert_eq!(
        h.c.can_commit("g", &a, None, generation - 1),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        h.c.can_commit("g", "x", None, generation),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        h.c.can_commit("g", "", None, -1),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        h.c.can_commit("g", &a, Some("i"), generation),
        Err(ErrorCode::UnknownMemberId)
    );
    // During a rebalance a member of the current generation may still commit...
    h.join_fresh("b");
    assert_eq!(h.c.can_commit("g", &a, None, generation), Ok(()));
    // ...but not between the join and the assignment.
    h.join(join_req(&a, "a"));
    let generation = h.c.describe("g").generation_id;
    assert_eq!(
        h.c.can_commit("g", &a, None, generation),
        Err(ErrorCode::RebalanceInProgress)
    );
    // Once everyone left, the simple commit works again.
    let b = h.c.describe("g").members[1].member_id.clone();
    h.leave(&[(&a, None), (&b, None)]);
    assert_eq!(h.c.describe("g").state, GroupState::Empty);
    assert_eq!(h.c.can_commit("g", "", None, -1), Ok(()));
}

#[test]
fn generations_are_persisted_and_continue_after_a_restore() {
    let mut h = Harness::new();
    assert!(h.c.take_changes().is_empty());
    let (ids, _) = h.stable(&["a", "b"]);
    let changes = h.c.take_changes();
    check(
        format!("{changes:?}\n"),
        expect![[r#"
        [GroupMetadata { group_id: "g", protocol_type: "consumer", generation_id: 2 }]
    "#]],
    );
    assert!(h.c.take_changes().is_empty());
    h.leave(&[(&ids[0], None), (&ids[1], None)]);
    let saved = h.c.take_changes();

    let mut restarted = Harness::new();
    for group in saved {
        restarted.c.restore(group);
    }
    check(
        describe(&restarted.c, "g"),
        expect![[r#"
        g Empty type="consumer" proto="" gen=3
    "#]],
    );
    let (_, _, replies) = restarted.join_fresh("a");
    let Response::Join(joined) = &replies[0].response else {
        panic!()
    };
    // a alone (1), a and b (2), empty (3), after the restart: 4.
    assert_eq!(joined.generation_id, 4);
}

#[test]
fn only_empty_groups_can_be_deleted() {
    let mut h = Harness::new();
    assert_eq!(h.c.delete_group("g"), Err(ErrorCode::GroupIdNotFound));
    let (ids, _) = h.stable(&["a"]);
    assert_eq!(h.c.delete_group("g"), Err(ErrorCode::NonEmptyGroup));
    h.leave(&[(&ids[0], None)]);
    assert_eq!(h.c.delete_group("g"), Ok(()));
    assert_eq!(h.c.describe("g").state, GroupState::Dead);
    assert!(h.c.list().is_empty());
}

#[test]
fn member_ids_are_unique_and_repeatable() {
    let mut ids = MemberIds { seed: 1, next: 0 };
    let generated: Vec<String> = (0..1000).map(|_| ids.generate("c")).collect();
    let unique: std::collections::BTreeSet<&String> = generated.iter().collect();
    assert_eq!(unique.len(), generated.len());
    let uuid = &generated[0][2..];
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4", "version 4: {uuid}");
    assert!(
        matches!(&uuid[19..20], "8" | "9" | "a" | "b"),
        "variant: {uuid}"
    );
    let mut again = MemberIds { seed: 1, next: 0 };
    assert_eq!(again.generate("c"), generated[0]);
}
