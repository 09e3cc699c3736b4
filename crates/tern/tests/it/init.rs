//! `tern init` and how every command finds its platform file when none is named or found.

use crate::support::{run, temp_dir, tern};

#[test]
fn up_without_a_file_says_to_run_init_and_init_writes_the_default_stack_once() {
    let dir = temp_dir();
    let ran = run(tern(["up"]).current_dir(dir.path()));
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.contains("no tern.toml in "), "{ran}");
    assert!(ran.stderr.contains("`tern init`"), "{ran}");
    assert!(!dir.path().join(".tern").exists(), "nothing started: {ran}");

    let ran = run(tern(["init"]).current_dir(dir.path()));
    assert!(ran.status.success(), "{ran}");
    let written = std::fs::read_to_string(dir.path().join("tern.toml")).expect("tern.toml");
    assert!(written.starts_with("# tern.toml"), "commented: {written}");
    let ran = run(tern(["config", "check"]).current_dir(dir.path()));
    assert!(ran.status.success(), "{ran}");
    assert!(ran.stdout.contains("search: 2 replica(s)"), "{ran}");

    std::fs::write(dir.path().join("tern.toml"), "# mine\n").expect("edit");
    let ran = run(tern(["init"]).current_dir(dir.path()));
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.contains("already exists"), "{ran}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tern.toml")).expect("tern.toml"),
        "# mine\n",
        "not overwritten"
    );
}

#[test]
fn a_missing_named_file_names_its_cause_once() {
    let dir = temp_dir();
    let ran = run(tern(["up", "--file", "missing.toml"]).current_dir(dir.path()));
    assert!(!ran.status.success(), "{ran}");
    let cause = "No such file or directory (os error 2)";
    assert_eq!(ran.stderr.matches(cause).count(), 1, "{ran}");
    assert!(ran.stderr.contains("missing.toml"), "{ran}");
}
