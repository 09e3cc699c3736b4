//! One lifecycle for the platform's embedded components (registry, broker, collectors, log
//! shipping, supervisor, control API): each is a [`Component`] that starts once the ones it
//! needs are serving and gives later ones what they need ([`Component::Output`]: addresses,
//! handles); a [`Lifecycle`] starts them in the order they are given and stops them in the
//! reverse order, one at a time, each by cancelling its [`Scope`]'s token and waiting for
//! every task it spawned.
//!
//! A task that fails while the platform runs is logged, kept as the platform's error and
//! cancels [`Lifecycle::failed`], so the caller stops everything instead of running on
//! without a piece. A new component is one type implementing [`Component`] plus one
//! `lifecycle.start(..)` line where it belongs in the order.

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use tokio_util::{
    sync::{CancellationToken, WaitForCancellationFuture, WaitForCancellationFutureOwned},
    task::TaskTracker,
};

/// Any component's own error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A component could not start (nothing after it was started).
    #[error("cannot start the {component}")]
    Start {
        component: &'static str,
        #[source]
        source: BoxError,
    },
    /// One of a component's tasks ended with an error.
    #[error("the {component} failed")]
    Failed {
        component: &'static str,
        #[source]
        source: BoxError,
    },
}

/// An embedded component of the platform.
pub trait Component: Send {
    /// What the component gives the ones started after it and the caller.
    type Output: Send;
    /// Its name in logs and errors ("registry", "broker").
    const NAME: &'static str;
    /// Builds and binds the component and spawns its tasks on `scope`; returns once it
    /// serves. Its tasks stop when [`Scope::token`] is cancelled.
    fn start(self, scope: &Scope) -> impl Future<Output = Result<Self::Output, BoxError>> + Send;
}

/// Failures of any component's tasks, shared by every scope of one lifecycle.
#[derive(Debug, Clone, Default)]
struct Failures {
    failed: CancellationToken,
    errors: Arc<Mutex<Vec<Error>>>,
}

impl Failures {
    fn record(&self, error: Error) {
        tracing::error!(error = %error, cause = %cause(&error), "component failed");
        self.errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(error);
        self.failed.cancel();
    }

    fn take_first(&self) -> Option<Error> {
        let mut errors = self
            .errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (!errors.is_empty()).then(|| errors.remove(0))
    }
}

/// The source's text, for the log line (the error's own text only names the component).
fn cause(error: &Error) -> String {
    std::error::Error::source(error).map_or_else(String::new, ToString::to_string)
}

/// One component's tasks and the token that stops them.
#[derive(Debug)]
pub struct Scope {
    component: &'static str,
    token: CancellationToken,
    tracker: TaskTracker,
    failures: Failures,
}

impl Scope {
    /// Cancelled when the component must stop.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// A future that resolves when the component must stop: the `shutdown` argument of a
    /// server's `serve(listener, shutdown)`.
    pub fn stopping(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    /// Runs `task` as one of the component's tasks: stopping the component waits for it,
    /// and an error it returns fails the platform.
    pub fn spawn<F, E>(&self, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let component = self.component;
        let failures = self.failures.clone();
        self.tracker.spawn(async move {
            if let Err(error) = task.await {
                failures.record(Error::Failed {
                    component,
                    source: error.into(),
                });
            }
        });
    }

    async fn stop(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        tracing::debug!(component = self.component, "stopped");
    }
}

/// The started components, in start order.
#[derive(Debug, Default)]
pub struct Lifecycle {
    started: Vec<Scope>,
    failures: Failures,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `component` after every component started so far. On an error the ones
    /// already started keep running: [`Lifecycle::stop`] stops them.
    pub async fn start<C: Component>(&mut self, component: C) -> Result<C::Output, Error> {
        let scope = Scope {
            component: C::NAME,
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
            failures: self.failures.clone(),
        };
        let started = component.start(&scope).await;
        // Whatever it spawned before failing is stopped with the rest.
        self.started.push(scope);
        started.map_err(|source| Error::Start {
            component: C::NAME,
            source,
        })
    }

