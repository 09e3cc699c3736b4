//! A segment's sparse offset index and time index, in memory, and their file encoding. Pure.
//!
//! Both are built by [`IndexBuilder`] from the sequence of batches alone (never from how they
//! were grouped into writes), so recovery rebuilds exactly what the writer built:
//!
//! - offset entry `(rel, pos)`: the batch with base offset `segment base + rel` starts at byte
//!   `pos` of the `.log`. One is added for the first batch starting at least
//!   `index_interval_bytes` after the previous entry (or after byte 0).
//! - time entry `(T, rel)`, added together with an offset entry when the segment's running
//!   maximum timestamp has grown since the last time entry: every batch before relative offset
//!   `rel` has `maxTimestamp <= T` (and one has exactly `T`). So the batches with a timestamp
//!   at or after `ts` start at or after the `rel` of the last entry whose `T < ts`.

/// Bytes per `.index` entry: relative offset u32 BE, position u32 BE.
pub(crate) const OFFSET_ENTRY_LEN: usize = 8;
/// Bytes per `.timeindex` entry: timestamp i64 BE, relative offset u32 BE.
pub(crate) const TIME_ENTRY_LEN: usize = 12;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SegmentIndex {
    /// `(relative offset, position)`, both strictly increasing.
    pub offsets: Vec<(u32, u32)>,
    /// `(timestamp, relative offset)`, timestamps strictly and offsets weakly increasing.
    pub times: Vec<(i64, u32)>,
}

impl SegmentIndex {
    /// The entry with the largest relative offset `<= rel`, or `(0, 0)`: where to start looking
    /// for the batch containing `rel`.
    pub fn lookup(&self, rel: u32) -> (u32, u32) {
        let i = self.offsets.partition_point(|&(r, _)| r <= rel);
        if i == 0 {
            (0, 0)
        } else {
            self.offsets[i - 1]
        }
    }

    /// The relative offset from which batches may have a timestamp `>= ts` (0 if any may).
    pub fn time_lookup(&self, ts: i64) -> u32 {
        let i = self.times.partition_point(|&(t, _)| t < ts);
        if i == 0 {
            0
        } else {
            self.times[i - 1].1
        }
    }

    pub fn encode_offsets(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.offsets.len() * OFFSET_ENTRY_LEN);
        for &(rel, pos) in &self.offsets {
            out.extend_from_slice(&rel.to_be_bytes());
            out.extend_from_slice(&pos.to_be_bytes());
        }
        out
    }

    pub fn encode_times(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.times.len() * TIME_ENTRY_LEN);
        for &(ts, rel) in &self.times {
            out.extend_from_slice(&ts.to_be_bytes());
            out.extend_from_slice(&rel.to_be_bytes());
        }
        out
    }

    /// Decodes both files and checks what can be checked without the log: whole entries,
    /// increasing, positions inside a log of `log_len` bytes. Returns what is wrong otherwise.
    pub fn decode(offsets: &[u8], times: &[u8], log_len: u64) -> Result<SegmentIndex, String> {
        if !offsets.len().is_multiple_of(OFFSET_ENTRY_LEN) {
            return Err(format!(
                "offset index has {} bytes, not a multiple of {OFFSET_ENTRY_LEN}",
                offsets.len()
            ));
        }
        if !times.len().is_multiple_of(TIME_ENTRY_LEN) {
            return Err(format!(
                "time index has {} bytes, not a multiple of {TIME_ENTRY_LEN}",
                times.len()
            ));
        }
        let u32_at =
            |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let index = SegmentIndex {
            offsets: offsets
                .chunks_exact(OFFSET_ENTRY_LEN)
                .map(|e| (u32_at(e, 0), u32_at(e, 4)))
                .collect(),
            times: times
                .chunks_exact(TIME_ENTRY_LEN)
                .map(|e| {
                    let mut ts = [0u8; 8];
                    ts.copy_from_slice(&e[..8]);
                    (i64::from_be_bytes(ts), u32_at(e, 8))
                })
                .collect(),
        };
        let increasing = index
            .offsets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        if !increasing || index.offsets.first().is_some_and(|e| e.1 == 0) {
            return Err("offset index entries are not increasing".into());
        }
        if index
            .offsets
            .last()
            .is_some_and(|&(_, pos)| u64::from(pos) >= log_len)
        {
            return Err(format!(
                "offset index points past the log's {log_len} bytes"
            ));
        }
        let times_increasing = index
            .times
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
        if !times_increasing {
            return Err("time index entries are not increasing".into());
        }
        let last_rel = index.offsets.last().map_or(0, |e| e.0);
        if index.times.last().is_some_and(|e| e.1 > last_rel) {
            return Err("time index points past the offset index".into());
        }
        Ok(index)
    }
}

