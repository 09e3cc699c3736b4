//! The two files `tern new` edits: the Cargo workspace manifest (members) and tern.toml
//! (the service's table). Each edit is computed from the text first, so every check
//! happens before anything is written.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};

use crate::Error;

/// What a generated Rust service takes from `[workspace.dependencies]`.
const WORKSPACE_DEPENDENCIES: &[&str] = &[
    "tern-chassis",
    "tern-db",
    "tern-rest",
    "tern-proto-build",
    "tern-http-client",
    "tonic",
    "tonic-prost",
    "prost",
    "prost-types",
    "tokio",
    "serde",
    "serde_json",
    "thiserror",
    "tracing",
    "humantime",
    "uuid",
    "http",
    "tempfile",
];

/// tern.toml with `table` appended, after checking that `[services.NAME]` is not there.
pub(crate) fn declare_service(
    file: &Path,
    text: &str,
    name: &str,
    table: &str,
) -> Result<String, Error> {
    let manifest_error = |problem: String| Error::Manifest {
        file: file.to_owned(),
        problem,
    };
    let document: DocumentMut = text
        .parse()
        .map_err(|e| manifest_error(format!("not valid TOML: {e}")))?;
    if document
        .get("services")
        .and_then(|services| services.get(name))
        .is_some()
    {
        return Err(Error::Declared {
            file: file.to_owned(),
            name: name.to_owned(),
        });
    }
    let mut after = text.to_owned();
    if !after.is_empty() && !after.ends_with('\n') {
        after.push('\n');
    }
    after.push('\n');
    after.push_str(table);
    Ok(after)
}

/// The workspace manifest at or above `root`, and its new text when its `members` do not
/// already cover `dir` (`None` when they do, e.g. with `"services/*"`).
pub(crate) fn member_edit(root: &Path, dir: &Path) -> Result<Option<(PathBuf, String)>, Error> {
    let (manifest, text) = find_workspace(root)?;
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let manifest_error = |problem: String| Error::Manifest {
        file: manifest.clone(),
        problem,
    };
    let mut document: DocumentMut = text
        .parse()
        .map_err(|e| manifest_error(format!("not valid TOML: {e}")))?;
    let workspace_dir = manifest.parent().unwrap_or(Path::new("."));
    let member = dir
        .strip_prefix(workspace_dir)
        .map_err(|_| manifest_error(format!("{} is outside the workspace", dir.display())))?
        .to_string_lossy()
        .replace('\\', "/");

    let declared = document
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(Item::as_table_like);
    let missing: Vec<&str> = WORKSPACE_DEPENDENCIES
        .iter()
        .copied()
        .filter(|dep| declared.is_none_or(|table| !table.contains_key(dep)))
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingDependencies {
            file: manifest.clone(),
            missing: missing.join(", "),
        });
    }

    let Some(members) = document["workspace"]
        .get_mut("members")
        .and_then(Item::as_array_mut)
    else {
        return Err(manifest_error(
            "[workspace] has no `members` array to add the service to".to_owned(),
        ));
    };
    let covered = members
        .iter()
        .filter_map(|m| m.as_str())
        .any(|pattern| covers(pattern, &member));
    if covered {
        return Ok(None);
    }
    // Keep the file's one-member-per-line layout.
    let multiline = members.iter().next().is_some_and(|first| {
        first
            .decor()
            .prefix()
            .and_then(|p| p.as_str())
            .is_some_and(|p| p.contains('\n'))
    });
    members.push(member.as_str());
    if multiline {
        if let Some(last) = members.iter_mut().last() {
            last.decor_mut().set_prefix("\n    ");
        }
        members.set_trailing("\n");
        members.set_trailing_comma(true);
    }
    Ok(Some((manifest, document.to_string())))
}

/// Whether a `members` entry (a path, or a path ending in `/*`) takes in `member`.
fn covers(pattern: &str, member: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(parent) => member
            .rsplit_once('/')
            .is_some_and(|(member_parent, _)| member_parent == parent),
        None => pattern.trim_end_matches('/') == member,
    }
}

fn find_workspace(root: &Path) -> Result<(PathBuf, String), Error> {
    let start = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text
            .parse::<DocumentMut>()
            .is_ok_and(|doc| doc.get("workspace").is_some())
        {
            return Ok((manifest, text));
        }
    }
    Err(Error::NoWorkspace(root.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_patterns_cover_the_service_or_not() {
        assert!(covers("services/*", "services/orders"));
        assert!(covers("services/orders", "services/orders"));
        assert!(!covers("services/users", "services/orders"));
        assert!(!covers("crates/*", "services/orders"));
    }

    #[test]
    fn a_declared_service_is_refused() {
        let text = "[services.orders]\ncommand = [\"x\"]\n";
        let error = declare_service(Path::new("tern.toml"), text, "orders", "").unwrap_err();
        assert!(error
            .to_string()
            .contains("[services.orders] is already declared"));
        let added =
            declare_service(Path::new("tern.toml"), text, "users", "[services.users]\n").unwrap();
        assert!(added.ends_with("\n\n[services.users]\n"), "{added}");
    }
}
