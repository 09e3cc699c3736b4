//! Kafka RecordBatch v2 headers: parsing, validation of what a client sends, the patches the
//! broker applies when it assigns offsets, and the record walk behind timestamp lookups.
//! Pure functions over byte slices (no I/O).
//!
//! ```text
//! offset  field                 type   covered by crc
//!      0  baseOffset            i64    no   (assigned by the broker)
//!      8  batchLength           i32    no   (bytes after this field)
//!     12  partitionLeaderEpoch  i32    no
//!     16  magic                 i8     no   (= 2; also byte 16 in the v0/v1 formats)
//!     17  crc                   u32    no   (CRC-32C of bytes 21..end)
//!     21  attributes            i16    yes  (bits 0-2 compression, bit 3 LogAppendTime)
//!     23  lastOffsetDelta       i32    yes
//!     27  baseTimestamp         i64    yes
//!     35  maxTimestamp          i64    yes
//!     43  producerId            i64    yes
//!     51  producerEpoch         i16    yes
//!     53  baseSequence          i32    yes
//!     57  recordCount           i32    yes
//!     61  records...
//! ```
//!
//! All integers are big-endian. Only the header is examined: records are neither decoded nor
//! checked one by one (the CRC covers them), and compressed batches are stored as they came.

use crate::AppendError;

/// Bytes of a batch header, up to and including `recordCount`.
pub(crate) const HEADER_LEN: usize = 61;
/// `baseOffset` + `batchLength`: the bytes a batch's `batchLength` does not count.
pub(crate) const LOG_OVERHEAD: usize = 12;
/// The smallest legal `batchLength` (a header without records).
const MIN_BATCH_LENGTH: usize = HEADER_LEN - LOG_OVERHEAD;
/// Bytes needed to know where a batch starts, how long it is and its last offset.
pub(crate) const OFFSETS_PREFIX_LEN: usize = LAST_OFFSET_DELTA + 4;

const BATCH_LENGTH: usize = 8;
const MAGIC: usize = 16;
const CRC: usize = 17;
pub(crate) const CRC_START: usize = 21;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;

const COMPRESSION_MASK: i16 = 0x07;
const LOG_APPEND_TIME: i16 = 0x08;

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// The fixed fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub base_offset: i64,
    pub batch_length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl Header {
    /// Parses the first [`HEADER_LEN`] bytes; `None` if there are fewer.
    pub fn parse(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_LEN {
            return None;
        }
        Some(Header {
            base_offset: be_i64(b, 0),
            batch_length: be_i32(b, BATCH_LENGTH),
            magic: b[MAGIC] as i8,
            crc: be_i32(b, CRC) as u32,
            attributes: be_i16(b, ATTRIBUTES),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(b, BASE_TIMESTAMP),
            max_timestamp: be_i64(b, MAX_TIMESTAMP),
            producer_id: be_i64(b, PRODUCER_ID),
            producer_epoch: be_i16(b, PRODUCER_EPOCH),
            base_sequence: be_i32(b, BASE_SEQUENCE),
            record_count: be_i32(b, RECORD_COUNT),
        })
    }

    /// The whole batch's size in bytes (0 or less than [`HEADER_LEN`] if `batchLength` is bad).
    pub fn size(&self) -> usize {
        usize::try_from(self.batch_length).map_or(0, |l| l + LOG_OVERHEAD)
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME != 0
    }

    pub fn is_compressed(&self) -> bool {
        self.attributes & COMPRESSION_MASK != 0
    }

    /// Whether the batch takes part in idempotence (a producer id and a sequence).
    pub fn is_idempotent(&self) -> bool {
        self.producer_id >= 0 && self.base_sequence >= 0
    }

    /// Sequence number of the batch's last record, wrapping at `i32::MAX` to 0 as Kafka does.
    pub fn last_sequence(&self) -> i32 {
        next_sequence_by(self.base_sequence, self.last_offset_delta)
    }

    /// The checks that do not depend on the bytes after the header: the structure every stored
    /// batch has. Recovery treats a batch failing them as the start of a torn tail.
    fn check_shape(&self) -> Result<(), AppendError> {
        if self.magic != 2 {
            return Err(AppendError::UnsupportedMagic(self.magic));
        }
        if self.size() < HEADER_LEN {
            return Err(AppendError::CorruptMessage(format!(
                "batchLength {} is less than the minimum {MIN_BATCH_LENGTH}",
                self.batch_length
            )));
        }
        if self.record_count <= 0 {
            return Err(AppendError::InvalidRecord(format!(
                "recordCount {} must be at least 1",
                self.record_count
            )));
        }
        if i64::from(self.last_offset_delta) != i64::from(self.record_count) - 1 {
            return Err(AppendError::InvalidRecord(format!(
                "lastOffsetDelta {} does not match recordCount {} (expected {})",
                self.last_offset_delta,
                self.record_count,
                i64::from(self.record_count) - 1
            )));
        }
        Ok(())
    }
}

/// `sequence + by`, wrapping past `i32::MAX` to 0.
pub(crate) fn next_sequence_by(sequence: i32, by: i32) -> i32 {
    if sequence > i32::MAX - by {
        by - (i32::MAX - sequence) - 1
    } else {
        sequence + by
    }
}

