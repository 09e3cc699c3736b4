//! The offset store on disk: commits, fetches, group metadata, deletion, compaction, and
//! what a reopen brings back.

use std::path::Path;

use bytes::Bytes;
use tern_broker_groups::{
    Coordinator, CoordinatorConfig, GroupMetadata, GroupState, JoinRequest, LeaveRequest,
    LeavingMember, OffsetEntry, OffsetStore, OffsetStoreConfig, Response, SyncPolicy,
};

fn entry(offset: i64, metadata: &str) -> OffsetEntry {
    OffsetEntry {
        offset,
        leader_epoch: 3,
        metadata: metadata.to_string(),
        commit_timestamp_ms: 1_700_000_000_000 + offset,
    }
}

fn unsynced(dir: &Path) -> OffsetStore {
    let config = OffsetStoreConfig {
        sync: SyncPolicy::Never,
        ..OffsetStoreConfig::new(dir)
    };
    OffsetStore::open_with(config).expect("open offset store")
}

fn commits(topic: &str, offsets: &[(i32, i64)]) -> Vec<(String, i32, OffsetEntry)> {
    let commits = offsets.iter().map(|(partition, offset)| {
        let metadata = format!("{topic}/{partition}");
        (topic.to_string(), *partition, entry(*offset, &metadata))
    });
    commits.collect()
}

fn offsets(store: &OffsetStore, group: &str) -> Vec<(String, i32, i64)> {
    let fetched = store.fetch(group, None).into_iter();
    let present = fetched.map(|(t, p, e)| (t, p, e.expect("fetch all returns committed ones")));
    present.map(|(t, p, e)| (t, p, e.offset)).collect()
}

#[tokio::test]
async fn commits_are_fetched_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        // The default settings: every commit is fsynced before it resolves.
        let store = OffsetStore::open(dir.path()).unwrap();
        store
            .commit("g1", commits("orders", &[(0, 10), (1, 20)]))
            .await
            .unwrap();
        store
            .commit("g1", commits("orders", &[(1, 25)]))
            .await
            .unwrap();
        store
            .commit("g1", commits("audit", &[(0, 7)]))
            .await
            .unwrap();
        store
            .commit("g2", commits("orders", &[(0, 99)]))
            .await
            .unwrap();

        let asked = [
            ("orders".to_string(), 1),
            ("orders".to_string(), 2),
            ("missing".to_string(), 0),
        ];
        let fetched = store.fetch("g1", Some(&asked));
        assert_eq!(
            fetched[0],
            ("orders".into(), 1, Some(entry(25, "orders/1")))
        );
        assert_eq!(fetched[1], ("orders".into(), 2, None));
        assert_eq!(fetched[2], ("missing".into(), 0, None));
        assert_eq!(store.fetch("nobody", Some(&asked[..1]))[0].2, None);
        assert!(store.fetch("nobody", None).is_empty());
    }
    let store = unsynced(dir.path());
    let expected = vec![
        ("audit".to_string(), 0, 7),
        ("orders".to_string(), 0, 10),
        ("orders".to_string(), 1, 25),
    ];
    assert_eq!(offsets(&store, "g1"), expected);
    assert_eq!(offsets(&store, "g2"), vec![("orders".to_string(), 0, 99)]);
    let all = store.fetch("g1", None);
    assert_eq!(
        all[0].2,
        Some(entry(7, "audit/0")),
        "epoch, metadata and time kept"
    );
}

#[tokio::test]
async fn concurrent_commits_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = unsynced(dir.path());
        let tasks: Vec<_> = (0..32)
            .map(|partition| {
                let store = store.clone();
                tokio::spawn(async move {
                    let committed = commits("t", &[(partition, i64::from(partition) * 100)]);
                    store.commit("g", committed).await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    }
    let store = unsynced(dir.path());
    let fetched = offsets(&store, "g");
    assert_eq!(fetched.len(), 32);
    assert!(fetched.iter().all(|(_, p, o)| *o == i64::from(*p) * 100));
}

#[tokio::test]
async fn group_metadata_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = unsynced(dir.path());
        let saved = vec![GroupMetadata {
            group_id: "consumers".into(),
            protocol_type: "consumer".into(),
            generation_id: 5,
        }];
        store.save_groups(saved).await.unwrap();
        store.save_groups(Vec::new()).await.unwrap();
        store
            .commit("simple", commits("t", &[(0, 1)]))
            .await
            .unwrap();
        // An empty commit stores nothing and creates no group.
        store.commit("nothing", Vec::new()).await.unwrap();
    }
    let store = unsynced(dir.path());
    let groups = store.groups();
    let shown: Vec<String> = groups
        .iter()
        .map(|g| format!("{} {:?} {}", g.group_id, g.protocol_type, g.generation_id))
        .collect();
    assert_eq!(shown, ["consumers \"consumer\" 5", "simple \"\" 0"]);

    let mut coordinator = Coordinator::new();
    for group in groups {
        coordinator.restore(group);
    }
    let listed = coordinator.list();
    assert_eq!(
        listed[0],
        ("consumers".into(), "consumer".into(), GroupState::Empty)
    );
    assert_eq!(
        listed[1],
        ("simple".into(), String::new(), GroupState::Empty)
    );
    assert_eq!(coordinator.describe("consumers").generation_id, 5);
}

