//! Durability of the broker as a process: SIGKILLed while confluent-kafka produces
//! (acks=all, idempotence on) or commits group offsets, then restarted on the same data
//! directory; a torn last segment after `kill -9`; retention deleting old segments while
//! serving. The broker process is this test binary again, running only `broker_child`
//! (as tern-broker-log's kill9 test does), with the default, durable flush policy.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tern_broker::{Broker, BrokerConfig, FlushPolicy, LogConfig};
use tern_broker_log::testing::BatchBuilder;
use tern_test_support::child::{child_role, child_runtime, child_test};
use tern_test_support::clients::{client_from_env, compat_script};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::compat::run;
use crate::*;

/// Set only for the child: the broker's data directory (`DATA_DIR/broker`).
const DIR_ENV: &str = "TERN_BROKER_IT_CHILD_DIR";
/// Delivery reports to see before the broker is killed.
const ACKS_BEFORE_KILL: usize = 1500;
/// Records in each of the two partitions of the commit test.
const COMMIT_RECORDS: i64 = 40;
/// Acknowledged commits to see before the broker is killed: more than one partition's
/// records, so both partitions have commits (one commit per message).
const COMMITS_BEFORE_KILL: usize = 50;
const TIMESTAMP: i64 = 1_700_000_000_000;

/// A broker in a child process, serving on `127.0.0.1:0`.
struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
}

impl BrokerProcess {
    /// Starts the child on `dir` and waits (≤ 30 s) for its `listening ADDR END` line.
    async fn start(dir: &Path) -> Self {
        let mut child = Command::from(child_test("durability::broker_child"))
            .env(DIR_ENV, dir)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the broker child");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read the child's stdout") {
                // libtest may print before it on the line.
                if let Some((_, rest)) = line.split_once("listening ") {
                    if let Some(addr) = rest.strip_suffix(" END") {
                        return addr.parse().expect("a socket address");
                    }
                }
            }
            panic!("the broker child exited before listening");
        })
        .await
        .expect("the broker child listens within 30s");
        // Keep reading its stdout (log lines) so that the pipe never fills.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("broker child: {line}");
            }
        });
        BrokerProcess { child, addr }
    }

    /// SIGKILL, and waits until the process is gone.
    async fn kill_9(mut self) {
        self.child.start_kill().expect("kill -9 the broker");
        let status = self.child.wait().await.expect("wait for the broker");
        assert_eq!(status.signal(), Some(9), "killed, not exited: {status}");
    }
}

/// Not a test on its own: serves a broker only when started by the tests below.
#[test]
fn broker_child() {
    let Some(dir) = child_role(DIR_ENV) else {
        return;
    };
    let runtime = child_runtime();
    runtime.block_on(async move {
        let config = BrokerConfig {
            data_dir: PathBuf::from(dir),
            log: LogConfig {
                flush: FlushPolicy::Always,
                ..LogConfig::default()
            },
            ..BrokerConfig::default()
        };
        let broker = Broker::build(config).expect("the broker builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("listening {} END", listener.local_addr().expect("addr"));
        broker
            .serve(listener, std::future::pending())
            .await
            .expect("serve");
    });
}

/// `tests/compat/kafka_client.py HOST PORT ARGS...` with `python`.
fn python_client(python: &OsStr, addr: SocketAddr, args: &[&str]) -> Command {
    let mut command = Command::new(python);
    command
        .arg(compat_script("kafka_client.py"))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args(args)
        .kill_on_drop(true);
    command
}

/// A client started with its stdout piped, read by lines.
fn spawn_streaming(mut command: Command) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the client starts");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

/// The fields of a `"WORD F1 F2 ... END"` line.
fn fields<'a>(line: &'a str, word: &str) -> Option<Vec<&'a str>> {
    let rest = line.strip_prefix(word)?.strip_suffix(" END")?;
    Some(rest.split(' ').skip(1).collect())
}