/// The CRC-32C a batch's header should carry.
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Parses the header at the start of `bytes` and checks what the header alone can show:
/// magic 2, a `batchLength` that covers the header, `lastOffsetDelta == recordCount - 1 >= 0`.
pub(crate) fn check_header(bytes: &[u8]) -> Result<Header, AppendError> {
    let header = Header::parse(bytes).ok_or_else(|| {
        AppendError::CorruptMessage(format!(
            "batch header is truncated: {} bytes, a header takes {HEADER_LEN}",
            bytes.len()
        ))
    })?;
    header.check_shape()?;
    Ok(header)
}

/// Checks the batch at the start of `bytes` (which may continue with more batches): complete,
/// magic 2, consistent lengths and counts, at most `max_size` bytes, correct CRC. Returns its
/// header.
pub(crate) fn check_batch(bytes: &[u8], max_size: usize) -> Result<Header, AppendError> {
    if bytes.len() > MAGIC && bytes[MAGIC] as i8 != 2 {
        return Err(AppendError::UnsupportedMagic(bytes[MAGIC] as i8));
    }
    let header = check_header(bytes)?;
    let size = header.size();
    if size > bytes.len() {
        return Err(AppendError::CorruptMessage(format!(
            "batchLength {} claims {size} bytes but only {} remain",
            header.batch_length,
            bytes.len()
        )));
    }
    if size > max_size {
        return Err(AppendError::RecordTooLarge {
            size,
            max: max_size,
        });
    }
    let crc = compute_crc(&bytes[..size]);
    if crc != header.crc {
        return Err(AppendError::CorruptMessage(format!(
            "CRC-32C {crc:#010x} of the batch does not match its header's {:#010x}",
            header.crc
        )));
    }
    Ok(header)
}

/// One batch of a produce request's `records`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming {
    /// Where it starts in `records`.
    pub start: usize,
    pub header: Header,
}

/// Splits a produce request's `records` into its batches, checking each with [`check_batch`].
/// Nothing is accepted unless every batch is; errors name the batch by position.
pub(crate) fn validate(records: &[u8], max_size: usize) -> Result<Vec<Incoming>, AppendError> {
    if records.is_empty() {
        return Err(AppendError::InvalidRecord("no record batches".into()));
    }
    let mut batches = Vec::with_capacity(1);
    let mut start = 0;
    while start < records.len() {
        let header = check_batch(&records[start..], max_size).map_err(|e| match e {
            AppendError::CorruptMessage(m) if start > 0 => {
                AppendError::CorruptMessage(format!("batch at byte {start}: {m}"))
            }
            AppendError::InvalidRecord(m) if start > 0 => {
                AppendError::InvalidRecord(format!("batch at byte {start}: {m}"))
            }
            other => other,
        })?;
        batches.push(Incoming { start, header });
        start += header.size();
    }
    Ok(batches)
}

