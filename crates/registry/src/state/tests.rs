//! The core's behaviour, without I/O: time is an `Instant` we move by hand.

use super::*;
use std::time::Duration;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn state() -> (State, Instant) {
    (State::new("tern", "dc1", "127.0.0.1"), Instant::now())
}

fn web(id: &str, port: u16) -> ServiceDef {
    ServiceDef {
        id: id.into(),
        name: "web".into(),
        tags: vec!["v1".into()],
        port,
        ..ServiceDef::default()
    }
}

fn ttl_check(ttl: u64) -> CheckDef {
    CheckDef::new(CheckKind::Ttl { ttl: secs(ttl) })
}

fn register(s: &mut State, now: Instant, def: ServiceDef, checks: Vec<CheckDef>) {
    let cmd = Command::RegisterService {
        service: def,
        checks,
        replace_existing_checks: false,
    };
    s.apply(cmd, now).expect("register");
}

fn status(s: &State, id: &str) -> CheckStatus {
    s.check(id).expect("check exists").status
}

#[test]
fn register_defaults_and_deregister() {
    let (mut s, now) = state();
    assert_eq!(s.index(), 1);
    let def = ServiceDef {
        name: "api".into(),
        ..ServiceDef::default()
    };
    register(&mut s, now, def, vec![ttl_check(10)]);
    assert_eq!(s.index(), 2);
    let svc = s.service("api").expect("ID defaults to Name");
    assert_eq!((svc.create_index, svc.modify_index), (2, 2));
    let check = s.check("service:api").expect("default check ID");
    assert_eq!(check.def.name, "Service 'api' check");
    assert_eq!(
        check.status,
        CheckStatus::Critical,
        "initial status is critical"
    );

    s.apply(Command::DeregisterService { id: "api".into() }, now)
        .unwrap();
    assert!(s.service("api").is_none());
    assert!(
        s.check("service:api").is_none(),
        "checks go with the service"
    );
    assert_eq!(s.index(), 3);
    assert!(matches!(
        s.apply(Command::DeregisterService { id: "api".into() }, now),
        Err(Error::UnknownService(_))
    ));
    assert_eq!(s.index(), 3, "a rejected command changes nothing");
}

#[test]
fn identical_reregistration_is_a_no_op() {
    let (mut s, now) = state();
    register(&mut s, now, web("w1", 80), vec![ttl_check(10)]);
    s.apply(
        Command::UpdateTtl {
            id: "service:w1".into(),
            status: CheckStatus::Passing,
            output: "ok".into(),
        },
        now,
    )
    .unwrap();
    let index = s.index();
    register(&mut s, now, web("w1", 80), vec![ttl_check(10)]);
    assert_eq!(s.index(), index);
    assert_eq!(
        status(&s, "service:w1"),
        CheckStatus::Passing,
        "status kept"
    );
    register(&mut s, now, web("w1", 81), vec![ttl_check(10)]);
    assert_eq!(s.index(), index + 1);
    let svc = s.service("w1").unwrap();
    assert_eq!((svc.create_index, svc.modify_index), (index - 1, index + 1));
}

#[test]
fn multiple_checks_are_numbered_and_replaceable() {
    let (mut s, now) = state();
    register(
        &mut s,
        now,
        web("w1", 80),
        vec![ttl_check(10), ttl_check(20)],
    );
    assert!(s.check("service:w1:1").is_some() && s.check("service:w1:2").is_some());
    let cmd = Command::RegisterService {
        service: web("w1", 80),
        checks: vec![ttl_check(5)],
        replace_existing_checks: true,
    };
    s.apply(cmd, now).unwrap();
    let ids: Vec<_> = s.checks().map(|c| c.def.id.as_str()).collect();
    assert_eq!(ids, ["serfHealth", "service:w1"]);
}

#[test]
fn check_validation() {
    let (mut s, now) = state();
    let mut http = CheckDef::new(CheckKind::Tcp {
        address: "127.0.0.1:1".into(),
    });
    http.name = "tcp".into();
    let err = s.apply(
        Command::RegisterCheck {
            check: http.clone(),
        },
        now,
    );
    assert!(matches!(err, Err(Error::InvalidCheck(m)) if m.contains("Interval must be > 0")));
    http.interval = Some(secs(10));
    http.service_id = Some("nope".into());
    let err = s.apply(
        Command::RegisterCheck {
            check: http.clone(),
        },
        now,
    );
    assert!(matches!(err, Err(Error::InvalidCheck(m)) if m.contains("does not exist")));
    http.service_id = None;
    s.apply(Command::RegisterCheck { check: http }, now)
        .unwrap();
    assert!(s.check("tcp").is_some(), "CheckID defaults to Name");
    let unnamed = ttl_check(1);
    let err = s.apply(Command::RegisterCheck { check: unnamed }, now);
    assert!(matches!(err, Err(Error::InvalidCheck(m)) if m == "Missing check name"));
}

