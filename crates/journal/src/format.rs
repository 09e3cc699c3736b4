//! The on-disk format, as pure functions over byte slices (no I/O).
//!
//! All integers are little-endian; every checksum is CRC32C (Castagnoli).
//!
//! `snapshot` (replaced atomically, so it is always whole):
//!
//! ```text
//! magic "TERNSNAP" | version u32 | crc u32 | sequence u64 | length u64 | state (length bytes)
//! crc = CRC32C(sequence ‖ length ‖ state); `sequence` is the last record the state covers.
//! ```
//!
//! `log` (its header is written atomically; frames are appended):
//!
//! ```text
//! magic "TERNLOG\0" | version u32 | crc u32 | base u64 | frame*
//! crc = CRC32C(base); the i-th frame (from 0) holds the record with sequence base + i + 1.
//! frame = length u32 | crc u32 | payload (length bytes)
//! crc = CRC32C(length ‖ payload)
//! ```
//!
//! The frame checksum covers the length as well as the payload so that a run of zero bytes
//! (what a crash can leave after a file's size was extended but before its data reached the
//! disk) never reads as a valid empty record: CRC32C of an empty input is 0.

use std::ops::Range;

/// The largest record [`crate::Journal::append`] accepts. A frame whose length prefix is
/// larger is treated as the start of a torn tail.
pub const MAX_RECORD_LEN: usize = 64 << 20;

const VERSION: u32 = 1;
const SNAPSHOT_MAGIC: [u8; 8] = *b"TERNSNAP";
const LOG_MAGIC: [u8; 8] = *b"TERNLOG\0";
pub(crate) const SNAPSHOT_HEADER_LEN: usize = 32;
pub(crate) const LOG_HEADER_LEN: usize = 24;
pub(crate) const FRAME_HEADER_LEN: usize = 8;

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    Some(u32::from_le_bytes(bytes.get(at..end)?.try_into().ok()?))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    Some(u64::from_le_bytes(bytes.get(at..end)?.try_into().ok()?))
}

fn frame_crc(len: u32, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), payload)
}

/// Appends one frame holding `payload` (at most [`MAX_RECORD_LEN`] bytes, checked by the caller).
pub(crate) fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_RECORD_LEN);
    let len = payload.len() as u32;
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&frame_crc(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The whole frames at the start of a log body (the bytes after the header).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Payload ranges in `body`, in order.
    pub frames: Vec<Range<usize>>,
    /// Bytes of `body` taken by whole, valid frames; everything after is a torn tail.
    pub valid_len: usize,
}

/// Reads frames until the first one that is incomplete, fails its checksum or claims a length
/// above [`MAX_RECORD_LEN`]. Everything from there on is untrusted: a frame that fails its
/// checksum in the middle of the log means its length prefix may be wrong too, so the frame
/// boundaries after it cannot be found reliably.
pub(crate) fn scan_frames(body: &[u8]) -> Scan {
    let mut frames = Vec::new();
    let mut at = 0;
    while let (Some(len), Some(crc)) = (le_u32(body, at), le_u32(body, at + 4)) {
        let start = at + FRAME_HEADER_LEN;
        let Some(end) = start.checked_add(len as usize) else {
            break;
        };
        if len as usize > MAX_RECORD_LEN {
            break;
        }
        let Some(payload) = body.get(start..end) else {
            break;
        };
        if frame_crc(len, payload) != crc {
            break;
        }
        frames.push(start..end);
        at = end;
    }
    Scan {
        frames,
        valid_len: at,
    }
}

pub(crate) fn encode_log_header(base: u64) -> [u8; LOG_HEADER_LEN] {
    let mut out = [0u8; LOG_HEADER_LEN];
    out[0..8].copy_from_slice(&LOG_MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&crc32c::crc32c(&base.to_le_bytes()).to_le_bytes());
    out[16..24].copy_from_slice(&base.to_le_bytes());
    out
}

/// The log's base sequence, or what is wrong with its header.
pub(crate) fn decode_log_header(bytes: &[u8]) -> Result<u64, String> {
    check_magic_version(bytes, &LOG_MAGIC, LOG_HEADER_LEN)?;
    let crc = le_u32(bytes, 12).ok_or("short header")?;
    let base = le_u64(bytes, 16).ok_or("short header")?;
    if crc32c::crc32c(&base.to_le_bytes()) != crc {
        return Err("header checksum mismatch".into());
    }
    Ok(base)
}

/// The snapshot header for `state` covering records up to `sequence`; the file is this
/// followed by `state`.
pub(crate) fn encode_snapshot_header(sequence: u64, state: &[u8]) -> [u8; SNAPSHOT_HEADER_LEN] {
    let len = state.len() as u64;
    let mut out = [0u8; SNAPSHOT_HEADER_LEN];
    out[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&snapshot_crc(sequence, len, state).to_le_bytes());
    out[16..24].copy_from_slice(&sequence.to_le_bytes());
    out[24..32].copy_from_slice(&len.to_le_bytes());
    out
}

fn snapshot_crc(sequence: u64, len: u64, state: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&sequence.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &len.to_le_bytes());
    crc32c::crc32c_append(crc, state)
}