/// Appends `batch` to `out` as stored: `baseOffset` set to `base_offset`, and with
/// `log_append_time` `maxTimestamp` set to it and the CRC recomputed.
pub(crate) fn write_patched(
    out: &mut Vec<u8>,
    batch: &[u8],
    base_offset: i64,
    log_append_time: Option<i64>,
) {
    let at = out.len();
    out.extend_from_slice(batch);
    let stored = &mut out[at..];
    stored[0..8].copy_from_slice(&base_offset.to_be_bytes());
    if let Some(time) = log_append_time {
        stored[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&time.to_be_bytes());
        let crc = compute_crc(stored);
        stored[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// `baseOffset`, `batchLength` and `lastOffsetDelta` from the first [`OFFSETS_PREFIX_LEN`]
/// bytes of a stored batch: `(base_offset, size, last_offset)`.
pub(crate) fn offsets_prefix(b: &[u8]) -> Option<(i64, usize, i64)> {
    if b.len() < OFFSETS_PREFIX_LEN {
        return None;
    }
    let base = be_i64(b, 0);
    let size = usize::try_from(be_i32(b, BATCH_LENGTH)).ok()? + LOG_OVERHEAD;
    Some((base, size, base + i64::from(be_i32(b, LAST_OFFSET_DELTA))))
}

fn varint(b: &[u8], at: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    None
}

/// In a whole stored, uncompressed batch, the first record whose timestamp is at least
/// `timestamp`: `(offset, timestamp)`. `None` if the records cannot be walked or none
/// qualifies.
pub(crate) fn first_record_at_or_after(batch: &[u8], timestamp: i64) -> Option<(i64, i64)> {
    let header = Header::parse(batch)?;
    let mut at = HEADER_LEN;
    for _ in 0..header.record_count {
        let len = usize::try_from(varint(batch, &mut at)?).ok()?;
        let next = at.checked_add(len)?;
        let mut field = at + 1; // attributes i8
        let ts_delta = varint(batch, &mut field)?;
        let offset_delta = varint(batch, &mut field)?;
        let ts = header.base_timestamp.wrapping_add(ts_delta);
        if ts >= timestamp {
            return Some((header.base_offset + offset_delta, ts));
        }
        if next > batch.len() {
            return None;
        }
        at = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{batch, BatchBuilder};

    #[test]
    fn parses_what_the_builder_writes() {
        let b = BatchBuilder::new(1_000)
            .producer(7, 2, 40)
            .record(None, b"a")
            .record(Some(b"k"), b"bc")
            .build();
        let h = check_batch(&b, 1 << 20).expect("valid");
        assert_eq!(h.size(), b.len());
        assert_eq!(h.record_count, 2);
        assert_eq!(h.last_offset_delta, 1);
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 2, 40)
        );
        assert_eq!(h.last_sequence(), 41);
        assert_eq!(h.base_timestamp, 1_000);
        assert!(!h.is_log_append_time());
        assert_eq!(offsets_prefix(&b), Some((0, b.len(), 1)));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(next_sequence_by(i32::MAX, 1), 0);
        assert_eq!(next_sequence_by(i32::MAX - 1, 3), 1);
        assert_eq!(next_sequence_by(5, 0), 5);
    }

    #[test]
    fn rejects_bad_magic_crc_lengths_and_counts() {
        let good = batch(3, 10);
        let mut bad = good.to_vec();
        bad[16] = 1;
        assert!(matches!(
            check_batch(&bad, 1 << 20),
            Err(AppendError::UnsupportedMagic(1))
        ));

        let mut bad = good.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(
            check_batch(&bad, 1 << 20),
            Err(AppendError::CorruptMessage(_))
        ));

        assert!(matches!(
            check_batch(&good[..good.len() - 1], 1 << 20),
            Err(AppendError::CorruptMessage(_))
        ));
        assert!(matches!(
            check_batch(&good[..40], 1 << 20),
            Err(AppendError::CorruptMessage(_))
        ));
        let mut bad = good.to_vec();
        bad[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            check_batch(&bad, 1 << 20),
            Err(AppendError::CorruptMessage(_))
        ));

        // lastOffsetDelta inconsistent with recordCount (CRC fixed up so only that is wrong).
        let mut bad = good.to_vec();
        bad[23..27].copy_from_slice(&5i32.to_be_bytes());
        let crc = compute_crc(&bad);
        bad[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            check_batch(&bad, 1 << 20),
            Err(AppendError::InvalidRecord(_))
        ));

        assert!(matches!(
            check_batch(&good, 50),
            Err(AppendError::RecordTooLarge { max: 50, .. })
        ));
    }

    #[test]
    fn validate_splits_back_to_back_batches_and_rejects_trailing_bytes() {
        let mut records = batch(2, 5).to_vec();
        records.extend_from_slice(&batch(3, 5));
        let batches = validate(&records, 1 << 20).expect("valid");
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].start, batch(2, 5).len());
        assert_eq!(batches[1].header.record_count, 3);

        records.extend_from_slice(&[0, 0, 0]);
        assert!(matches!(
            validate(&records, 1 << 20),
            Err(AppendError::CorruptMessage(_))
        ));
        assert!(matches!(
            validate(&[], 1 << 20),
            Err(AppendError::InvalidRecord(_))
        ));
    }

    #[test]
    fn patching_keeps_the_crc_valid() {
        let b = BatchBuilder::new(1_000)
            .log_append_time()
            .records(3, 8)
            .build();
        let mut out = Vec::new();
        write_patched(&mut out, &b, 42, Some(9_999));
        let h = check_batch(&out, 1 << 20).expect("still valid");
        assert_eq!((h.base_offset, h.max_timestamp), (42, 9_999));

        let b = batch(2, 4);
        let mut out = vec![1, 2, 3];
        write_patched(&mut out, &b, 7, None);
        let h = check_batch(&out[3..], 1 << 20).expect("still valid");
        assert_eq!(h.base_offset, 7);
    }

    #[test]
    fn finds_the_first_record_at_or_after_a_timestamp() {
        let b = BatchBuilder::new(1_000)
            .record_at(1_000, None, b"a")
            .record_at(1_010, None, b"b")
            .record_at(1_005, None, b"c")
            .record_at(1_020, None, b"d")
            .build();
        let mut stored = Vec::new();
        write_patched(&mut stored, &b, 100, None);
        assert_eq!(first_record_at_or_after(&stored, 0), Some((100, 1_000)));
        assert_eq!(first_record_at_or_after(&stored, 1_006), Some((101, 1_010)));
        assert_eq!(first_record_at_or_after(&stored, 1_011), Some((103, 1_020)));
        assert_eq!(first_record_at_or_after(&stored, 1_021), None);
        assert_eq!(first_record_at_or_after(&stored[..70], 1_011), None);
    }

    #[test]
    fn zigzag_varints() {
        let mut at = 0;
        assert_eq!(varint(&[0x01], &mut at), Some(-1));
        let mut at = 0;
        assert_eq!(varint(&[0xac, 0x02], &mut at), Some(150));
        assert_eq!(at, 2);
        let mut at = 0;
        assert_eq!(varint(&[0x80], &mut at), None);
    }
}