#[test]
fn status_transitions_and_ttl_only_updates() {
    let (mut s, now) = state();
    let mut tcp = CheckDef::new(CheckKind::Tcp {
        address: "127.0.0.1:80".into(),
    });
    tcp.interval = Some(secs(10));
    register(&mut s, now, web("w1", 80), vec![tcp]);
    let before = s.index();
    s.apply(
        Command::CheckResult {
            id: "service:w1".into(),
            status: CheckStatus::Warning,
            output: "slow".into(),
        },
        now,
    )
    .unwrap();
    assert_eq!(status(&s, "service:w1"), CheckStatus::Warning);
    assert_eq!(s.index(), before + 1);
    // The same result again moves nothing: runners may report every interval.
    s.apply(
        Command::CheckResult {
            id: "service:w1".into(),
            status: CheckStatus::Warning,
            output: "slow".into(),
        },
        now,
    )
    .unwrap();
    assert_eq!(s.index(), before + 1);
    let ttl_on_tcp = Command::UpdateTtl {
        id: "service:w1".into(),
        status: CheckStatus::Passing,
        output: String::new(),
    };
    assert!(matches!(
        s.apply(ttl_on_tcp, now),
        Err(Error::NotTtlCheck(_))
    ));
    let unknown = Command::CheckResult {
        id: "nope".into(),
        status: CheckStatus::Passing,
        output: String::new(),
    };
    assert!(matches!(s.apply(unknown, now), Err(Error::UnknownCheck(_))));
}

#[test]
fn ttl_expires_in_tick() {
    let (mut s, t0) = state();
    register(&mut s, t0, web("w1", 80), vec![ttl_check(10)]);
    let pass = Command::UpdateTtl {
        id: "service:w1".into(),
        status: CheckStatus::Passing,
        output: "fine".into(),
    };
    s.apply(pass.clone(), t0 + secs(5)).unwrap();
    assert_eq!(
        s.next_deadline(),
        Some(t0 + secs(15)),
        "a report restarts the TTL"
    );
    assert!(s.tick(t0 + secs(14)).is_empty());
    assert_eq!(status(&s, "service:w1"), CheckStatus::Passing);
    let due = s.tick(t0 + secs(15));
    assert_eq!(
        due,
        [Command::TtlExpired {
            id: "service:w1".into()
        }]
    );
    let check = s.check("service:w1").unwrap();
    assert_eq!(
        (check.status, check.output.as_str()),
        (CheckStatus::Critical, "TTL expired")
    );
    assert!(s.tick(t0 + secs(100)).is_empty(), "expires once");
    s.apply(pass, t0 + secs(101)).unwrap();
    assert_eq!(status(&s, "service:w1"), CheckStatus::Passing);
}