/// Splits a whole snapshot file into (covered sequence, state), or says what is wrong.
pub(crate) fn decode_snapshot(mut file: Vec<u8>) -> Result<(u64, Vec<u8>), String> {
    check_magic_version(&file, &SNAPSHOT_MAGIC, SNAPSHOT_HEADER_LEN)?;
    let crc = le_u32(&file, 12).ok_or("short header")?;
    let sequence = le_u64(&file, 16).ok_or("short header")?;
    let len = le_u64(&file, 24).ok_or("short header")?;
    let actual = (file.len() - SNAPSHOT_HEADER_LEN) as u64;
    if len != actual {
        return Err(format!(
            "header says {len} bytes of state, file holds {actual}"
        ));
    }
    if snapshot_crc(sequence, len, &file[SNAPSHOT_HEADER_LEN..]) != crc {
        return Err("checksum mismatch".into());
    }
    file.drain(..SNAPSHOT_HEADER_LEN);
    Ok((sequence, file))
}

fn check_magic_version(bytes: &[u8], magic: &[u8; 8], header_len: usize) -> Result<(), String> {
    if bytes.len() < header_len {
        return Err(format!(
            "{} bytes is shorter than the {header_len}-byte header",
            bytes.len()
        ));
    }
    if bytes[..8] != magic[..] {
        return Err(format!(
            "bad magic {:?}, expected {:?}",
            String::from_utf8_lossy(&bytes[..8]),
            String::from_utf8_lossy(magic)
        ));
    }
    match le_u32(bytes, 8) {
        Some(VERSION) => Ok(()),
        other => Err(format!(
            "unsupported format version {}, expected {VERSION}",
            other.unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(records: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for record in records {
            encode_frame(&mut out, record);
        }
        out
    }

    fn payloads<'a>(body: &'a [u8], scan: &Scan) -> Vec<&'a [u8]> {
        scan.frames.iter().map(|r| &body[r.clone()]).collect()
    }

    #[test]
    fn frames_round_trip_including_empty_records() {
        let body = frames(&[b"one", b"", b"three"]);
        let scan = scan_frames(&body);
        assert_eq!(payloads(&body, &scan), [&b"one"[..], b"", b"three"]);
        assert_eq!(scan.valid_len, body.len());
    }

    #[test]
    fn every_truncation_keeps_exactly_the_whole_frames() {
        let body = frames(&[b"alpha", b"beta"]);
        let first_end = FRAME_HEADER_LEN + 5;
        for cut in 0..body.len() {
            let scan = scan_frames(&body[..cut]);
            let expected = if cut >= first_end { 1 } else { 0 };
            assert_eq!(scan.frames.len(), expected, "cut at {cut}");
            assert_eq!(scan.valid_len, if expected == 1 { first_end } else { 0 });
        }
    }

    #[test]
    fn zero_filled_tail_is_not_a_record() {
        let mut body = frames(&[b"kept"]);
        let valid = body.len();
        body.extend_from_slice(&[0u8; 64]);
        let scan = scan_frames(&body);
        assert_eq!(scan.frames.len(), 1);
        assert_eq!(scan.valid_len, valid);
    }

    #[test]
    fn flipped_bit_stops_the_scan_at_that_frame() {
        let mut body = frames(&[b"a", b"bb", b"ccc"]);
        let second_payload = FRAME_HEADER_LEN + 1 + FRAME_HEADER_LEN;
        body[second_payload] ^= 0x01;
        let scan = scan_frames(&body);
        assert_eq!(payloads(&body, &scan), [&b"a"[..]]);
        assert_eq!(scan.valid_len, FRAME_HEADER_LEN + 1);
    }

    #[test]
    fn oversized_length_prefix_is_a_torn_tail() {
        let mut body = frames(&[b"x"]);
        body.extend_from_slice(&(MAX_RECORD_LEN as u32 + 1).to_le_bytes());
        body.extend_from_slice(&[0u8; 12]);
        let scan = scan_frames(&body);
        assert_eq!(scan.frames.len(), 1);
        assert_eq!(scan.valid_len, FRAME_HEADER_LEN + 1);
    }

    #[test]
    fn log_header_round_trip_and_damage() {
        let header = encode_log_header(42);
        assert_eq!(decode_log_header(&header), Ok(42));
        let mut bad = header;
        bad[20] ^= 1;
        assert_eq!(
            decode_log_header(&bad),
            Err("header checksum mismatch".into())
        );
        assert!(decode_log_header(&header[..10]).is_err_and(|e| e.contains("shorter")));
        let mut magic = header;
        magic[0] = b'X';
        assert!(decode_log_header(&magic).is_err_and(|e| e.contains("bad magic")));
        let mut version = header;
        version[8] = 9;
        assert!(decode_log_header(&version).is_err_and(|e| e.contains("version 9")));
    }

    #[test]
    fn snapshot_round_trip_and_damage() {
        let state = b"the state".to_vec();
        let mut file = encode_snapshot_header(7, &state).to_vec();
        file.extend_from_slice(&state);
        assert_eq!(decode_snapshot(file.clone()), Ok((7, state)));

        let mut flipped = file.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x80;
        assert_eq!(decode_snapshot(flipped), Err("checksum mismatch".into()));

        let mut short = file.clone();
        short.pop();
        assert!(decode_snapshot(short).is_err_and(|e| e.contains("file holds 8")));

        let mut sequence = file;
        sequence[16] = 8;
        assert_eq!(decode_snapshot(sequence), Err("checksum mismatch".into()));
    }
}
