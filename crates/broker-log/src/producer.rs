//! Idempotent producers, per partition, as Kafka does it: for every producer id the current
//! epoch and the last [`CACHED_BATCHES`] batches' sequence ranges and offsets. Pure: the
//! partition calls it under its lock before queuing a write, and recovery replays the log's
//! batch headers into it.
//!
//! Rules for a batch with a producer id and a sequence (checked in this order):
//! - an epoch lower than the producer's: `InvalidProducerEpoch`;
//! - same epoch and the same `(firstSeq, lastSeq)` as a cached batch: a duplicate (a retry);
//!   nothing is written and the original offsets are returned;
//! - same epoch: `firstSeq` must follow the last batch's `lastSeq` (wrapping at `i32::MAX`);
//! - a higher epoch must start at sequence 0;
//! - a producer id never seen (or whose batches were all deleted by retention before a
//!   restart) is accepted at any sequence, like Kafka.

use std::collections::{HashMap, VecDeque};

use crate::batch::{next_sequence_by, Header};
use crate::AppendError;

/// How many recent batches per producer are remembered for duplicate detection (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence).
pub(crate) const CACHED_BATCHES: usize = 5;

/// A remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CachedBatch {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, Default)]
struct Producer {
    epoch: i16,
    batches: VecDeque<CachedBatch>,
}

impl Producer {
    /// Remembers `batch` under `epoch` (a newer epoch forgets the older one's batches).
    fn push(&mut self, epoch: i16, batch: CachedBatch) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == CACHED_BATCHES {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
    }
}

/// What to do with an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write it.
    Append,
    /// A retry of this batch, already in the log (or queued for it).
    Duplicate(CachedBatch),
}

/// One batch of an append, with the offsets it would get.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub header: Header,
    pub base_offset: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Producers {
    producers: HashMap<i64, Producer>,
}

impl Producers {
    /// Checks the batches of one append in order (a later batch is checked against the state
    /// the earlier ones leave) and, if all of them are new and in sequence, remembers them.
    /// If any is a duplicate, the whole append is answered as that duplicate and nothing is
    /// remembered, as Kafka does.
    pub fn check_and_record(&mut self, batches: &[Candidate]) -> Result<Verdict, AppendError> {
        let idempotent = batches.iter().filter(|c| c.header.is_idempotent());
        // Almost always one batch from one producer: stage copies of what changes.
        let mut staged: Vec<(i64, Producer)> = Vec::new();
        for candidate in idempotent {
            let h = &candidate.header;
            let slot = match staged.iter().position(|(id, _)| *id == h.producer_id) {
                Some(i) => i,
                None => {
                    let known = self.producers.get(&h.producer_id).cloned();
                    staged.push((
                        h.producer_id,
                        known.unwrap_or(Producer {
                            epoch: -1,
                            batches: VecDeque::new(),
                        }),
                    ));
                    staged.len() - 1
                }
            };
            let producer = &mut staged[slot].1;
            if let Some(duplicate) = check(producer, h)? {
                return Ok(Verdict::Duplicate(duplicate));
            }
            producer.push(
                h.producer_epoch,
                CachedBatch {
                    first_seq: h.base_sequence,
                    last_seq: h.last_sequence(),
                    base_offset: candidate.base_offset,
                    last_offset: candidate.base_offset + i64::from(h.last_offset_delta),
                },
            );
        }
        for (id, producer) in staged {
            self.producers.insert(id, producer);
        }
        Ok(Verdict::Append)
    }

    /// Replays a stored batch (recovery): no checks, the log is the truth.
    pub fn replay(&mut self, header: &Header) {
        if !header.is_idempotent() {
            return;
        }
        self.producers
            .entry(header.producer_id)
            .or_insert_with(|| Producer {
                epoch: header.producer_epoch,
                batches: VecDeque::new(),
            })
            .push(
                header.producer_epoch,
                CachedBatch {
                    first_seq: header.base_sequence,
                    last_seq: header.last_sequence(),
                    base_offset: header.base_offset,
                    last_offset: header.last_offset(),
                },
            );
    }

    #[cfg(test)]
    fn epoch(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|p| p.epoch)
    }
}

