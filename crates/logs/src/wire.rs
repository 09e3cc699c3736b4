//! The stored line format (see the crate docs): one JSON object per line. Explicit wire
//! types, so renaming a field of [`Record`] does not change the files.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{Record, Stream, CUT_MARKER, MAX_LINE_BYTES};

#[derive(Serialize)]
struct StoredOut<'a> {
    ts: &'a str,
    replica: &'a str,
    stream: &'a str,
    line: &'a str,
}

#[derive(Deserialize)]
struct StoredIn {
    ts: String,
    replica: String,
    stream: String,
    line: String,
}

/// The stored form of one line, `\n` included.
pub(crate) fn encode(replica: &str, stream: Stream, ts: SystemTime, line: &str) -> Vec<u8> {
    let ts = format_ts(ts);
    let stored = StoredOut {
        ts: &ts,
        replica,
        stream: stream.as_str(),
        line,
    };
    let mut out = Vec::with_capacity(line.len() + replica.len() + 80);
    // Serializing strings into a Vec cannot fail.
    serde_json::to_writer(&mut out, &stored).expect("a JSON object of strings");
    out.push(b'\n');
    out
}

/// One stored line (without its `\n`) back as a record; `None` if it is not one.
pub(crate) fn decode(service: &str, bytes: &[u8]) -> Option<Record> {
    let stored: StoredIn = serde_json::from_slice(bytes).ok()?;
    Some(Record {
        ts: parse_ts(&stored.ts)?,
        service: service.to_owned(),
        replica: stored.replica,
        stream: Stream::parse(&stored.stream)?,
        line: stored.line,
    })
}

/// The text stored for a replica's line: `kept` is its first bytes, `total` its full
/// length (more than `kept.len()` when the reader already dropped the rest). Invalid
/// UTF-8 becomes U+FFFD; text longer than [`MAX_LINE_BYTES`] is cut at a character
/// boundary and marked.
pub(crate) fn clean_line(kept: &[u8], total: usize) -> String {
    let text = String::from_utf8_lossy(kept);
    if total <= kept.len() && text.len() <= MAX_LINE_BYTES {
        return text.into_owned();
    }
    let mut end = text.len().min(MAX_LINE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}{CUT_MARKER}{} bytes]",
        &text[..end],
        total.max(kept.len())
    )
}

/// RFC 3339 in UTC with microseconds. Times outside 1970..=9999 are clamped (the format
/// and `humantime` cover no more).
pub(crate) fn format_ts(ts: SystemTime) -> String {
    // 9999-12-31T23:59:59.999999Z
    let last = UNIX_EPOCH + Duration::new(253_402_300_799, 999_999_000);
    let ts = ts.clamp(UNIX_EPOCH, last);
    humantime::format_rfc3339_micros(ts).to_string()
}

pub(crate) fn parse_ts(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ts = UNIX_EPOCH + Duration::from_micros(1_795_620_001_123_456);
        let bytes = encode("a-1", Stream::Stderr, ts, "x \"y\"");
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "{\"ts\":\"2026-11-25T15:20:01.123456Z\",\"replica\":\"a-1\",\"stream\":\"stderr\",\
             \"line\":\"x \\\"y\\\"\"}\n"
        );
        let record = decode("a", &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(record.ts, ts);
        assert_eq!(
            (
                record.service.as_str(),
                record.replica.as_str(),
                record.stream
            ),
            ("a", "a-1", Stream::Stderr)
        );
        assert_eq!(record.line, "x \"y\"");
    }

    #[test]
    fn timestamps_out_of_range_are_clamped_not_a_panic() {
        assert_eq!(
            format_ts(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000000Z"
        );
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(format_ts(far), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn bad_stored_lines_are_none() {
        for bad in [
            &b""[..],
            b"{}",
            b"not json",
            b"{\"ts\":\"yesterday\",\"replica\":\"a\",\"stream\":\"stdout\",\"line\":\"\"}",
            b"{\"ts\":\"2026-11-25T15:20:01Z\",\"replica\":\"a\",\"stream\":\"stdin\",\"line\":\"\"}",
            b"{\"ts\":\"2026-11-25T15:20:01Z\",\"replica\":\"a\",\"stream\":\"stdout\"}",
        ] {
            assert!(decode("s", bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn lines_are_cleaned_and_cut_at_a_character_boundary() {
        assert_eq!(clean_line(b"ok \xff done", 9), "ok \u{fffd} done");
        // 'é' is two bytes, after one of 'x': MAX_LINE_BYTES falls inside one.
        let long = format!("x{}", "é".repeat(MAX_LINE_BYTES / 2 + 10));
        let cut = clean_line(long.as_bytes(), long.len());
        let expected_marker = format!("{CUT_MARKER}{} bytes]", long.len());
        assert!(
            cut.ends_with(&expected_marker),
            "{}",
            &cut[cut.len() - 40..]
        );
        let kept = &cut[..cut.len() - expected_marker.len()];
        assert_eq!(kept.len(), MAX_LINE_BYTES - 1);
        // The reader dropped bytes past what it kept: the marker names the full length.
        let cut = clean_line(b"abc", 100_000);
        assert_eq!(cut, format!("abc{CUT_MARKER}100000 bytes]"));
    }
}
