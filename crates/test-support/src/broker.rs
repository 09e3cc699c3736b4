//! A `tern-broker` served in-process on `127.0.0.1:0` for one test, on a temporary data
//! directory or on a given one (to restart on it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tern_broker::{Broker, BrokerConfig, BrokerHandle, Error};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A broker serving until [`RunningBroker::stop`], or until it is dropped (it then stops
/// without being waited for, and its temporary directory is removed).
pub struct RunningBroker {
    pub addr: SocketAddr,
    pub handle: BrokerHandle,
    /// Its data directory.
    pub dir: PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
    temp: Option<tempfile::TempDir>,
}

impl RunningBroker {
    /// A broker with the default config on a fresh temporary directory.
    pub async fn start() -> Self {
        Self::with(BrokerConfig::default()).await
    }

    /// A broker with `config`, its `data_dir` replaced by a fresh temporary directory.
    pub async fn with(config: BrokerConfig) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("broker");
        let mut running = Self::in_dir(config, dir).await;
        running.temp = Some(temp);
        running
    }

    /// A broker with `config` on `dir`, which outlives it (for restart tests).
    pub async fn in_dir(mut config: BrokerConfig, dir: PathBuf) -> Self {
        init_logging();
        config.data_dir = dir.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        // Opening the log reads files: off the runtime's workers.
        let broker = tokio::task::spawn_blocking(move || Broker::build(config))
            .await
            .expect("build task")
            .expect("broker builds");
        let handle = broker.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(broker.serve(listener, async {
            let _ = stopped.await;
        }));
        RunningBroker {
            addr,
            handle,
            dir,
            stop,
            task,
            temp: None,
        }
    }

    /// The address clients bootstrap from.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Stops the broker, waits until it has stopped serving, cleanly, and returns its
    /// temporary directory (kept alive for a restart on it), if it has one.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        let _ = self.stop.send(());
        let served = tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("the broker stops within 20s")
            .expect("the serving task does not panic");
        served.expect("serve returns Ok");
        self.temp.take()
    }
}

/// The broker's logs in the test's output (`RUST_LOG`, default `warn`).
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