#[test]
fn deregister_critical_service_after() {
    let (mut s, t0) = state();
    let mut check = ttl_check(10);
    check.deregister_critical_after = Some(secs(60));
    check.status = Some(CheckStatus::Passing);
    register(&mut s, t0, web("w1", 80), vec![check]);
    // TTL expiry at t0+10 makes it critical; the service goes 60s later.
    s.tick(t0 + secs(10));
    assert_eq!(status(&s, "service:w1"), CheckStatus::Critical);
    assert_eq!(s.next_deadline(), Some(t0 + secs(70)));
    assert!(s.tick(t0 + secs(69)).is_empty());
    let due = s.tick(t0 + secs(70));
    assert_eq!(due, [Command::DeregisterService { id: "w1".into() }]);
    assert!(s.service("w1").is_none());
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn recovery_resets_critical_since() {
    let (mut s, t0) = state();
    let mut check = ttl_check(1000);
    check.deregister_critical_after = Some(secs(60));
    register(&mut s, t0, web("w1", 80), vec![check]);
    let report = |status| Command::UpdateTtl {
        id: "service:w1".into(),
        status,
        output: String::new(),
    };
    s.apply(report(CheckStatus::Passing), t0 + secs(50))
        .unwrap();
    s.apply(report(CheckStatus::Critical), t0 + secs(55))
        .unwrap();
    assert!(
        s.tick(t0 + secs(100)).is_empty(),
        "critical only since t0+55"
    );
    assert_eq!(s.tick(t0 + secs(115)).len(), 1);
}

#[test]
fn maintenance_is_critical_and_reversible() {
    let (mut s, now) = state();
    let mut pass = ttl_check(10);
    pass.status = Some(CheckStatus::Passing);
    register(&mut s, now, web("w1", 80), vec![pass]);
    assert_eq!(s.instance_status("w1"), CheckStatus::Passing);
    let maint = |enable| Command::ServiceMaintenance {
        service_id: "w1".into(),
        enable,
        reason: "deploy".into(),
    };
    s.apply(maint(true), now).unwrap();
    assert_eq!(s.instance_status("w1"), CheckStatus::Critical);
    let check = s.check("_service_maintenance:w1").unwrap();
    assert_eq!(
        (check.def.notes.as_str(), check.def.kind.type_name()),
        ("deploy", "maintenance")
    );
    let index = s.index();
    s.apply(maint(true), now).unwrap();
    assert_eq!(s.index(), index, "enabling twice is a no-op");
    s.apply(maint(false), now).unwrap();
    assert_eq!(s.instance_status("w1"), CheckStatus::Passing);

    let node = |enable| Command::NodeMaintenance {
        enable,
        reason: String::new(),
    };
    let before = s.service_index("web");
    s.apply(node(true), now).unwrap();
    assert_eq!(
        s.instance_status("w1"),
        CheckStatus::Critical,
        "node checks count for every instance"
    );
    assert!(s.service_index("web") > before);
    assert!(s
        .check(NODE_MAINTENANCE_ID)
        .unwrap()
        .def
        .notes
        .contains("no reason was provided"));
    s.apply(node(false), now).unwrap();
    assert_eq!(s.instance_status("w1"), CheckStatus::Passing);
    let unknown = Command::ServiceMaintenance {
        service_id: "x".into(),
        enable: true,
        reason: String::new(),
    };
    assert!(matches!(
        s.apply(unknown, now),
        Err(Error::UnknownService(_))
    ));
}

fn kv_set(s: &mut State, key: &str, value: &str, cas: Option<u64>) -> bool {
    let cmd = Command::KvSet {
        key: key.into(),
        value: value.into(),
        flags: 7,
        cas,
    };
    matches!(s.apply(cmd, Instant::now()), Ok(Outcome::Bool(true)))
}

#[test]
fn kv_cas_flags_and_indexes() {
    let (mut s, now) = state();
    assert!(kv_set(&mut s, "a", "1", Some(0)), "cas=0 creates");
    assert!(
        !kv_set(&mut s, "a", "2", Some(0)),
        "cas=0 refuses an existing key"
    );
    let e = s.kv().get("a").unwrap().clone();
    assert_eq!((e.flags, e.create_index, e.modify_index), (7, 2, 2));
    assert!(!kv_set(&mut s, "a", "2", Some(99)));
    assert!(kv_set(&mut s, "a", "2", Some(2)));
    let e = s.kv().get("a").unwrap();
    assert_eq!(
        (&*e.value, e.create_index, e.modify_index),
        (&b"2"[..], 2, 3)
    );
    assert_eq!(s.index(), 3, "failed CAS does not bump");

    let big = Command::KvSet {
        key: "big".into(),
        value: vec![0; MAX_KV_VALUE + 1],
        flags: 0,
        cas: None,
    };
    assert!(matches!(
        s.apply(big, now),
        Err(Error::ValueTooLarge { .. })
    ));
    let del = |key: &str, cas| Command::KvDelete {
        key: key.into(),
        recurse: false,
        cas,
    };
    assert_eq!(
        s.apply(del("a", Some(1)), now).unwrap(),
        Outcome::Bool(false)
    );
    assert_eq!(
        s.apply(del("a", Some(3)), now).unwrap(),
        Outcome::Bool(true)
    );
    assert_eq!(s.index(), 4);
    assert_eq!(s.kv().key_index("a"), 4, "deletion moves the key's index");
    assert_eq!(s.apply(del("a", None), now).unwrap(), Outcome::Bool(true));
    assert_eq!(s.index(), 4, "deleting an absent key changes nothing");
}

#[test]
fn kv_recurse_keys_and_separator() {
    let (mut s, now) = state();
    for key in ["web/a", "web/sub/b", "web/sub/c", "webz", "other"] {
        kv_set(&mut s, key, "x", None);
    }
    let keys: Vec<_> = s.kv().list("web/").map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["web/a", "web/sub/b", "web/sub/c"]);
    assert_eq!(s.kv().keys("web/", Some("/")), ["web/a", "web/sub/"]);
    assert_eq!(s.kv().keys("", Some("/")), ["other", "web/", "webz"]);
    assert_eq!(s.kv().keys("web", None).len(), 4);
    let prefix_index = s.kv().prefix_index("web/");
    let del_tree = Command::KvDelete {
        key: "web/sub/".into(),
        recurse: true,
        cas: None,
    };
    s.apply(del_tree, now).unwrap();
    assert_eq!(s.kv().keys("web/", None), ["web/a"]);
    assert!(
        s.kv().prefix_index("web/") > prefix_index,
        "deletes move the prefix index"
    );
    assert_eq!(
        s.kv().prefix_index("other"),
        6,
        "other prefixes keep theirs"
    );
}

