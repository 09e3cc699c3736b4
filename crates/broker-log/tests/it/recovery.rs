//! What `LogManager::open` repairs: torn tails, garbage, missing and damaged index files,
//! a damaged older segment.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use tern_broker_log::testing::{batch, records};
use tern_broker_log::LogConfig;

use crate::{append, files, open, ranges, small_segments, unsynced};

/// Appends `count` batches of 2 records to `t-0` and shuts down; returns their ranges.
async fn fill(dir: &Path, config: LogConfig, count: usize) -> Vec<(i64, i64)> {
    let (log, _) = open(dir, config);
    let p = log.create_partition("t", 0).expect("partition");
    let mut appended = Vec::new();
    for i in 0..count {
        appended.push(append(&p, batch(2, 1_000 + i as i64)).await);
    }
    log.shutdown();
    appended
}

fn last_log(dir: &Path) -> std::path::PathBuf {
    files(&dir.join("t-0"), "log").pop().expect("a segment")
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_appends_continue_after_the_last_whole_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        index_interval_bytes: 0, // an index entry per batch: the torn one had one
        ..unsynced()
    };
    let appended = fill(dir.path(), config.clone(), 5).await;
    let log_file = last_log(dir.path());
    let len = std::fs::metadata(&log_file).expect("stat").len();
    let last_batch = batch(2, 0).len() as u64;
    OpenOptions::new()
        .write(true)
        .open(&log_file)
        .expect("open log")
        .set_len(len - 3)
        .expect("tear");

    let (log, report) = open(dir.path(), config);
    assert_eq!(report.partitions, 1);
    assert_eq!(report.truncated_bytes, last_batch - 3);
    assert_eq!(report.rebuilt_indexes, 1);
    assert_eq!(
        std::fs::metadata(&log_file).expect("stat").len(),
        len - last_batch
    );
    let p = log.partition("t", 0).expect("partition");
    assert_eq!(p.high_watermark(), appended[3].1 + 1);
    let read = p.read(0, 1 << 20).expect("read");
    assert_eq!(ranges(&read.records), appended[..4].to_vec());
    assert_eq!(append(&p, batch(1, 0)).await, (8, 8));
    assert_eq!(
        p.read(8, 100).expect("read").records.len(),
        batch(1, 0).len()
    );
}

#[tokio::test]
async fn garbage_after_the_last_batch_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let appended = fill(dir.path(), unsynced(), 3).await;
    let log_file = last_log(dir.path());
    let mut garbage = vec![0u8; 100];
    garbage.extend((0..200u32).map(|i| (i * 7) as u8));
    OpenOptions::new()
        .append(true)
        .open(&log_file)
        .expect("open log")
        .write_all(&garbage)
        .expect("append garbage");

    let (log, report) = open(dir.path(), unsynced());
    assert_eq!(report.truncated_bytes, garbage.len() as u64);
    let p = log.partition("t", 0).expect("partition");
    assert_eq!(p.high_watermark(), appended[2].1 + 1);
    assert_eq!(append(&p, batch(1, 0)).await, (6, 6));
}

#[tokio::test]
async fn a_batch_with_a_bad_crc_in_the_last_segment_cuts_the_log_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path(), unsynced(), 4).await;
    let log_file = last_log(dir.path());
    let mut bytes = std::fs::read(&log_file).expect("read log");
    let size = batch(2, 0).len();
    bytes[size + 70] ^= 0x40; // inside the second batch's records
    std::fs::write(&log_file, &bytes).expect("write log");

    let (log, report) = open(dir.path(), unsynced());
    assert_eq!(report.truncated_bytes, 3 * size as u64);
    let p = log.partition("t", 0).expect("partition");
    assert_eq!(p.high_watermark(), 2);
    let read = p.read(0, 1 << 20).expect("read");
    assert_eq!(records(&read.records).len(), 2);
}