/// Every record of `topic`'s `partitions` read by confluent-kafka from the start to the
/// high watermark: (partition, offset) → value, and the high watermarks.
async fn consume_all(
    python: &OsStr,
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
) -> (BTreeMap<(i32, i64), String>, Vec<i64>) {
    let stdout = run(
        python_client(
            python,
            addr,
            &["consume-all", topic, &partitions.to_string()],
        ),
        None,
    )
    .await;
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("the client prints JSON");
    assert_eq!(report["ok"], true, "{report}");
    let mut records = BTreeMap::new();
    for record in report["records"].as_array().expect("records") {
        let key = (
            record[0].as_i64().expect("partition") as i32,
            record[1].as_i64().expect("offset"),
        );
        let value = record[2].as_str().expect("value").to_owned();
        assert_eq!(records.insert(key, value), None, "{key:?} read twice");
    }
    let high = report["high"]
        .as_array()
        .expect("high")
        .iter()
        .map(|h| h.as_i64().expect("high watermark"))
        .collect();
    (records, high)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_kafka_acknowledged_messages_survive_kill_9() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("broker");
    let broker = BrokerProcess::start(&dir).await;
    let (mut producer, mut lines) = spawn_streaming(python_client(
        &python,
        broker.addr,
        &["produce-acked", "k9-produce", "3", "60"],
    ));
    // (partition, offset) -> value, as acknowledged to the producer.
    let mut acked: BTreeMap<(i32, i64), String> = BTreeMap::new();
    let mut record = |line: &str| {
        if let Some([partition, offset, value]) = fields(line, "ACK").as_deref() {
            let key = (
                partition.parse().expect("partition"),
                offset.parse().expect("offset"),
            );
            let previous = acked.insert(key, value.to_string());
            assert_eq!(previous, None, "offset {key:?} acknowledged twice");
        }
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut seen = 0;
        while seen < ACKS_BEFORE_KILL {
            let line = lines
                .next_line()
                .await
                .expect("read the producer")
                .expect("the producer acknowledges before exiting");
            record(&line);
            seen += usize::from(line.starts_with("ACK "));
        }
    })
    .await
    .expect("the producer gets acknowledgements within 60s");
    // Mid-stream: the producer has more in flight.
    broker.kill_9().await;
    producer.start_kill().expect("kill the producer");
    producer.wait().await.expect("wait for the producer");
    // Lines still in the pipe were acknowledged before the kill too.
    while let Some(line) = lines.next_line().await.expect("read the producer") {
        record(&line);
    }
    assert!(acked.len() >= ACKS_BEFORE_KILL);

    let broker = BrokerProcess::start(&dir).await;
    let (stored, high) = consume_all(&python, broker.addr, "k9-produce", 3).await;
    for ((partition, offset), value) in &acked {
        assert_eq!(
            stored.get(&(*partition, *offset)),
            Some(value),
            "acknowledged {value} at {partition}/{offset}"
        );
    }
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for value in stored.values() {
        *copies.entry(value).or_default() += 1;
    }
    for value in acked.values() {
        assert_eq!(copies[value.as_str()], 1, "{value} stored more than once");
    }
    // Offsets are dense: nothing but what was stored before the high watermarks.
    for (partition, high) in high.iter().enumerate() {
        let count = stored
            .keys()
            .filter(|(p, _)| *p == partition as i32)
            .count();
        assert_eq!(count as i64, *high, "partition {partition}");
    }
    eprintln!(
        "{} acknowledged, {} stored after the restart",
        acked.len(),
        stored.len()
    );
    broker.kill_9().await;
}

async fn create_topic(client: &mut Client, topic: &str, partitions: i32) {
    let response = client
        .call(
            7,
            CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default()
                    .with_name(topic_name(topic))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)])
                .with_timeout_ms(5_000),
        )
        .await;
    assert_eq!(response.topics[0].error_code, 0, "create {topic}");
}

