//! "A write acknowledged with 200 survives kill -9": a child process (this test binary again,
//! running only `writer_child`) appends from several tasks with `SyncPolicy::Always`, taking
//! snapshots along the way, and prints each acknowledged record. The parent kills it with
//! SIGKILL mid-stream, reopens the journal and checks every acknowledged record.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use tern_journal::{Journal, JournalConfig, Recovered};
use tern_test_support::child::{child_role, child_runtime, child_test, kill_9_after};

const DIR_ENV: &str = "TERN_JOURNAL_KILL9_DIR";
const ROUND_ENV: &str = "TERN_JOURNAL_KILL9_ROUND";
const ACKS_PER_ROUND: usize = 150;
const TASKS: usize = 8;
const SNAPSHOT_EVERY: u64 = 40;

/// The records in sequence order: the snapshot (one record per line) then the log.
fn all_records(recovered: &Recovered) -> Vec<String> {
    let mut all: Vec<String> = match &recovered.snapshot {
        Some(state) if !state.is_empty() => String::from_utf8(state.clone())
            .expect("snapshot is UTF-8")
            .split('\n')
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    all.extend(crate::strings(&recovered.records));
    all
}

/// Parses "ACK <seq> <payload> END" (libtest may print its own text before it on the line).
fn parse_ack(line: &str) -> Option<(u64, String)> {
    let (_, ack) = line.split_once("ACK ")?;
    let (seq, rest) = ack.split_once(' ')?;
    let payload = rest.strip_suffix(" END")?;
    Some((seq.parse().ok()?, payload.to_owned()))
}

#[test]
fn acknowledged_appends_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    for round in 0..3 {
        let mut child = child_test("kill9::writer_child")
            .env(DIR_ENV, dir.path())
            .env(ROUND_ENV, round.to_string())
            .spawn()
            .expect("spawn writer child");
        let (seen, status) = kill_9_after(&mut child, ACKS_PER_ROUND, |line| {
            let Some((seq, payload)) = parse_ack(line) else {
                return false;
            };
            assert_eq!(
                acked.insert(seq, payload),
                None,
                "sequence {seq} acked twice"
            );
            true
        });
        assert!(
            seen == ACKS_PER_ROUND,
            "round {round}: writer stopped after {seen} acks: {status}"
        );

        let (journal, recovered) = Journal::open(JournalConfig::new(dir.path())).expect("reopen");
        let all = all_records(&recovered);
        assert_eq!(all.len() as u64, recovered.last_sequence);
        for (seq, payload) in &acked {
            assert_eq!(
                all.get(*seq as usize - 1),
                Some(payload),
                "round {round}: acknowledged record {seq} lost or changed \
                 (snapshot present: {}, truncated {} bytes)",
                recovered.snapshot.is_some(),
                recovered.truncated_bytes
            );
        }
        drop(journal);
    }
}

/// Not a test on its own: does nothing unless started by the test above.
#[test]
fn writer_child() {
    let Some(dir) = child_role(DIR_ENV) else {
        return;
    };
    let round = std::env::var(ROUND_ENV).unwrap_or_default();
    let runtime = child_runtime();
    runtime.block_on(async move {
        let (journal, recovered) = Journal::open(JournalConfig::new(&dir)).expect("open");
        // The caller's state: one entry per record, index = sequence - 1. It is changed under
        // the lock in which the append is queued, so the log order is the state order.
        let state = Arc::new(Mutex::new(all_records(&recovered)));
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let (journal, state, round) = (journal.clone(), Arc::clone(&state), round.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    let payload = format!("r{round}-t{task}-{n}");
                    let durable = {
                        let mut state = state.lock().expect("lock");
                        state.push(payload.clone());
                        journal.append(payload.clone().into_bytes())
                    };
                    let seq = durable.await.expect("append");
                    {
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {seq} {payload} END").expect("stdout");
                        out.flush().expect("flush");
                    }
                    if seq % SNAPSHOT_EVERY == 0 {
                        let snapshot = {
                            let state = state.lock().expect("lock");
                            journal.snapshot(state.join("\n").into_bytes())
                        };
                        snapshot.await.expect("snapshot");
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer task");
        }
    });
}
