//! The embedded template files, by language, and the tern.toml table of each.

use crate::Lang;

/// (path in the service's directory, text); both may hold `{{placeholders}}`, and a
/// `.tmpl` suffix is dropped (it keeps cargo and tools from taking a template for a real
/// manifest).
type Files = &'static [(&'static str, &'static str)];

const RUST: Files = &[
    (
        "Cargo.toml.tmpl",
        include_str!("../templates/rust/Cargo.toml.tmpl"),
    ),
    ("README.md", include_str!("../templates/rust/README.md")),
    ("build.rs", include_str!("../templates/rust/build.rs")),
    (
        "migrations/0001_create_{{resources}}.sql",
        include_str!("../templates/rust/migrations/0001_create_{{resources}}.sql"),
    ),
    (
        "proto/{{name}}.proto",
        include_str!("../templates/rust/proto/{{name}}.proto"),
    ),
    ("src/api.rs", include_str!("../templates/rust/src/api.rs")),
    (
        "src/config.rs",
        include_str!("../templates/rust/src/config.rs"),
    ),
    ("src/lib.rs", include_str!("../templates/rust/src/lib.rs")),
    ("src/main.rs", include_str!("../templates/rust/src/main.rs")),
    (
        "src/store.rs",
        include_str!("../templates/rust/src/store.rs"),
    ),
    (
        "src/{{resource}}.rs",
        include_str!("../templates/rust/src/{{resource}}.rs"),
    ),
    (
        "tests/it/grpc.rs",
        include_str!("../templates/rust/tests/it/grpc.rs"),
    ),
    (
        "tests/it/main.rs",
        include_str!("../templates/rust/tests/it/main.rs"),
    ),
    (
        "tests/it/rest.rs",
        include_str!("../templates/rust/tests/it/rest.rs"),
    ),
    (
        "tests/it/support.rs",
        include_str!("../templates/rust/tests/it/support.rs"),
    ),
];

const PYTHON: Files = &[
    (".gitignore", include_str!("../templates/python/.gitignore")),
    ("README.md", include_str!("../templates/python/README.md")),
    (
        "pyproject.toml",
        include_str!("../templates/python/pyproject.toml"),
    ),
    (
        "requirements.txt",
        include_str!("../templates/python/requirements.txt"),
    ),
    (
        "tests/test_app.py",
        include_str!("../templates/python/tests/test_app.py"),
    ),
    (
        "{{module}}/__init__.py",
        include_str!("../templates/python/{{module}}/__init__.py"),
    ),
    (
        "{{module}}/__main__.py",
        include_str!("../templates/python/{{module}}/__main__.py"),
    ),
    (
        "{{module}}/app.py",
        include_str!("../templates/python/{{module}}/app.py"),
    ),
    (
        "{{module}}/db.py",
        include_str!("../templates/python/{{module}}/db.py"),
    ),
    (
        "{{module}}/settings.py",
        include_str!("../templates/python/{{module}}/settings.py"),
    ),
];

pub(crate) fn files(lang: Lang) -> Files {
    match lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
    }
}

pub(crate) fn service_table(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => RUST_TABLE,
        Lang::Python => PYTHON_TABLE,
    }
}

const RUST_TABLE: &str = r#"# Added by `tern new {{name}}`: the Rust service in services/{{name}}, built by `tern up`
# first. It serves gRPC and REST on the PORT it is given and is registered as `{{name}}`.
[services.{{name}}]
build = ["cargo", "build", "-p", "{{name}}"]
command = ["target/debug/{{name}}"]
health = { kind = "grpc" }
metrics_path = "/metrics"
"#;

const PYTHON_TABLE: &str = r#"# Added by `tern new {{name}} --lang python`: FastAPI + uvicorn in services/{{name}}, run from
# its own venv, which `tern up` makes the first time (the `build` below).
[services.{{name}}]
build = ["sh", "-c", "test -x .venv/bin/python || (python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt)"]
command = [".venv/bin/opentelemetry-instrument", ".venv/bin/python", "-m", "{{module}}"]
workdir = "services/{{name}}"
health = { kind = "http", path = "/healthz" }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under templates/ is embedded, so a new template file cannot be forgotten.
    #[test]
    fn every_template_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for (lang, embedded) in [("rust", RUST), ("python", PYTHON)] {
            let mut on_disk = Vec::new();
            collect(&root.join(lang), &root.join(lang), &mut on_disk);
            on_disk.sort();
            let mut listed: Vec<String> = embedded.iter().map(|(p, _)| p.to_string()).collect();
            listed.sort();
            assert_eq!(
                listed, on_disk,
                "templates/{lang} and the list in templates.rs differ"
            );
        }
    }

    fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
}