/// A batch of `count` records with values `TAG-0`, `TAG-1`, ...
fn tagged_batch(tag: &str, count: usize) -> Bytes {
    let mut batch = BatchBuilder::new(TIMESTAMP);
    for i in 0..count {
        batch = batch.record(None, format!("{tag}-{i}").as_bytes());
    }
    batch.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_kill_9() {
    let Some(python) = client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("broker");
    let broker = BrokerProcess::start(&dir).await;
    let mut client = Client::connect(broker.addr).await;
    create_topic(&mut client, "k9-commits", 2).await;
    for partition in 0..2 {
        let answer = produce(
            &mut client,
            9,
            -1,
            "k9-commits",
            partition,
            tagged_batch("c", COMMIT_RECORDS as usize),
        )
        .await;
        assert_eq!(answer.error_code, 0);
    }
    let (mut consumer, mut lines) = spawn_streaming(python_client(
        &python,
        broker.addr,
        &["commit-acked", "k9-commits", "k9-group", "60"],
    ));
    // partition -> highest offset whose commit was acknowledged.
    let mut acked: BTreeMap<i32, i64> = BTreeMap::new();
    let mut record = |line: &str| {
        if let Some([partition, offset]) = fields(line, "COMMITTED").as_deref() {
            let offset: i64 = offset.parse().expect("offset");
            let top = acked
                .entry(partition.parse().expect("partition"))
                .or_default();
            *top = (*top).max(offset);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut seen = 0;
        while seen < COMMITS_BEFORE_KILL {
            let line = lines
                .next_line()
                .await
                .expect("read the consumer")
                .expect("the consumer commits before exiting");
            record(&line);
            seen += usize::from(line.starts_with("COMMITTED "));
        }
    })
    .await
    .expect("the consumer's commits are acknowledged within 60s");
    // Mid-stream: the consumer goes on committing one message at a time.
    broker.kill_9().await;
    consumer.start_kill().expect("kill the consumer");
    consumer.wait().await.expect("wait for the consumer");
    while let Some(line) = lines.next_line().await.expect("read the consumer") {
        record(&line);
    }
    assert_eq!(
        acked.len(),
        2,
        "both partitions have acknowledged commits: {acked:?}"
    );

    let broker = BrokerProcess::start(&dir).await;
    let mut client = Client::connect(broker.addr).await;
    let fetched = client
        .call(
            5,
            OffsetFetchRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("k9-group")))
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(topic_name("k9-commits"))
                    .with_partition_indexes(vec![0, 1])])),
        )
        .await;
    assert_eq!(fetched.error_code, 0);
    for p in &fetched.topics[0].partitions {
        assert_eq!(p.error_code, 0);
        // A commit made after the last acknowledged one may have become durable too.
        let acknowledged = acked.get(&p.partition_index).copied().unwrap_or(-1);
        assert!(
            (acknowledged..=COMMIT_RECORDS).contains(&p.committed_offset),
            "partition {}: committed {} after the restart, {acknowledged} acknowledged",
            p.partition_index,
            p.committed_offset
        );
    }
    let after: Vec<(i32, i64)> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    eprintln!("acknowledged commits {acked:?}; after the restart {after:?}");
    broker.kill_9().await;
}

/// Every record of one partition from its log start offset: (offset, value).
async fn read_all(client: &mut Client, topic: &str, partition: i32) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = list_offset(client, topic, partition, -2).await;
    loop {
        let answer = fetch(client, 12, topic, partition, offset).await;
        assert_eq!(
            answer.error_code, 0,
            "fetch {topic}-{partition} at {offset}"
        );
        let records = answer.records.unwrap_or_default();
        for record in tern_broker_log::testing::records(&records) {
            let value = String::from_utf8(record.value.unwrap_or_default()).expect("utf-8");
            out.push((record.offset, value));
            offset = record.offset + 1;
        }
        if offset >= answer.high_watermark {
            return out;
        }
    }
}

/// ListOffsets at `timestamp` (-2 earliest, -1 latest).
async fn list_offset(client: &mut Client, topic: &str, partition: i32, timestamp: i64) -> i64 {
    let response = client
        .call(
            6,
            ListOffsetsRequest::default()
                .with_replica_id((-1).into())
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(timestamp)])]),
        )
        .await;
    let answer = &response.topics[0].partitions[0];
    assert_eq!(answer.error_code, 0, "ListOffsets {topic}-{partition}");
    answer.offset
}

/// The segment files (`.log`) of a partition directory: (base offset, size), oldest first.
fn segments(partition_dir: &Path) -> Vec<(i64, u64)> {
    let mut out: Vec<(i64, u64)> = std::fs::read_dir(partition_dir)
        .expect("read the partition directory")
        .map(|entry| entry.expect("directory entry"))
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let base = name.strip_suffix(".log")?.parse().ok()?;
            Some((base, entry.metadata().expect("metadata").len()))
        })
        .collect();
    out.sort();
    out
}