/// Adds index entries as batches are appended to a segment (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct IndexBuilder {
    interval: u64,
    last_entry_pos: u64,
    /// The timestamp of the last time entry; -1 before any.
    last_time_entry: i64,
    /// Largest `maxTimestamp` of the batches so far; -1 before any.
    pub max_timestamp: i64,
}

impl IndexBuilder {
    pub fn new(interval: u64) -> Self {
        IndexBuilder {
            interval,
            last_entry_pos: 0,
            last_time_entry: -1,
            max_timestamp: -1,
        }
    }

    /// Accounts for a batch with relative offset `rel` starting at `pos`, pushing the entries
    /// due to `index` (which may hold only the entries since some point: the builder keeps
    /// what it needs of the earlier ones).
    pub fn on_batch(&mut self, index: &mut SegmentIndex, rel: u32, pos: u32, max_timestamp: i64) {
        let pos64 = u64::from(pos);
        if pos64 > 0 && pos64 >= self.last_entry_pos.saturating_add(self.interval) {
            index.offsets.push((rel, pos));
            self.last_entry_pos = pos64;
            if self.max_timestamp > self.last_time_entry {
                index.times.push((self.max_timestamp, rel));
                self.last_time_entry = self.max_timestamp;
            }
        }
        self.max_timestamp = self.max_timestamp.max(max_timestamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches of 100 bytes and 10 offsets each with the given max timestamps.
    fn build(timestamps: &[i64], interval: u64) -> (SegmentIndex, IndexBuilder) {
        let mut index = SegmentIndex::default();
        let mut builder = IndexBuilder::new(interval);
        for (i, &ts) in timestamps.iter().enumerate() {
            builder.on_batch(&mut index, i as u32 * 10, i as u32 * 100, ts);
        }
        (index, builder)
    }

    #[test]
    fn entries_every_interval_bytes() {
        let (index, builder) = build(&[5, 3, 9, 9, 7, 12, 1], 250);
        assert_eq!(index.offsets, vec![(30, 300), (60, 600)]);
        // Before rel 30 the maximum is 9, before rel 60 it is 12.
        assert_eq!(index.times, vec![(9, 30), (12, 60)]);
        assert_eq!(builder.max_timestamp, 12);
        assert_eq!(index.lookup(0), (0, 0));
        assert_eq!(index.lookup(29), (0, 0));
        assert_eq!(index.lookup(30), (30, 300));
        assert_eq!(index.lookup(1000), (60, 600));
        assert_eq!(index.time_lookup(9), 0);
        assert_eq!(index.time_lookup(10), 30);
        assert_eq!(index.time_lookup(13), 60);
    }

    #[test]
    fn no_time_entry_when_the_maximum_did_not_grow() {
        let (index, _) = build(&[9, 1, 1, 1, 1], 100);
        assert_eq!(index.offsets.len(), 4);
        assert_eq!(index.times, vec![(9, 10)]);
    }

    #[test]
    fn interval_zero_indexes_every_batch_but_the_first() {
        let (index, _) = build(&[1, 2, 3], 0);
        assert_eq!(index.offsets, vec![(10, 100), (20, 200)]);
        assert_eq!(index.times, vec![(1, 10), (2, 20)]);
    }

    #[test]
    fn encode_decode_round_trip_and_damage() {
        let (index, _) = build(&[5, 3, 9, 9, 7, 12, 1, 20, 30], 150);
        let (o, t) = (index.encode_offsets(), index.encode_times());
        assert_eq!(SegmentIndex::decode(&o, &t, 900), Ok(index.clone()));
        assert!(SegmentIndex::decode(&o[..o.len() - 1], &t, 900).is_err());
        assert!(SegmentIndex::decode(&o, &t[..t.len() - 2], 900).is_err());
        assert!(
            SegmentIndex::decode(&o, &t, 700).is_err(),
            "points past the log"
        );
        let mut swapped = o.clone();
        swapped.rotate_left(8);
        assert!(SegmentIndex::decode(&swapped, &t, 900).is_err());
        assert!(SegmentIndex::decode(&[0; 16], &[], 900).is_err(), "zeros");
        assert_eq!(
            SegmentIndex::decode(&[], &[], 0),
            Ok(SegmentIndex::default())
        );
    }
}
