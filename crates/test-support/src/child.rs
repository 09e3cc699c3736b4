//! kill -9 setups: the test binary runs itself again as a child process that runs one test
//! (the writer, the broker...), reports on its stdout, and is killed with SIGKILL by the
//! parent test, which then reopens the same data directory.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// How long a child lives if its parent never kills it (the parent failed).
const ORPHAN_LIFETIME: Duration = Duration::from_secs(120);

/// The test binary again, running only the test at `path` (e.g. `kill9::writer_child`):
/// stdout piped (the child reports there), stderr inherited, no stdin. The caller adds the
/// environment that tells the child what to do (see [`child_role`]).
pub fn child_test(path: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("current exe"));
    command
        .args(["--exact", path, "--nocapture"])
        .args(["--test-threads", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// In the child's test: the value of `variable` that the parent set, or `None` when the
/// test runs as an ordinary test (it then does nothing). A child that its parent never
/// kills aborts after two minutes rather than linger.
pub fn child_role(variable: &str) -> Option<OsString> {
    let value = std::env::var_os(variable)?;
    std::thread::spawn(|| {
        std::thread::sleep(ORPHAN_LIFETIME);
        std::process::abort();
    });
    Some(value)
}

/// The child's runtime: two workers (as the parent's `multi_thread` tests), time and I/O on.
pub fn child_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the child's runtime")
}

/// Reads `child`'s stdout by lines, each passed to `on_line`, which says whether it was an
/// acknowledgement; after `acks` of them (or at the end of its output) SIGKILLs the child
/// and waits for it, then passes on the lines still in the pipe, acknowledged before the
/// kill too. Returns the acknowledgements seen before the kill and the child's status.
pub fn kill_9_after(
    child: &mut Child,
    acks: usize,
    mut on_line: impl FnMut(&str) -> bool,
) -> (usize, ExitStatus) {
    let mut lines =
        BufReader::new(child.stdout.take().expect("the child's stdout is piped")).lines();
    let mut seen = 0;
    while seen < acks {
        let Some(line) = lines.next() else { break };
        if on_line(&line.expect("read the child's stdout")) {
            seen += 1;
        }
    }
    child.kill().expect("kill -9 the child");
    let status = child.wait().expect("wait for the child");
    for line in lines.map_while(Result::ok) {
        on_line(&line);
    }
    (seen, status)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn kill_9_after_counts_acknowledgements_and_sigkills() {
        let mut child = Command::new("sh")
            .args(["-c", "while :; do echo ACK; echo other; done"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let mut lines = Vec::new();
        let (seen, status) = kill_9_after(&mut child, 5, |line| {
            lines.push(line.to_owned());
            line == "ACK"
        });
        assert_eq!(seen, 5);
        assert_eq!(status.signal(), Some(9), "{status}");
        // Every line reached `on_line`, in order, up to the fifth acknowledgement at least.
        assert_eq!(
            lines[..9],
            ["ACK", "other", "ACK", "other", "ACK", "other", "ACK", "other", "ACK"]
        );
    }
}