#[tokio::test]
async fn deleted_groups_stay_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = unsynced(dir.path());
        store.commit("g", commits("t", &[(0, 1)])).await.unwrap();
        let metadata = GroupMetadata {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            generation_id: 2,
        };
        store.save_groups(vec![metadata]).await.unwrap();
        store.commit("kept", commits("t", &[(0, 2)])).await.unwrap();
        store.delete_group("g").await.unwrap();
        assert!(store.fetch("g", None).is_empty());
    }
    let store = unsynced(dir.path());
    assert!(store.fetch("g", None).is_empty());
    let groups: Vec<String> = store.groups().into_iter().map(|g| g.group_id).collect();
    assert_eq!(groups, ["kept"]);
}

#[tokio::test]
async fn compaction_keeps_the_latest_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Compact as soon as the log holds anything: nearly every write queues a snapshot.
        let config = OffsetStoreConfig {
            sync: SyncPolicy::Never,
            compact_after_bytes: 1,
            ..OffsetStoreConfig::new(dir.path())
        };
        let store = OffsetStore::open_with(config).unwrap();
        for round in 0..20 {
            let committed = commits("t", &[(0, round), (1, round * 2)]);
            store.commit("g", committed).await.unwrap();
        }
        let metadata = GroupMetadata {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            generation_id: 9,
        };
        store.save_groups(vec![metadata]).await.unwrap();
        store
            .commit("other", commits("u", &[(3, 1)]))
            .await
            .unwrap();
        store.delete_group("other").await.unwrap();
    }
    assert!(
        dir.path().join("snapshot").exists(),
        "a snapshot was written"
    );
    let store = unsynced(dir.path());
    let expected = vec![("t".to_string(), 0, 19), ("t".to_string(), 1, 38)];
    assert_eq!(offsets(&store, "g"), expected);
    let groups = store.groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].generation_id, 9);
}

/// The wiring the broker does: coordinator changes saved, restored after a restart, and
/// the generation carrying on from there.
#[tokio::test]
async fn generations_continue_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = CoordinatorConfig {
        member_id_seed: 1,
        ..CoordinatorConfig::default()
    };
    let join = |member_id: &str| JoinRequest {
        api_version: 3,
        group_id: "g".into(),
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"m"))],
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    };
    {
        let store = unsynced(dir.path());
        let mut coordinator = Coordinator::with_config(config.clone());
        for round in 0..2 {
            // A member joins (it is alone: the join completes at once) and leaves again:
            // two generations a round, the last one Empty.
            let replies = coordinator.join(round, round as u64, join(""));
            let Response::Join(joined) = &replies[0].response else {
                panic!("{replies:?}")
            };
            let leaving = LeavingMember {
                member_id: joined.member_id.clone(),
                group_instance_id: None,
            };
            let leave = LeaveRequest {
                group_id: "g".into(),
                members: vec![leaving],
            };
            coordinator.leave(round, leave);
            store.save_groups(coordinator.take_changes()).await.unwrap();
        }
        assert_eq!(coordinator.describe("g").generation_id, 4);
    }
    let store = unsynced(dir.path());
    let mut coordinator = Coordinator::with_config(config);
    for group in store.groups() {
        coordinator.restore(group);
    }
    assert_eq!(coordinator.describe("g").state, GroupState::Empty);
    let replies = coordinator.join(0, 1, join(""));
    let Response::Join(joined) = &replies[0].response else {
        panic!("{replies:?}")
    };
    assert_eq!(joined.generation_id, 5);
}
