//! `tern kv get|put|delete|ls` against a `tern registry` process.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{run, temp_dir, tern, wait_until, Ran, RegistryProcess, COMMAND_TIMEOUT};

/// `tern kv` against a `tern registry` process.
struct Registry(RegistryProcess);

impl Registry {
    fn start(data_dir: &Path) -> Registry {
        Registry(RegistryProcess::start(data_dir))
    }

    /// `tern kv ARGS` against this registry (through `TERN_REGISTRY`).
    fn kv(&self, args: &[&str]) -> Command {
        let mut command = tern(["kv"]);
        command
            .args(args)
            .env("TERN_REGISTRY", self.0.http.to_string());
        command
    }

    /// Runs `tern kv ARGS` and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let ran = run(&mut self.kv(args));
        assert!(ran.status.success(), "tern kv {args:?}: {ran}");
        ran.stdout
    }
}

/// Runs `command` with `input` on its standard input.
fn run_with_stdin(command: &mut Command, input: &[u8]) -> Ran {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tern kv");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write stdin");
    let status = wait_until(&mut child, std::time::Instant::now() + COMMAND_TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("the command's output");
    let ran = Ran {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(status.is_some(), "{command:?} did not finish: {ran}");
    ran
}

#[test]
fn put_get_ls_and_delete_round_trip() {
    let dir = temp_dir();
    let registry = Registry::start(dir.path());

    registry.ok(&["put", "config/search/log_level", "debug"]);
    registry.ok(&["put", "config/search/reload_interval", "500ms"]);
    registry.ok(&["put", "config/other/x", "1"]);
    assert_eq!(registry.ok(&["get", "config/search/log_level"]), "debug");

    assert_eq!(
        registry.ok(&["ls", "config/search/"]),
        "config/search/log_level\nconfig/search/reload_interval\n"
    );
    assert_eq!(
        registry.ok(&["ls", "config/search/", "--values"]),
        "config/search/log_level:debug\nconfig/search/reload_interval:500ms\n"
    );
    assert_eq!(
        registry.ok(&["ls"]),
        "config/other/x\nconfig/search/log_level\nconfig/search/reload_interval\n",
        "the default prefix lists everything"
    );

    // --registry wins over TERN_REGISTRY.
    let ran = run(registry
        .kv(&["get", "config/other/x", "--registry"])
        .arg(registry.0.http.to_string())
        .env("TERN_REGISTRY", "127.0.0.1:1"));
    assert!(ran.status.success(), "{ran}");
    assert_eq!(ran.stdout, "1");

    registry.ok(&["delete", "config/search/", "--recurse"]);
    assert_eq!(registry.ok(&["ls", "config/"]), "config/other/x\n");
    registry.ok(&["delete", "config/other/x"]);
    assert_eq!(registry.ok(&["ls"]), "");
    registry.ok(&["delete", "config/other/x"]);
}

#[test]
fn getting_a_missing_key_fails_naming_it() {
    let dir = temp_dir();
    let registry = Registry::start(dir.path());
    let ran = run(&mut registry.kv(&["get", "config/search/nope"]));
    assert_eq!(ran.status.code(), Some(1), "{ran}");
    assert_eq!(ran.stdout, "");
    assert_eq!(ran.stderr, "error: key config/search/nope not found\n");

    let ran = run(&mut tern(["kv", "get", "k", "--registry", "localhost"]));
    assert_eq!(ran.status.code(), Some(1), "{ran}");
    assert!(ran.stderr.contains("invalid registry address"), "{ran}");
}

#[test]
fn values_from_stdin_and_files() {
    let dir = temp_dir();
    let registry = Registry::start(dir.path());

    let ran = run_with_stdin(
        &mut registry.kv(&["put", "config/a/stdin", "-"]),
        b"line 1\nline 2\n",
    );
    assert!(ran.status.success(), "{ran}");
    assert_eq!(registry.ok(&["get", "config/a/stdin"]), "line 1\nline 2\n");

    let file = dir.path().join("value.txt");
    std::fs::write(&file, "from a file").unwrap();
    registry.ok(&["put", "config/a/file", &format!("@{}", file.display())]);
    assert_eq!(registry.ok(&["get", "config/a/file"]), "from a file");

    let missing = dir.path().join("missing.txt");
    let ran = run(&mut registry.kv(&["put", "config/a/x", &format!("@{}", missing.display())]));
    assert_eq!(ran.status.code(), Some(1), "{ran}");
    assert!(
        ran.stderr.starts_with(&format!(
            "error: cannot read the value from {}",
            missing.display()
        )),
        "{ran}"
    );
}