fn op(verb: KvVerb, key: &str, value: &str, index: u64) -> KvOp {
    KvOp {
        verb,
        key: key.into(),
        value: value.into(),
        flags: 0,
        index,
    }
}

#[test]
fn txn_is_atomic() {
    let (mut s, now) = state();
    kv_set(&mut s, "a", "1", None);
    let index = s.index();
    let failing = vec![
        op(KvVerb::Set, "b", "2", 0),
        op(KvVerb::Cas, "a", "x", 999),
        op(KvVerb::Get, "missing", "", 0),
    ];
    let Outcome::Txn(out) = s.apply(Command::Txn { ops: failing }, now).unwrap() else {
        panic!("txn outcome");
    };
    let what: Vec<_> = out
        .errors
        .iter()
        .map(|e| (e.op_index, e.what.as_str()))
        .collect();
    assert_eq!(
        what,
        [
            (1, "failed to set key \"a\", index is stale"),
            (2, "key \"missing\" doesn't exist")
        ]
    );
    assert!(out.results.is_empty());
    assert!(s.kv().get("b").is_none(), "rolled back");
    assert_eq!(s.index(), index);

    let ok = vec![
        op(KvVerb::CheckIndex, "a", "", index),
        op(KvVerb::Set, "b", "2", 0),
        op(KvVerb::Get, "b", "", 0),
        op(KvVerb::DeleteTree, "a", "", 0),
    ];
    let Outcome::Txn(out) = s.apply(Command::Txn { ops: ok }, now).unwrap() else {
        panic!("txn outcome");
    };
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.results.len(),
        3,
        "check-index, set and get answer; deletes do not"
    );
    assert!(
        out.results[1].value.is_empty(),
        "set results carry no value"
    );
    assert_eq!(&*out.results[2].value, b"2", "get sees the earlier set");
    assert_eq!(s.index(), index + 1, "one index for the whole transaction");
    assert_eq!(s.kv().get("b").unwrap().modify_index, index + 1);
    assert!(s.kv().get("a").is_none());

    let read_only = vec![op(KvVerb::Get, "b", "", 0)];
    s.apply(Command::Txn { ops: read_only }, now).unwrap();
    assert_eq!(s.index(), index + 1, "reads do not bump");
    let too_many = vec![op(KvVerb::Get, "b", "", 0); MAX_TXN_OPS + 1];
    let err = s.apply(Command::Txn { ops: too_many }, now);
    assert!(matches!(err, Err(Error::TooManyTxnOps { .. })));
}

#[test]
fn service_index_moves_on_deregistration_only_for_that_name() {
    let (mut s, now) = state();
    register(&mut s, now, web("w1", 80), vec![]);
    let mut db = web("db1", 5432);
    db.name = "db".into();
    register(&mut s, now, db, vec![]);
    let web_index = s.service_index("web");
    s.apply(Command::DeregisterService { id: "db1".into() }, now)
        .unwrap();
    assert_eq!(s.service_index("web"), web_index);
    assert_eq!(
        s.service_index("db"),
        s.index(),
        "deleted name keeps a moving index"
    );
    assert_eq!(s.tables().services, s.index());
}

#[test]
fn commands_round_trip_through_serde() {
    // The durable-log seam: every command must survive serialization.
    let mut check = ttl_check(10);
    check.deregister_critical_after = Some(secs(90));
    let commands = vec![
        Command::RegisterService {
            service: web("w1", 80),
            checks: vec![check],
            replace_existing_checks: true,
        },
        Command::Txn {
            ops: vec![op(KvVerb::DeleteCas, "k", "v", 3)],
        },
    ];
    let text = serde_json::to_string(&commands).unwrap();
    let back: Vec<Command> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, commands);
}

#[test]
fn journaled_services_without_weights_get_consuls_default() {
    // Records written before `weights` existed decode with Consul's 1 and 1.
    let old = r#"{"id":"a","name":"a","tags":[],"address":"","port":1,"meta":{},"enable_tag_override":false}"#;
    let def: ServiceDef = serde_json::from_str(old).expect("an old record decodes");
    assert_eq!(def.weights, Weights::default());
    assert_eq!((def.weights.passing, def.weights.warning), (1, 1));
}
