//! Following a registry read with blocking queries, the loop discovery and live config
//! share: ask again as soon as an answer arrives, blocking on the last index seen; back
//! off on errors; reset when the index goes backwards; never spin.
//!
//! ```text
//! index 0 ──plain read──▶ index N ──?index=N&wait=..──▶ (blocks until it moves) ──▶ ...
//!                                        │ error: wait 100ms, 200ms, ... 5s, ask again
//!                                        │ index went backwards (registry restarted): 0
//!                                        └ index did not move: pause UNCHANGED_GAP first
//! ```

use std::{future::Future, time::Duration};

use tern_backoff::Backoff;
use tern_consul_client::{Block, Error, Indexed};

pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(100);
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(5);
/// Pause after a query whose index did not move, so a server that does not block (or a
/// quiet service) never makes the watch spin.
pub(crate) const UNCHANGED_GAP: Duration = Duration::from_millis(50);

/// Where a followed query stands: the index to block on and the current retry delay.
#[derive(Debug)]
pub(crate) struct Follow {
    index: u64,
    wait: Duration,
    backoff: Backoff,
    /// The last answer did not move the index: pause before asking again.
    gap: bool,
}

impl Follow {
    /// Starts at `index` (0: the first query is a plain read that answers at once), each
    /// blocking query waiting up to `wait` for a change.
    pub(crate) fn new(index: u64, wait: Duration) -> Self {
        Follow {
            index,
            wait,
            backoff: Backoff::new(FIRST_RETRY, MAX_RETRY),
            gap: false,
        }
    }

    /// The next answer of `query`, asked as a blocking query on the last index seen.
    /// Errors are passed to `failed` with the delay before the next attempt, then retried
    /// with exponential backoff; this returns only with an answer (or never).
    pub(crate) async fn next<T, Q, Fut>(
        &mut self,
        mut query: Q,
        mut failed: impl FnMut(&Error, Duration),
    ) -> Indexed<T>
    where
        Q: FnMut(Option<Block>) -> Fut,
        Fut: Future<Output = Result<Indexed<T>, Error>>,
    {
        loop {
            if std::mem::take(&mut self.gap) {
                tokio::time::sleep(UNCHANGED_GAP).await;
            }
            let block = (self.index > 0).then_some(Block {
                index: self.index,
                wait: self.wait,
            });
            match query(block).await {
                Ok(answer) => {
                    self.backoff.reset();
                    self.gap = answer.index <= self.index;
                    // An index going backwards (registry restarted) resets the watch:
                    // the next query is a plain read, as Consul advises.
                    self.index = if answer.index < self.index {
                        0
                    } else {
                        answer.index
                    };
                    return answer;
                }
                Err(error) => {
                    let delay = self.backoff.next_delay();
                    failed(&error, delay);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        sync::{Arc, Mutex},
    };

    use tokio::time::Instant;

    use super::*;

    /// (the index blocked on, when) per query.
    type Asked = Vec<(Option<u64>, Duration)>;

    /// Scripted answers; records the block each query was asked with and when.
    #[derive(Clone, Default)]
    struct Script {
        answers: Arc<Mutex<VecDeque<Result<u64, ()>>>>,
        asked: Arc<Mutex<Asked>>,
    }

    impl Script {
        fn new(answers: &[Result<u64, ()>]) -> Self {
            Script {
                answers: Arc::new(Mutex::new(answers.iter().copied().collect())),
                asked: Arc::default(),
            }
        }

        async fn query(&self, block: Option<Block>, start: Instant) -> Result<Indexed<()>, Error> {
            self.asked
                .lock()
                .unwrap()
                .push((block.map(|b| b.index), start.elapsed()));
            match self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("a scripted answer")
            {
                Ok(index) => Ok(Indexed { index, value: () }),
                Err(()) => Err(Error::Unreachable {
                    addr: "registry:8500".into(),
                    detail: "refused".into(),
                }),
            }
        }

        fn asked(&self) -> Asked {
            self.asked.lock().unwrap().clone()
        }
    }

    const WAIT: Duration = Duration::from_secs(30);
    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[tokio::test(start_paused = true)]
    async fn reads_first_then_blocks_on_the_last_index() {
        let script = Script::new(&[Ok(5), Ok(7), Ok(9)]);
        let start = Instant::now();
        let mut follow = Follow::new(0, WAIT);
        for expected in [5, 7, 9] {
            let answer = follow
                .next(|b| script.query(b, start), |_, _| panic!("no errors"))
                .await;
            assert_eq!(answer.index, expected);
        }
        assert_eq!(
            script.asked(),
            [(None, MS(0)), (Some(5), MS(0)), (Some(7), MS(0))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_back_off_exponentially_and_reset_after_an_answer() {
        let script = Script::new(&[Err(()), Err(()), Err(()), Ok(3), Err(()), Ok(4)]);
        let start = Instant::now();
        let mut delays = Vec::new();
        let mut follow = Follow::new(2, WAIT);
        let first = follow
            .next(|b| script.query(b, start), |_, d| delays.push(d))
            .await;
        let second = follow
            .next(|b| script.query(b, start), |_, d| delays.push(d))
            .await;
        assert_eq!((first.index, second.index), (3, 4));
        assert_eq!(delays, [MS(100), MS(200), MS(400), MS(100)]);
        let at: Vec<Duration> = script.asked().iter().map(|(_, at)| *at).collect();
        assert_eq!(at, [MS(0), MS(100), MS(300), MS(700), MS(700), MS(800)]);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped() {
        let mut answers = vec![Err(()); 10];
        answers.push(Ok(1));
        let script = Script::new(&answers);
        let start = Instant::now();
        let mut delays = Vec::new();
        Follow::new(0, WAIT)
            .next(|b| script.query(b, start), |_, d| delays.push(d))
            .await;
        assert_eq!(delays.last(), Some(&MAX_RETRY));
        assert!(delays.iter().all(|d| *d <= MAX_RETRY));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unmoved_index_pauses_and_a_backwards_one_resets() {
        // 5, then 5 again (a wake-up without a change), then 2 (registry restarted),
        // then a plain read.
        let script = Script::new(&[Ok(5), Ok(5), Ok(2), Ok(3)]);
        let start = Instant::now();
        let mut follow = Follow::new(0, WAIT);
        for _ in 0..4 {
            follow
                .next(|b| script.query(b, start), |_, _| panic!("no errors"))
                .await;
        }
        assert_eq!(
            script.asked(),
            [
                (None, MS(0)),
                (Some(5), MS(0)),
                (Some(5), UNCHANGED_GAP),
                (None, UNCHANGED_GAP * 2),
            ]
        );
    }
}
