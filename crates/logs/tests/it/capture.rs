//! Capturing a replica's pipe.

use std::time::{Duration, Instant, SystemTime};

use tern_logs::{capture, read, LogStore, Query, CUT_MARKER, MAX_LINE_BYTES};
use tokio::io::AsyncWriteExt;

use crate::*;

#[tokio::test]
async fn lines_crlf_invalid_utf8_and_a_partial_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("s").unwrap();
    let before = SystemTime::now();
    let input: &[u8] = b"one\r\ntwo\n\n\xff bad \xc3(\nno newline at the end";
    capture(log, "s-1".into(), ERR, input).await.unwrap();
    let got = read(dir.path(), &Query::default()).unwrap();
    let texts: Vec<&str> = got.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(
        texts,
        [
            "one",
            "two",
            "",
            "\u{fffd} bad \u{fffd}(",
            "no newline at the end"
        ]
    );
    assert!(got.iter().all(|r| r.stream == ERR
        && r.replica == "s-1"
        && r.ts >= before - Duration::from_millis(1)));
}

#[tokio::test]
async fn a_long_line_is_cut_without_holding_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("s").unwrap();
    let mut input = vec![b'z'; 300_000];
    input.extend_from_slice(b"\nnext\n");
    capture(log, "s-1".into(), OUT, &input[..]).await.unwrap();
    let got = read(dir.path(), &Query::default()).unwrap();
    assert_eq!(got.len(), 2);
    let marker = format!("{CUT_MARKER}300000 bytes]");
    assert_eq!(got[0].line.len(), MAX_LINE_BYTES + marker.len());
    assert!(got[0].line.ends_with(&marker));
    assert_eq!(got[1].line, "next");
}

#[tokio::test]
async fn lines_are_stored_as_they_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::new(dir.path().to_owned(), 1 << 20);
    let log = store.writer("s").unwrap();
    let (mut writer, reader) = tokio::io::duplex(64);
    let task = tokio::spawn(capture(log, "s-1".into(), OUT, reader));
    writer.write_all(b"first\nsec").await.unwrap();
    // Stored before the pipe closes (polled: the capture task runs on its own time).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = read(dir.path(), &Query::default()).unwrap();
        if got.len() == 1 {
            assert_eq!(got[0].line, "first");
            break;
        }
        assert!(Instant::now() < deadline, "no line stored: {got:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.write_all(b"ond").await.unwrap();
    drop(writer);
    task.await.unwrap().unwrap();
    let got = read(dir.path(), &Query::default()).unwrap();
    let texts: Vec<&str> = got.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(texts, ["first", "second"]);
    assert!(got[0].ts <= got[1].ts);
}