/// Produces `batches` batches of `per_batch` records tagged `TAG-N-I`; every value stored.
async fn produce_tagged(
    client: &mut Client,
    topic: &str,
    tag: &str,
    batches: usize,
    per_batch: usize,
) -> Vec<(i64, String)> {
    let mut stored = Vec::new();
    for n in 0..batches {
        let tag = format!("{tag}-{n}");
        let answer = produce(client, 9, -1, topic, 0, tagged_batch(&tag, per_batch)).await;
        assert_eq!(answer.error_code, 0, "produce {tag}");
        for i in 0..per_batch {
            stored.push((answer.base_offset + i as i64, format!("{tag}-{i}")));
        }
    }
    stored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_last_segment_is_cut_at_restart_and_produce_continues() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("broker");
    let partition_dir = dir.join("logs").join("torn-0");
    let last_segment = || {
        let (base, _) = *segments(&partition_dir).last().expect("a segment");
        partition_dir.join(format!("{base:020}.log"))
    };
    let broker = BrokerProcess::start(&dir).await;
    let mut client = Client::connect(broker.addr).await;
    let mut expected = produce_tagged(&mut client, "torn", "a", 10, 3).await;
    broker.kill_9().await;

    // A torn write after the last acknowledged batch: half a batch, then garbage.
    let next = tagged_batch("never", 3);
    let mut tail = next[..next.len() / 2].to_vec();
    tail.extend_from_slice(&[0xAB; 100]);
    append(&last_segment(), &tail);
    let broker = BrokerProcess::start(&dir).await;
    let mut client = Client::connect(broker.addr).await;
    assert_eq!(read_all(&mut client, "torn", 0).await, expected);
    assert_eq!(list_offset(&mut client, "torn", 0, -1).await, 30);
    let after_garbage = produce_tagged(&mut client, "torn", "b", 1, 3).await;
    assert_eq!(after_garbage[0].0, 30, "produce continues at the cut");
    broker.kill_9().await;

    // The last acknowledged batch itself torn (as if its write never finished): it is
    // cut, everything before it is kept, and its offsets are given out again.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(last_segment())
        .expect("open the segment");
    let len = file.metadata().expect("metadata").len();
    file.set_len(len - 7).expect("truncate");
    drop(file);
    let broker = BrokerProcess::start(&dir).await;
    let mut client = Client::connect(broker.addr).await;
    assert_eq!(read_all(&mut client, "torn", 0).await, expected);
    assert_eq!(list_offset(&mut client, "torn", 0, -1).await, 30);
    let again = produce_tagged(&mut client, "torn", "c", 2, 3).await;
    assert_eq!(again[0].0, 30, "produce continues at the cut");
    expected.extend(again);
    assert_eq!(read_all(&mut client, "torn", 0).await, expected);
    broker.kill_9().await;
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open the segment");
    file.write_all(bytes).expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_segments_while_serving() {
    const RETENTION_BYTES: u64 = 4096;
    let config = BrokerConfig {
        log: LogConfig {
            segment_bytes: 2048,
            retention_bytes: Some(RETENTION_BYTES),
            retention_ms: None,
            ..LogConfig::default()
        },
        retention_check_interval: Duration::from_millis(100),
        ..BrokerConfig::default()
    };
    let broker = RunningBroker::with(config).await;
    let partition_dir = broker.dir.join("logs").join("kept-0");
    let mut client = Client::connect(broker.addr).await;
    // About 500 bytes a batch: 3 batches a segment, 10 segments.
    let padding = "x".repeat(100);
    let stored = produce_tagged(&mut client, "kept", &padding, 30, 4).await;
    let end = stored.len() as i64;
    // Stored as sent: the batches' sizes are the bytes written (retention may already be
    // deleting while they are produced).
    let written: u64 = (0..30)
        .map(|n| tagged_batch(&format!("{padding}-{n}"), 4).len() as u64)
        .sum();

    // Retention is done once the oldest segment left could not go without the rest
    // holding fewer than RETENTION_BYTES.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let (earliest, left) = loop {
        let now = segments(&partition_dir);
        let held: u64 = now.iter().map(|(_, size)| size).sum();
        let earliest = list_offset(&mut client, "kept", 0, -2).await;
        if held - now[0].1 < RETENTION_BYTES && earliest > 0 && earliest == now[0].0 {
            break (earliest, now);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention did not finish within 20s: log start {earliest}, segments {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let held: u64 = left.iter().map(|(_, size)| size).sum();
    assert!(held >= RETENTION_BYTES, "kept {held} bytes in {left:?}");
    assert!(held < written, "kept {held} of {written} bytes");
    assert!(
        !partition_dir.join(format!("{:020}.log", 0)).exists()
            && !partition_dir.join(format!("{:020}.index", 0)).exists(),
        "the first segment's files are gone"
    );
    // Served from the new log start; below it is out of range; the end is unchanged.
    assert_eq!(list_offset(&mut client, "kept", 0, -1).await, end);
    let kept = read_all(&mut client, "kept", 0).await;
    assert_eq!(kept, stored[earliest as usize..]);
    let below = fetch(&mut client, 12, "kept", 0, 0).await;
    assert_eq!(
        below.error_code, 1,
        "OFFSET_OUT_OF_RANGE below the log start"
    );
    assert_eq!(below.log_start_offset, earliest);
    broker.stop().await;
}
