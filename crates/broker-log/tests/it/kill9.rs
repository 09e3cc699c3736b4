//! "A message acknowledged under the durable mode survives kill -9 of the broker": a child
//! process (this test binary again, running only `appender_child`) appends with
//! `Durability::Durable` to two partitions from several tasks, with small segments so that it
//! rolls, and prints every acknowledged batch. The parent SIGKILLs it mid-stream, reopens the
//! log and reads every acknowledged batch back. Three rounds on the same directory.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use tern_broker_log::testing::{records, BatchBuilder};
use tern_broker_log::{Durability, LogConfig, LogManager};
use tern_test_support::child::{child_role, child_runtime, child_test, kill_9_after};

use crate::ranges;

const DIR_ENV: &str = "TERN_BROKER_LOG_KILL9_DIR";
const ROUND_ENV: &str = "TERN_BROKER_LOG_KILL9_ROUND";
const ACKS_PER_ROUND: usize = 200;
const PARTITIONS: i32 = 2;
const TASKS_PER_PARTITION: usize = 4;
const RECORDS_PER_BATCH: usize = 3;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 << 10,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

/// One acknowledged batch: partition, base and last offset, tag of its record values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    partition: i32,
    base: i64,
    last: i64,
    tag: String,
}

/// Parses "ACK <partition> <base> <last> <tag> END" (libtest may print before it on a line).
fn parse_ack(line: &str) -> Option<Ack> {
    let (_, ack) = line.split_once("ACK ")?;
    let fields: Vec<&str> = ack.split(' ').collect();
    match fields[..] {
        [partition, base, last, tag, "END"] => Some(Ack {
            partition: partition.parse().ok()?,
            base: base.parse().ok()?,
            last: last.parse().ok()?,
            tag: tag.to_owned(),
        }),
        _ => None,
    }
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    // (partition, base) -> ack
    let mut acked: BTreeMap<(i32, i64), Ack> = BTreeMap::new();
    let mut record = |ack: Ack| {
        let previous = acked.insert((ack.partition, ack.base), ack.clone());
        assert_eq!(previous, None, "offset acknowledged twice: {ack:?}");
    };
    for round in 0..3 {
        let mut child = child_test("kill9::appender_child")
            .env(DIR_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .spawn()
            .expect("spawn appender child");
        let (seen, status) = kill_9_after(&mut child, ACKS_PER_ROUND, |line| {
            parse_ack(line).map(&mut record).is_some()
        });
        assert_eq!(
            seen, ACKS_PER_ROUND,
            "round {round}: appender stopped early: {status}"
        );
    }
    let (log, report) = LogManager::open(dir.path(), config()).expect("reopen");
    assert_eq!(report.partitions, PARTITIONS as usize);
    let mut highest: HashMap<i32, i64> = HashMap::new();
    for ack in acked.values() {
        let p = log.partition("kill9", ack.partition).expect("partition");
        let read = p
            .read(ack.base, 1)
            .unwrap_or_else(|e| panic!("acknowledged {ack:?} is lost ({e}); recovery: {report:?}"));
        assert_eq!(ranges(&read.records), vec![(ack.base, ack.last)], "{ack:?}");
        let values: Vec<String> = records(&read.records)
            .into_iter()
            .map(|r| String::from_utf8(r.value.expect("value")).expect("utf-8"))
            .collect();
        let expected: Vec<String> = (0..RECORDS_PER_BATCH)
            .map(|i| format!("{}-{i}", ack.tag))
            .collect();
        assert_eq!(values, expected, "{ack:?}");
        let top = highest.entry(ack.partition).or_default();
        *top = (*top).max(ack.last);
    }
    for (partition, last) in highest {
        let p = log.partition("kill9", partition).expect("partition");
        assert!(p.high_watermark() > last);
    }
    assert!(acked.len() >= 3 * ACKS_PER_ROUND);
}

/// Not a test on its own: does nothing unless started by the test above.
#[test]
fn appender_child() {
    let Some(dir) = child_role(DIR_ENV) else {
        return;
    };
    let round = std::env::var(ROUND_ENV).unwrap_or_default();
    let runtime = child_runtime();
    runtime.block_on(async move {
        let (log, _) = LogManager::open(Path::new(&dir), config()).expect("open");
        let mut tasks = Vec::new();
        for partition in 0..PARTITIONS {
            let p = log.create_partition("kill9", partition).expect("partition");
            for task in 0..TASKS_PER_PARTITION {
                let (p, round) = (p.clone(), round.clone());
                tasks.push(tokio::spawn(async move {
                    for n in 0.. {
                        let tag = format!("r{round}-p{partition}-t{task}-{n}");
                        let mut batch = BatchBuilder::new(1_700_000_000_000);
                        for i in 0..RECORDS_PER_BATCH {
                            batch = batch.record(None, format!("{tag}-{i}").as_bytes());
                        }
                        let info = p
                            .append(batch.build(), 0, Durability::Durable)
                            .await
                            .expect("append");
                        let mut out = std::io::stdout().lock();
                        writeln!(
                            out,
                            "ACK {partition} {} {} {tag} END",
                            info.base_offset, info.last_offset
                        )
                        .expect("stdout");
                        out.flush().expect("flush");
                    }
                }));
            }
        }
        for task in tasks {
            task.await.expect("appender task");
        }
    });
}
