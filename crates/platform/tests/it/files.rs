//! `load`: reading the base and the overlay from disk, and the repository's own tern.toml.

use std::{fs, path::Path};

use expect_test::expect;
use tern_platform::{load, Program, RegistrySpec};

#[test]
fn load_reads_the_base_and_the_environment_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("tern.toml");
    fs::write(
        &base,
        "[services.search]\nbuiltin = \"search\"\nworkdir = \"svc\"\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("tern.staging.toml"),
        "[services.search]\nreplicas = 3\n",
    )
    .unwrap();

    let p = load(&base, None).unwrap();
    assert_eq!(p.root, dir.path());
    assert_eq!(p.services[0].replicas, 1);
    assert_eq!(p.services[0].workdir, dir.path().join("svc"));
    assert_eq!(p.supervisor.data_dir, dir.path().join(".tern"));

    let p = load(&base, Some("staging")).unwrap();
    assert_eq!(p.services[0].replicas, 3);
    assert_eq!(p.services[0].config_prefix, "config/staging/search/");
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("tern.toml");
    let shown = |e: tern_platform::Error| {
        e.to_string()
            .replace(&dir.path().display().to_string(), "DIR")
    };

    let missing = load(&base, None).unwrap_err();
    expect!["cannot read DIR/tern.toml: No such file or directory (os error 2)"]
        .assert_eq(&shown(missing));

    fs::write(&base, "[services.search]\nbuiltin = \"search\"\n").unwrap();
    let no_overlay = load(&base, Some("prod")).unwrap_err();
    expect![[r#"environment "prod": overlay file DIR/tern.prod.toml does not exist"#]]
        .assert_eq(&shown(no_overlay));

    fs::write(
        dir.path().join("tern.prod.toml"),
        "[services.search]\nreplicas = \"2\"\n",
    )
    .unwrap();
    let in_overlay = load(&base, Some("prod")).unwrap_err();
    expect!["DIR/tern.prod.toml:2:12: services.search.replicas: expected a non-negative integer, found a string"].assert_eq(&shown(in_overlay));
}

#[test]
fn the_repository_default_stack() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tern.toml");
    let p = load(&path, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.registry, RegistrySpec::default());
    assert_eq!(p.services.len(), 2);
    let search = &p.services[0];
    assert_eq!(search.name, "search");
    assert_eq!(
        search.program,
        Program::Builtin(tern_platform::Builtin::Search)
    );
    assert_eq!(search.register_as, "search-service");
    assert_eq!(search.replicas, 2);
    let users = &p.services[1];
    assert_eq!(users.name, "users");
    assert!(users.build.is_some());
}

#[test]
fn the_examples_in_the_docs_are_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/platform.md");
    let doc = fs::read_to_string(path).unwrap();
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert_eq!(
        blocks.len(),
        4,
        "the default stack, an overlay, a fuller example, a self-registering program"
    );
    let root = Path::new("/proj");
    for block in &blocks {
        let overlay = block.starts_with("# tern.staging.toml");
        let result = if overlay {
            tern_platform::parse(
                blocks[0],
                "tern.toml",
                Some((block, "tern.staging.toml")),
                Some("staging"),
                root,
            )
        } else {
            tern_platform::parse(block, "tern.toml", None, None, root)
        };
        if let Err(e) = result {
            panic!("{e}\n{block}");
        }
    }
    // The default stack in the docs is the repository's tern.toml, less its comments.
    let repo =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tern.toml")).unwrap();
    let code = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(code(&repo), code(blocks[0]));
}