    /// Resolves once a component's task has failed.
    pub fn failed(&self) -> WaitForCancellationFuture<'_> {
        self.failures.failed.cancelled()
    }

    /// Stops every component, the last started first, each completely before the next;
    /// then returns the first failure any task had, if one did.
    pub async fn stop(mut self) -> Result<(), Error> {
        while let Some(scope) = self.started.pop() {
            scope.stop().await;
        }
        self.failures.take_first().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::*;

    /// Records its start and, when stopped, its stop (after the ones started later).
    struct Probe {
        name: &'static str,
        log: mpsc::UnboundedSender<String>,
        fail_after_start: bool,
    }

    struct Named<const N: usize>(Probe);

    impl<const N: usize> Component for Named<N> {
        type Output = &'static str;
        const NAME: &'static str = ["first", "second", "third"][N];

        async fn start(self, scope: &Scope) -> Result<&'static str, BoxError> {
            let Probe {
                name,
                log,
                fail_after_start,
            } = self.0;
            log.send(format!("start {name}")).expect("log open");
            let stopping = scope.stopping();
            scope.spawn(async move {
                if fail_after_start {
                    return Err::<(), BoxError>(format!("{name} broke").into());
                }
                stopping.await;
                log.send(format!("stop {name}")).expect("log open");
                Ok(())
            });
            Ok(name)
        }
    }

    fn probe(name: &'static str, log: &mpsc::UnboundedSender<String>) -> Probe {
        Probe {
            name,
            log: log.clone(),
            fail_after_start: false,
        }
    }

    fn drain(log: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
        std::iter::from_fn(|| log.try_recv().ok()).collect()
    }

    #[tokio::test]
    async fn starts_in_order_and_stops_in_reverse() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut lifecycle = Lifecycle::new();
        assert_eq!(
            lifecycle.start(Named::<0>(probe("a", &tx))).await.unwrap(),
            "a"
        );
        assert_eq!(
            lifecycle.start(Named::<1>(probe("b", &tx))).await.unwrap(),
            "b"
        );
        assert_eq!(
            lifecycle.start(Named::<2>(probe("c", &tx))).await.unwrap(),
            "c"
        );
        lifecycle.stop().await.expect("clean stop");
        assert_eq!(
            drain(&mut rx),
            ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
        );
    }

    #[tokio::test]
    async fn a_failed_task_signals_and_is_the_result_of_stop() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut lifecycle = Lifecycle::new();
        lifecycle.start(Named::<0>(probe("a", &tx))).await.unwrap();
        let broken = Probe {
            fail_after_start: true,
            ..probe("b", &tx)
        };
        lifecycle.start(Named::<1>(broken)).await.unwrap();
        lifecycle.failed().await;
        let error = lifecycle.stop().await.expect_err("b failed");
        assert_eq!(error.to_string(), "the second failed");
        assert_eq!(cause(&error), "b broke");
        assert_eq!(drain(&mut rx), ["start a", "start b", "stop a"]);
    }

    struct Unstartable(Arc<Mutex<bool>>);

    impl Component for Unstartable {
        type Output = ();
        const NAME: &'static str = "unstartable";

        async fn start(self, scope: &Scope) -> Result<(), BoxError> {
            let stopped = self.0;
            let stopping = scope.stopping();
            // A task spawned before the failure is still stopped with the rest.
            scope.spawn(async move {
                stopping.await;
                *stopped.lock().expect("not poisoned") = true;
                Ok::<(), BoxError>(())
            });
            Err("port taken".into())
        }
    }

    #[tokio::test]
    async fn a_start_error_names_the_component_and_stop_cleans_up() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let stopped = Arc::new(Mutex::new(false));
        let mut lifecycle = Lifecycle::new();
        lifecycle.start(Named::<0>(probe("a", &tx))).await.unwrap();
        let error = lifecycle
            .start(Unstartable(stopped.clone()))
            .await
            .expect_err("cannot start");
        assert_eq!(error.to_string(), "cannot start the unstartable");
        lifecycle.stop().await.expect("no task failed");
        assert!(*stopped.lock().unwrap());
        assert_eq!(drain(&mut rx), ["start a", "stop a"]);
    }
}