#[tokio::test]
async fn missing_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        index_interval_bytes: 150,
        ..small_segments(600)
    };
    let appended = fill(dir.path(), config.clone(), 20).await;
    let pdir = dir.path().join("t-0");
    let segments = files(&pdir, "log").len();
    assert!(segments >= 3);
    let index_bytes: Vec<Vec<u8>> = files(&pdir, "index")
        .iter()
        .chain(files(&pdir, "timeindex").iter())
        .map(|f| std::fs::read(f).expect("read index"))
        .collect();
    assert!(
        index_bytes.iter().any(|b| !b.is_empty()),
        "something was indexed"
    );
    for f in files(&pdir, "index")
        .iter()
        .chain(files(&pdir, "timeindex").iter())
    {
        std::fs::remove_file(f).expect("remove index");
    }

    let (log, report) = open(dir.path(), config);
    assert_eq!(report.rebuilt_indexes, segments);
    assert_eq!(report.truncated_bytes, 0);
    let rebuilt: Vec<Vec<u8>> = files(&pdir, "index")
        .iter()
        .chain(files(&pdir, "timeindex").iter())
        .map(|f| std::fs::read(f).expect("read index"))
        .collect();
    assert_eq!(rebuilt, index_bytes, "the same files as the writer made");
    let p = log.partition("t", 0).expect("partition");
    for &(base, last) in &appended {
        let read = p.read(last, 1).expect("read");
        assert_eq!(ranges(&read.records), vec![(base, last)]);
    }
    assert_eq!(
        p.offset_for_timestamp(1_010).expect("lookup"),
        Some((appended[10].0, 1_010))
    );
}

#[tokio::test]
async fn a_damaged_index_file_is_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        index_interval_bytes: 150,
        ..small_segments(600)
    };
    let appended = fill(dir.path(), config.clone(), 20).await;
    let pdir = dir.path().join("t-0");
    let index = files(&pdir, "index").remove(0);
    let good = std::fs::read(&index).expect("read index");
    assert!(good.len() >= 8);
    std::fs::write(&index, [0xffu8; 13]).expect("damage index");

    let (log, report) = open(dir.path(), config);
    assert_eq!(report.rebuilt_indexes, 1);
    assert_eq!(std::fs::read(&index).expect("read index"), good);
    let p = log.partition("t", 0).expect("partition");
    let read = p.read(appended[1].0, 1).expect("read");
    assert_eq!(ranges(&read.records), vec![appended[1]]);
}

#[tokio::test]
async fn damage_in_an_older_segment_drops_the_later_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_segments(600);
    let appended = fill(dir.path(), config.clone(), 20).await;
    let pdir = dir.path().join("t-0");
    let logs = files(&pdir, "log");
    assert!(logs.len() >= 3);
    let sizes: Vec<u64> = logs
        .iter()
        .map(|f| std::fs::metadata(f).expect("stat").len())
        .collect();
    // Tear the second segment's last batch.
    OpenOptions::new()
        .write(true)
        .open(&logs[1])
        .expect("open")
        .set_len(sizes[1] - 1)
        .expect("tear");

    let (log, report) = open(dir.path(), config);
    let batch_len = batch(2, 0).len() as u64;
    let later: u64 = sizes[2..].iter().sum();
    assert_eq!(report.truncated_bytes, batch_len - 1 + later);
    assert_eq!(files(&pdir, "log").len(), 2);
    let p = log.partition("t", 0).expect("partition");
    let per_segment = (sizes[0] / batch_len) as usize;
    let kept = 2 * per_segment - 1;
    assert_eq!(p.high_watermark(), appended[kept - 1].1 + 1);
    assert_eq!(append(&p, batch(1, 0)).await.0, appended[kept].0);
}

#[tokio::test]
async fn a_partition_directory_without_segments_starts_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("t-3")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("not a partition")).expect("mkdir");
    let (log, report) = open(dir.path(), unsynced());
    assert_eq!(report.partitions, 1);
    assert_eq!(log.partitions(), vec![("t".to_string(), 3)]);
    let p = log.partition("t", 3).expect("partition");
    assert_eq!(append(&p, batch(1, 0)).await, (0, 0));
}

#[tokio::test]
async fn an_older_segment_without_its_index_has_its_crcs_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_segments(600);
    let appended = fill(dir.path(), config.clone(), 20).await;
    let pdir = dir.path().join("t-0");
    let logs = files(&pdir, "log");
    let total: u64 = logs
        .iter()
        .map(|f| std::fs::metadata(f).expect("stat").len())
        .sum();
    let size = batch(2, 0).len();
    let mut first = std::fs::read(&logs[0]).expect("read");
    first[size + 70] ^= 0x01; // inside the second batch's records: only the CRC can tell
    std::fs::write(&logs[0], &first).expect("write");
    std::fs::remove_file(files(&pdir, "index").remove(0)).expect("remove index");

    let (log, report) = open(dir.path(), config);
    assert_eq!(report.truncated_bytes, total - size as u64);
    assert_eq!(files(&pdir, "log").len(), 1);
    let p = log.partition("t", 0).expect("partition");
    assert_eq!(p.high_watermark(), appended[0].1 + 1);
}
