//! `tern new`: the Rust template's output is exactly `services/notes` (which the workspace
//! builds, lints and tests like any crate), the edits to tern.toml and the workspace, names
//! and clashes refused with nothing written, and the Python template's own tests passing.

use std::path::{Path, PathBuf};

use crate::support::{run, temp_dir, tern};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const TERN_TOML: &str = "[services.search]\nbuiltin = \"search\"\n";

/// A workspace like the repository's: its `[workspace.dependencies]` (the generated
/// Cargo.toml takes its dependencies from there) and the given member list.
fn workspace(members: &str) -> tempfile::TempDir {
    let dir = temp_dir();
    let root = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    let dependencies = &root[root.find("[workspace.dependencies]").expect("dependencies")..];
    let manifest = format!("[workspace]\nresolver = \"2\"\nmembers = {members}\n\n{dependencies}");
    std::fs::write(dir.path().join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::write(dir.path().join("tern.toml"), TERN_TOML).expect("write tern.toml");
    dir
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).expect("under dir").to_owned());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_rust_template_makes_exactly_services_notes() {
    let dir = workspace("[\"services/*\"]");
    let ran = run(tern(["new", "notes"]).current_dir(dir.path()));
    assert!(ran.status.success(), "{ran}");

    let made = dir.path().join("services/notes");
    let golden = repo_root().join("services/notes");
    let files = files_under(&made);
    assert_eq!(files, files_under(&golden), "the same files");
    for file in &files {
        let text = std::fs::read_to_string(made.join(file)).expect("generated file");
        let expected = std::fs::read_to_string(golden.join(file)).expect("golden file");
        assert!(
            text == expected,
            "services/notes/{} differs from what `tern new notes` writes: regenerate it",
            file.display()
        );
    }

    // `services/*` already covers it: the manifest is left alone.
    assert!(!ran.stdout.contains("workspace members"), "{ran}");
    let declared = run(tern(["config", "check"]).current_dir(dir.path()));
    assert!(declared.status.success(), "{declared}");
    assert!(declared.stdout.contains("notes: "), "{declared}");
}

#[test]
fn an_explicit_member_list_gets_the_new_service() {
    let dir = workspace("[\n    \"crates/a\",\n]");
    let ran = run(tern(["new", "order-items"]).current_dir(dir.path()));
    assert!(ran.status.success(), "{ran}");
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("members = [\n    \"crates/a\",\n    \"services/order-items\",\n]"),
        "{manifest}"
    );
    let proto = std::fs::read_to_string(
        dir.path()
            .join("services/order-items/proto/order-items.proto"),
    )
    .expect("the contract");
    assert!(proto.contains("service OrderItemService"), "{proto}");
    assert!(proto.contains("get: \"/v1/order-items/{id}\""), "{proto}");
}

#[test]
fn bad_names_and_clashes_are_refused_and_nothing_is_written() {
    let dir = workspace("[\"services/*\"]");
    let before = files_under(dir.path());
    for (args, expected) in [
        (
            vec!["new", "Orders"],
            "invalid service name \"Orders\": it must start with a lowercase letter",
        ),
        (
            vec!["new", "order_items"],
            "use lowercase letters, digits and dashes only",
        ),
        (vec!["new", "stores"], "a module the template already has"),
        (
            vec!["new", "search"],
            "[services.search] is already declared",
        ),
    ] {
        let ran = run(tern(&args).current_dir(dir.path()));
        assert!(!ran.status.success(), "{args:?}: {ran}");
        assert!(ran.stderr.contains(expected), "{args:?}: {ran}");
        assert_eq!(files_under(dir.path()), before, "{args:?} wrote nothing");
    }
    std::fs::create_dir_all(dir.path().join("services/orders")).expect("mkdir");
    let ran = run(tern(["new", "orders"]).current_dir(dir.path()));
    assert!(ran.stderr.contains("already exists"), "{ran}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tern.toml")).expect("tern.toml"),
        TERN_TOML,
        "tern.toml untouched"
    );
}

#[test]
fn a_rust_service_needs_a_workspace_a_python_one_does_not() {
    let dir = temp_dir();
    std::fs::write(dir.path().join("tern.toml"), TERN_TOML).expect("write tern.toml");
    let ran = run(tern(["new", "orders"]).current_dir(dir.path()));
    assert!(!ran.status.success(), "{ran}");
    assert!(ran.stderr.contains("no Cargo workspace"), "{ran}");
    assert!(!dir.path().join("services").exists(), "{ran}");

    let ran = run(tern(["new", "shop", "--lang", "python"]).current_dir(dir.path()));
    assert!(ran.status.success(), "{ran}");
    assert!(
        dir.path().join("services/shop/shop/app.py").is_file(),
        "{ran}"
    );
    let declared = run(tern(["config", "check"]).current_dir(dir.path()));
    assert!(declared.status.success(), "{declared}");
    assert!(declared.stdout.contains("shop: "), "{declared}");
}

/// The generated Python service passes its own tests (pytest, FastAPI's TestClient), run
/// with the compatibility venv, which has the template's pinned packages.
#[test]
fn the_python_template_passes_its_own_tests() {
    let Some(python) = tern_test_support::clients::client_from_env("TERN_TEST_PYTHON") else {
        return;
    };
    let dir = temp_dir();
    std::fs::write(dir.path().join("tern.toml"), TERN_TOML).expect("write tern.toml");
    let ran = run(tern(["new", "shop-items", "--lang", "python"]).current_dir(dir.path()));
    assert!(ran.status.success(), "{ran}");
    let service = dir.path().join("services/shop-items");
    let ran = run(std::process::Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&service));
    assert!(
        ran.status.success(),
        "pytest in {}: {ran}",
        service.display()
    );
}