/// `Some(original)` for a duplicate, `None` for a batch to append, or why it is refused.
fn check(producer: &Producer, h: &Header) -> Result<Option<CachedBatch>, AppendError> {
    let Some(last) = producer.batches.back() else {
        return Ok(None); // unknown producer: any epoch, any sequence
    };
    if h.producer_epoch < producer.epoch {
        return Err(AppendError::InvalidProducerEpoch {
            producer_id: h.producer_id,
            epoch: h.producer_epoch,
            current: producer.epoch,
        });
    }
    if h.producer_epoch > producer.epoch {
        if h.base_sequence != 0 {
            return Err(AppendError::OutOfOrderSequence {
                producer_id: h.producer_id,
                expected: 0,
                got: h.base_sequence,
            });
        }
        return Ok(None);
    }
    let last_seq = h.last_sequence();
    if let Some(original) = producer
        .batches
        .iter()
        .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
    {
        return Ok(Some(*original));
    }
    let expected = next_sequence_by(last.last_seq, 1);
    if h.base_sequence != expected {
        return Err(AppendError::OutOfOrderSequence {
            producer_id: h.producer_id,
            expected,
            got: h.base_sequence,
        });
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::producer_batch;

    fn candidate(pid: i64, epoch: i16, seq: i32, count: usize, base_offset: i64) -> Candidate {
        let bytes = producer_batch(pid, epoch, seq, count, 0);
        let mut header = Header::parse(&bytes).expect("header");
        header.base_offset = base_offset;
        Candidate {
            header,
            base_offset,
        }
    }

    fn one(p: &mut Producers, c: Candidate) -> Result<Verdict, AppendError> {
        p.check_and_record(&[c])
    }

    #[test]
    fn in_sequence_then_duplicate_then_gap() {
        let mut p = Producers::default();
        assert_eq!(one(&mut p, candidate(1, 0, 0, 3, 0)), Ok(Verdict::Append));
        assert_eq!(one(&mut p, candidate(1, 0, 3, 2, 3)), Ok(Verdict::Append));
        let dup = one(&mut p, candidate(1, 0, 0, 3, 99));
        assert_eq!(
            dup,
            Ok(Verdict::Duplicate(CachedBatch {
                first_seq: 0,
                last_seq: 2,
                base_offset: 0,
                last_offset: 2
            }))
        );
        assert_eq!(
            one(&mut p, candidate(1, 0, 7, 1, 5)),
            Err(AppendError::OutOfOrderSequence {
                producer_id: 1,
                expected: 5,
                got: 7
            })
        );
        // A batch overlapping but not equal to a cached one is out of order, not a duplicate.
        assert!(matches!(
            one(&mut p, candidate(1, 0, 1, 2, 5)),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
    }

    #[test]
    fn only_the_last_five_batches_are_duplicates() {
        let mut p = Producers::default();
        for i in 0..7 {
            assert_eq!(
                one(&mut p, candidate(1, 0, i, 1, i64::from(i))),
                Ok(Verdict::Append)
            );
        }
        assert!(matches!(
            one(&mut p, candidate(1, 0, 2, 1, 9)),
            Ok(Verdict::Duplicate(_))
        ));
        assert!(matches!(
            one(&mut p, candidate(1, 0, 1, 1, 9)),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
    }

    #[test]
    fn epochs() {
        let mut p = Producers::default();
        assert_eq!(one(&mut p, candidate(1, 3, 10, 1, 0)), Ok(Verdict::Append));
        assert_eq!(
            one(&mut p, candidate(1, 2, 11, 1, 1)),
            Err(AppendError::InvalidProducerEpoch {
                producer_id: 1,
                epoch: 2,
                current: 3
            })
        );
        assert_eq!(
            one(&mut p, candidate(1, 4, 5, 1, 1)),
            Err(AppendError::OutOfOrderSequence {
                producer_id: 1,
                expected: 0,
                got: 5
            })
        );
        assert_eq!(one(&mut p, candidate(1, 4, 0, 1, 1)), Ok(Verdict::Append));
        assert_eq!(p.epoch(1), Some(4));
        // The old epoch's batch is no longer a duplicate: it is fenced.
        assert!(matches!(
            one(&mut p, candidate(1, 3, 10, 1, 2)),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
    }

    #[test]
    fn sequence_wraps() {
        let mut p = Producers::default();
        assert_eq!(
            one(&mut p, candidate(1, 0, i32::MAX - 1, 2, 0)),
            Ok(Verdict::Append)
        );
        assert_eq!(one(&mut p, candidate(1, 0, 0, 1, 2)), Ok(Verdict::Append));
    }

    #[test]
    fn one_append_with_several_batches_is_checked_in_order_and_all_or_nothing() {
        let mut p = Producers::default();
        let ok = [candidate(1, 0, 0, 2, 0), candidate(1, 0, 2, 2, 2)];
        assert_eq!(p.check_and_record(&ok), Ok(Verdict::Append));
        let bad = [candidate(2, 0, 0, 1, 4), candidate(1, 0, 9, 1, 5)];
        assert!(p.check_and_record(&bad).is_err());
        assert_eq!(
            p.epoch(2),
            None,
            "nothing of a refused append is remembered"
        );
    }

    #[test]
    fn replay_rebuilds_the_same_state() {
        let mut p = Producers::default();
        for c in [candidate(1, 0, 0, 2, 0), candidate(1, 1, 0, 2, 2)] {
            p.replay(&c.header);
        }
        assert!(matches!(
            one(&mut p, candidate(1, 1, 0, 2, 9)),
            Ok(Verdict::Duplicate(CachedBatch { base_offset: 2, .. }))
        ));
        assert_eq!(one(&mut p, candidate(1, 1, 2, 1, 4)), Ok(Verdict::Append));
    }
}
