//! Third-party clients for compat tests: the interpreter (or module path) comes from an
//! environment variable `scripts/test-deps` prints (`TERN_TEST_PYTHON`,
//! `TERN_TEST_NODE_PATH`), the scripts from the repository's `tests/compat/`, `kcat` from
//! `PATH`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

/// The interpreter or module path a compat test needs, from `variable`; `None` means skip
/// the test. Only outside CI: with `CI` set a missing client fails the test, so that no
/// compat test silently stops running there.
pub fn client_from_env(variable: &str) -> Option<OsString> {
    let value = std::env::var_os(variable);
    if value.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{variable} is not set: with CI set the compat tests must run (scripts/test sets it)"
        );
        eprintln!("skipping: set {variable} (scripts/test-deps prints it) to run this test");
    }
    value
}

/// Runs a client to its end (killed if the test gives up first) and returns its output,
/// after asserting that it exited 0 within `timeout`; a failure shows what it printed.
pub async fn run_client(mut command: tokio::process::Command, timeout: Duration) -> Output {
    command.kill_on_drop(true);
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .unwrap_or_else(|_| panic!("the client finishes within {timeout:?}: {command:?}"))
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} exited with {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `tests/compat/NAME` at the repository's root, where the client scripts live.
pub fn compat_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/compat")
        .join(name)
}

/// The `kcat` binary on `PATH` (Debian's package, which `scripts/test-deps` installs);
/// `None` means skip the test, only outside CI as for [`client_from_env`].
pub fn kcat() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kcat"))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "kcat is not installed: with CI set the compat tests must run (scripts/test-deps installs it)"
        );
        eprintln!("skipping: install kcat (scripts/test-deps does) to run this test");
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_scripts_are_found_from_any_crate() {
        // The path is relative to this crate, not to the test's: every user gets the same.
        for script in ["kafka_client.py", "consul_client.py", "dns_client.py"] {
            assert!(compat_script(script).is_file(), "{script}");
        }
    }

    #[tokio::test]
    async fn run_client_returns_the_output_of_a_client_that_exits_0() {
        let mut command = tokio::process::Command::new("sh");
        command.args(["-c", "echo out; echo err >&2"]);
        let output = run_client(command, Duration::from_secs(10)).await;
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[tokio::test]
    #[should_panic(expected = "exited with exit status: 3")]
    async fn run_client_fails_on_a_client_that_fails() {
        let mut command = tokio::process::Command::new("sh");
        command.args(["-c", "exit 3"]);
        run_client(command, Duration::from_secs(10)).await;
    }
}
