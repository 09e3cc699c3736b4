//! Doubling retry delays up to a cap: the one backoff every tern retry loop waits by
//! (the chassis registering and following the registry, the Kafka client's retries, the
//! supervisor's restarts). Std only, no clock: callers sleep the delays themselves.
//!
//! ```
//! use std::time::Duration;
//! use tern_backoff::Backoff;
//!
//! let ms = Duration::from_millis;
//! let mut backoff = Backoff::new(ms(100), ms(500));
//! let delays: Vec<_> = (0..4).map(|_| backoff.next_delay()).collect();
//! assert_eq!(delays, [ms(100), ms(200), ms(400), ms(500)]);
//! backoff.reset();
//! assert_eq!(backoff.next_delay(), ms(100));
//! assert_eq!(Backoff::delay(ms(100), ms(500), 2), ms(400));
//! ```

use std::time::Duration;

/// A retry loop's delays: `first`, twice that, and so on, never more than `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// Delays handed out since the last reset.
    failures: u32,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max,
            failures: 0,
        }
    }

    /// The delay before the next attempt; the one after it is twice as long, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = Self::delay(self.first, self.max, self.failures);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// Back to the first delay (the last attempt worked).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The delay after `doublings` doublings: `first * 2^doublings`, at most `max`, for
    /// callers that count their own attempts. Never overflows, however large the count.
    pub fn delay(first: Duration, max: Duration, doublings: u32) -> Duration {
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        first.saturating_mul(factor).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(ms(100), ms(500));
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), ms(100));
    }

    #[test]
    fn next_delay_is_delay_of_the_failures_so_far() {
        let (first, max) = (ms(50), Duration::from_secs(1));
        let mut backoff = Backoff::new(first, max);
        for n in 0..100 {
            assert_eq!(backoff.next_delay(), Backoff::delay(first, max, n), "{n}");
        }
    }

    #[test]
    fn delay_doubles_and_saturates_for_any_count() {
        let max = Duration::from_secs(30);
        let delays: Vec<_> = (0..10)
            .map(|n| Backoff::delay(ms(250), max, n).as_millis())
            .collect();
        assert_eq!(
            delays,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        for n in [31, 32, 33, 64, u32::MAX] {
            assert_eq!(Backoff::delay(ms(250), max, n), max, "{n}");
        }
        // No cap to hide an overflow behind: the delay saturates and stays monotonic.
        let uncapped = |n| Backoff::delay(Duration::MAX / 4, Duration::MAX, n);
        assert_eq!(uncapped(0), Duration::MAX / 4);
        assert_eq!(uncapped(3), Duration::MAX);
        assert_eq!(uncapped(u32::MAX), Duration::MAX);
        let delays: Vec<_> = (0..=40)
            .map(|n| Backoff::delay(ms(1), Duration::MAX, n))
            .collect();
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(Backoff::delay(Duration::ZERO, max, 7), Duration::ZERO);
    }

    #[test]
    fn a_backoff_counting_forever_stays_at_the_cap() {
        let mut backoff = Backoff::new(ms(1), ms(8));
        backoff.failures = u32::MAX - 1;
        assert_eq!(backoff.next_delay(), ms(8));
        assert_eq!(backoff.next_delay(), ms(8));
        assert_eq!(backoff.failures, u32::MAX);
    }
}
