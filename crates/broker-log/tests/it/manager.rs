//! Partitions of a manager: creation, listing, deletion, shutdown.

use tern_broker_log::testing::batch;
use tern_broker_log::{AppendError, Durability, Error, LogConfig};

use crate::{append, open, ranges, unsynced};

#[tokio::test]
async fn partitions_are_created_once_listed_and_reopened() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (log, report) = open(dir.path(), unsynced());
        assert_eq!(report.partitions, 0);
        let a = log.create_partition("orders", 1).expect("create");
        let again = log.create_partition("orders", 1).expect("create again");
        append(&a, batch(2, 0)).await;
        assert_eq!(again.high_watermark(), 2, "the same partition");
        log.create_partition("orders", 0).expect("create");
        log.create_partition("logs.search-service", 0)
            .expect("create");
        assert_eq!(
            log.partitions(),
            vec![
                ("logs.search-service".to_string(), 0),
                ("orders".to_string(), 0),
                ("orders".to_string(), 1)
            ]
        );
        assert!(log.partition("orders", 2).is_none());
        assert!(matches!(
            log.create_partition("a/b", 0),
            Err(Error::InvalidPartition { .. })
        ));
        assert!(matches!(
            log.create_partition("ok", -1),
            Err(Error::InvalidPartition { .. })
        ));
    }
    let (log, report) = open(dir.path(), unsynced());
    assert_eq!(report.partitions, 3);
    let a = log.partition("orders", 1).expect("reopened");
    assert_eq!(ranges(&a.read(0, 100).expect("read").records), vec![(0, 1)]);
    assert_eq!(a.topic(), "orders");
    assert_eq!(a.index(), 1);
}

#[tokio::test]
async fn deleting_a_topic_removes_its_partitions_and_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), LogConfig::default());
    let doomed = log.create_partition("doomed", 0).expect("create");
    log.create_partition("doomed", 1).expect("create");
    let kept = log.create_partition("kept", 0).expect("create");
    append(&doomed, batch(2, 0)).await;
    append(&kept, batch(2, 0)).await;
    log.delete_topic("doomed").expect("delete");
    log.delete_topic("never-existed")
        .expect("deleting nothing is fine");
    assert_eq!(log.partitions(), vec![("kept".to_string(), 0)]);
    assert!(!dir.path().join("doomed-0").exists());
    assert!(!dir.path().join("doomed-1").exists());
    assert_eq!(
        doomed.append(batch(1, 0), 0, Durability::Durable).await,
        Err(AppendError::Closed)
    );
    assert_eq!(append(&kept, batch(1, 0)).await, (2, 2));
    // A new topic of the same name starts from scratch.
    let reborn = log.create_partition("doomed", 0).expect("create again");
    assert_eq!(append(&reborn, batch(1, 0)).await, (0, 0));
}

#[tokio::test]
async fn after_shutdown_appends_are_refused_and_reads_still_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), LogConfig::default());
    let p = log.create_partition("t", 0).expect("create");
    append(&p, batch(2, 0)).await;
    log.shutdown();
    log.shutdown();
    assert_eq!(
        p.append(batch(1, 0), 0, Durability::Written).await,
        Err(AppendError::Closed)
    );
    assert_eq!(ranges(&p.read(0, 100).expect("read").records), vec![(0, 1)]);
    assert!(matches!(
        log.create_partition("u", 0),
        Err(Error::Closed { .. })
    ));
}

#[tokio::test]
async fn appends_to_many_partitions_share_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(dir.path(), LogConfig::default());
    let partitions: Vec<_> = (0..8)
        .map(|i| log.create_partition("wide", i).expect("create"))
        .collect();
    let mut tasks = Vec::new();
    for p in &partitions {
        for _ in 0..5 {
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                p.append(batch(3, 0), 0, Durability::Durable)
                    .await
                    .expect("append")
            }));
        }
    }
    for task in tasks {
        task.await.expect("task");
    }
    for p in &partitions {
        assert_eq!(p.high_watermark(), 15);
        let got = ranges(&p.read(0, 1 << 20).expect("read").records);
        assert_eq!(got, vec![(0, 2), (3, 5), (6, 8), (9, 11), (12, 14)]);
    }
}

#[test]
fn invalid_config_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 0,
        ..LogConfig::default()
    };
    let err = tern_broker_log::LogManager::open(dir.path(), config).expect_err("refused");
    assert!(err.to_string().contains("segment_bytes"), "{err}");
}
