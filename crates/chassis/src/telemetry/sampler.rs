//! Which new traces are recorded: at most `per_second` started by this replica each
//! second (a rate limit, like Jaeger's rate-limiting sampler), so a replica in
//! development records every call while one under load spends a bounded effort on
//! spans. A call that arrives with a sampled `traceparent` is always recorded (parent
//! based), so traces that started elsewhere stay whole. Unsampled calls still get trace
//! and span ids: they travel on and appear in log lines.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

pub(crate) struct Sampler {
    per_second: u64,
    epoch: Instant,
    /// The current second (since `epoch`) in the high 32 bits, the traces started in it
    /// in the low 32: one atomic word, so a decision is one load and one CAS.
    window: AtomicU64,
}

impl Sampler {
    /// `per_second = 0`: every new trace is recorded.
    pub(crate) fn new(per_second: u32) -> Self {
        Sampler {
            per_second: u64::from(per_second),
            epoch: Instant::now(),
            window: AtomicU64::new(0),
        }
    }

    /// Whether a new trace starting now is recorded.
    pub(crate) fn sample(&self) -> bool {
        self.sample_at(Instant::now())
    }

    /// [`Sampler::sample`] for a caller that has just read the clock.
    pub(crate) fn sample_at(&self, now: Instant) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let second = now.saturating_duration_since(self.epoch).as_secs() & 0xffff_ffff;
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (window, count) = (current >> 32, current & 0xffff_ffff);
            let next = if window == second {
                if count >= self.per_second {
                    return false;
                }
                current + 1
            } else {
                (second << 32) | 1
            };
            match self.window.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn at_most_the_limit_per_second() {
        let sampler = Sampler::new(3);
        let start = sampler.epoch;
        let taken = |at: Instant| (0..10).filter(|_| sampler.sample_at(at)).count();
        assert_eq!(taken(start), 3);
        assert_eq!(taken(start + Duration::from_millis(900)), 0);
        assert_eq!(taken(start + Duration::from_millis(1000)), 3);
        assert_eq!(taken(start + Duration::from_secs(5)), 3);
    }

    #[test]
    fn zero_means_everything() {
        let sampler = Sampler::new(0);
        assert!((0..1000).all(|_| sampler.sample()));
    }
}
