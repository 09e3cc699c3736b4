//! Running the built `tern` binary: commands with a deadline, a `tern service search` child that is
//! stopped on drop, and a look into a data directory's store.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use search_store::{Store, StoreUrl};
/// The `kcat` binary (for the `up` tests).
pub use tern_test_support::clients::kcat;

/// Generous for a debug build on a loaded 2-core machine; a hung command fails the test.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// `tern` with the given arguments and no `TERN_*` variables from the caller's environment.
pub fn tern<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_tern"));
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TERN_") {
            command.env_remove(name);
        }
    }
    command
}

/// What a finished command did; `Display` shows all of it for assertion messages.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` to completion, killing it and failing the test after [`COMMAND_TIMEOUT`].
pub fn run(command: &mut Command) -> Ran {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_until(&mut child, Instant::now() + COMMAND_TIMEOUT);
    let output = Output {
        status: status.unwrap_or_else(|| {
            let _ = child.kill();
            child.wait().expect("wait for the killed command")
        }),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    let ran = Ran {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        status.is_some(),
        "{command:?} did not finish within {COMMAND_TIMEOUT:?}: {ran}"
    );
    ran
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Polls the child until it exits or `deadline` passes (`None`).
pub fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait().expect("poll the child process") {
            Some(status) => return Some(status),
            None if Instant::now() >= deadline => return None,
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `tern service search` running as a child process; killed on drop if a test left it
/// running.
pub struct Up {
    child: Child,
    /// `HOST:PORT` from its "serving" line.
    pub addr: String,
    pub features: usize,
    lines: mpsc::Receiver<String>,
    stderr_path: PathBuf,
}

impl Up {
    /// Starts `tern service search` on the embedded store in `data_dir` and waits for its "serving" line.
    pub fn start(data_dir: &Path) -> Up {
        Up::start_with_env(data_dir, &[])
    }

    /// [`Up::start`] with extra environment variables (`TERN_REGISTRY`, ...).
    pub fn start_with_env(data_dir: &Path, env: &[(&str, &str)]) -> Up {
        let stderr_path = data_dir.join("up-stderr.log");
        let stderr = std::fs::File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", stderr_path.display()));
        let mut child = tern(["service", "search", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // A file, not a pipe: nobody has to keep reading the logs for it not to block.
            .stderr(stderr)
            .spawn()
            .expect("start tern service search");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut up = Up {
            child,
            addr: String::new(),
            features: 0,
            lines,
            stderr_path,
        };
        let line = up.wait_for_line("search-service serving ");
        // "search-service serving 341 features on 127.0.0.1:PORT (Ctrl-C stops)"
        let mut words = line.split_whitespace().skip(2);
        up.features = words
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("feature count in {line:?}"));
        up.addr = words
            .nth(2)
            .unwrap_or_else(|| panic!("address in {line:?}"))
            .to_owned();
        up
    }

    /// The next stdout line starting with `prefix`, skipping others; fails the test after
    /// [`COMMAND_TIMEOUT`] or when stdout ends.
    pub fn wait_for_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!(
                    "tern service search: no line starting with {prefix:?} ({e}); stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits for the process to exit; `None` if it still runs at `deadline`.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        wait_until(&mut self.child, deadline)
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The embedded store's dataset version and feature names, read directly.
pub fn store_contents(data_dir: &Path) -> (i64, Vec<String>) {
    let url = StoreUrl::Sqlite(data_dir.join("search").join("features.db"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let store = Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        let version = store.version().await.expect("read the dataset version");
        let names = store
            .load_features()
            .await
            .expect("read the features")
            .into_iter()
            .map(|f| f.name)
            .collect();
        (version, names)
    })
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// Polls `condition` until it returns `None` (done); `Some(what was seen)` means not yet.
/// Fails the test after [`COMMAND_TIMEOUT`] with the last thing seen.
pub fn eventually(what: &str, mut condition: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let mut last = None;
    while Instant::now() < deadline {
        match condition() {
            None => return,
            seen => last = seen,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "timed out waiting for {what}; last seen: {}",
        last.as_deref().unwrap_or("nothing")
    );
}

/// `tern registry` as a process on free ports, its state in a data directory; killed on
/// drop.
pub struct RegistryProcess {
    child: Child,
    pub http: SocketAddr,
}

impl RegistryProcess {
    pub fn start(data_dir: &Path) -> Self {
        let mut child = tern([
            "registry",
            "--http",
            "127.0.0.1:0",
            "--dns",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tern registry");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the serving line");
        // "registry serving the Consul HTTP API on ADDR and DNS on ADDR (Ctrl-C stops)"
        let http = line
            .split_whitespace()
            .nth(7)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP address in {line:?}"));
        RegistryProcess { child, http }
    }

    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL the registry");
        self.child.wait().expect("reap the registry");
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: tern\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
