//! Test helpers (cargo feature `testing`): encode RecordBatch v2 the way a Kafka client does,
//! and decode what [`crate::Partition::read`] returns. Panics on malformed input: for tests
//! only.
//!
//! ```
//! use tern_broker_log::testing::{batch, records, BatchBuilder};
//! let three = batch(3, 1_700_000_000_000); // 3 records, values "value-0".."value-2"
//! let idempotent = BatchBuilder::new(1_700_000_000_000)
//!     .producer(1000, 0, 0)
//!     .record(Some(b"key"), b"value")
//!     .build();
//! assert_eq!(records(&three).len(), 3);
//! # let _ = idempotent;
//! ```

use bytes::Bytes;

use crate::batch::{compute_crc, Header, HEADER_LEN, LOG_OVERHEAD};

/// A batch of `count` records (keys null, values `value-0`, `value-1`, ...), all stamped
/// `timestamp_ms` (CreateTime), no producer id.
pub fn batch(count: usize, timestamp_ms: i64) -> Bytes {
    let mut builder = BatchBuilder::new(timestamp_ms);
    for i in 0..count {
        builder = builder.record(None, format!("value-{i}").as_bytes());
    }
    builder.build()
}

/// A batch with `count` records whose values are `value_len` bytes each (keys null).
pub fn sized_batch(count: usize, value_len: usize, timestamp_ms: i64) -> Bytes {
    BatchBuilder::new(timestamp_ms)
        .records(count, value_len)
        .build()
}

/// An idempotent producer's batch of `count` records starting at `base_sequence`.
pub fn producer_batch(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    count: usize,
    timestamp_ms: i64,
) -> Bytes {
    BatchBuilder::new(timestamp_ms)
        .producer(producer_id, epoch, base_sequence)
        .records(count, 8)
        .build()
}

struct TestRecord {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// Builds one RecordBatch v2 with a correct CRC.
pub struct BatchBuilder {
    base_timestamp: i64,
    attributes: i16,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    leader_epoch: i32,
    records: Vec<TestRecord>,
}

impl BatchBuilder {
    /// An empty batch (add records before `build`) with `baseTimestamp` = `base_timestamp_ms`.
    pub fn new(base_timestamp_ms: i64) -> Self {
        BatchBuilder {
            base_timestamp: base_timestamp_ms,
            attributes: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            leader_epoch: -1,
            records: Vec::new(),
        }
    }

    /// Idempotent producer fields.
    pub fn producer(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets attributes bit 3: the broker stamps `maxTimestamp` with its clock.
    pub fn log_append_time(mut self) -> Self {
        self.attributes |= 0x08;
        self
    }

    /// Sets the compression bits (0-2) without compressing anything: the log stores batches
    /// as they come, so this is enough to test that it does.
    pub fn compression(mut self, codec: i16) -> Self {
        self.attributes = (self.attributes & !0x07) | (codec & 0x07);
        self
    }

    /// A record stamped with the batch's base timestamp.
    pub fn record(self, key: Option<&[u8]>, value: &[u8]) -> Self {
        let ts = self.base_timestamp;
        self.record_at(ts, key, value)
    }

    /// A record with its own timestamp.
    pub fn record_at(mut self, timestamp_ms: i64, key: Option<&[u8]>, value: &[u8]) -> Self {
        self.records.push(TestRecord {
            timestamp: timestamp_ms,
            key: key.map(<[u8]>::to_vec),
            value: Some(value.to_vec()),
        });
        self
    }

    /// `count` records with `value_len`-byte values (`'a' + i % 26` repeated).
    pub fn records(mut self, count: usize, value_len: usize) -> Self {
        for i in 0..count {
            let value = vec![b'a' + (i % 26) as u8; value_len];
            self = self.record(None, &value);
        }
        self
    }

    pub fn build(self) -> Bytes {
        assert!(
            !self.records.is_empty(),
            "a batch needs at least one record"
        );
        let max_timestamp = self
            .records
            .iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(self.base_timestamp);
        let mut body = Vec::new();
        for (i, record) in self.records.iter().enumerate() {
            let mut r = Vec::new();
            r.push(0); // attributes
            put_varint(&mut r, record.timestamp - self.base_timestamp);
            put_varint(&mut r, i as i64);
            put_bytes(&mut r, record.key.as_deref());
            put_bytes(&mut r, record.value.as_deref());
            put_varint(&mut r, 0); // headers
            put_varint(&mut body, r.len() as i64);
            body.extend_from_slice(&r);
        }
        let count = self.records.len() as i32;
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&0i64.to_be_bytes());
        out.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
        out.extend_from_slice(&self.leader_epoch.to_be_bytes());
        out.push(2);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&self.attributes.to_be_bytes());
        out.extend_from_slice(&(count - 1).to_be_bytes());
        out.extend_from_slice(&self.base_timestamp.to_be_bytes());
        out.extend_from_slice(&max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&body);
        let crc = compute_crc(&out);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(out)
    }
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if raw < 0x80 {
            out.push(raw as u8);
            return;
        }
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

fn get_varint(b: &[u8], at: &mut usize) -> i64 {
    let mut raw: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = b[*at];
        *at += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (raw >> 1) as i64 ^ -((raw & 1) as i64);
        }
        shift += 7;
    }
}

fn get_bytes(b: &[u8], at: &mut usize) -> Option<Vec<u8>> {
    let len = get_varint(b, at);
    if len < 0 {
        return None;
    }
    let v = b[*at..*at + len as usize].to_vec();
    *at += len as usize;
    Some(v)
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// The fixed fields of each batch in `bytes` (back-to-back batches, e.g. a read's records):
/// `(base_offset, last_offset, max_timestamp)`.
pub fn batch_offsets(bytes: &[u8]) -> Vec<(i64, i64, i64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let h = Header::parse(&bytes[at..]).expect("whole batch header");
        out.push((h.base_offset, h.last_offset(), h.max_timestamp));
        at += h.size();
    }
    out
}

/// Every record of the (uncompressed) batches in `bytes`, with absolute offsets.
/// LogAppendTime batches report `maxTimestamp` for every record, as consumers see it.
pub fn records(bytes: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let h = Header::parse(&bytes[start..]).expect("whole batch header");
        let batch = &bytes[start..start + h.size()];
        let mut at = HEADER_LEN;
        for _ in 0..h.record_count {
            let len = get_varint(batch, &mut at) as usize;
            let next = at + len;
            at += 1;
            let ts_delta = get_varint(batch, &mut at);
            let offset_delta = get_varint(batch, &mut at);
            let key = get_bytes(batch, &mut at);
            let value = get_bytes(batch, &mut at);
            out.push(Record {
                offset: h.base_offset + offset_delta,
                timestamp: if h.is_log_append_time() {
                    h.max_timestamp
                } else {
                    h.base_timestamp + ts_delta
                },
                key,
                value,
            });
            at = next;
        }
        start += h.size();
    }
    out
}

/// The offsets of every record in `bytes`.
pub fn offsets(bytes: &[u8]) -> Vec<i64> {
    records(bytes).iter().map(|r| r.offset).collect()
}
