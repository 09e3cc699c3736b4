//! Rules about lints: every crate takes the workspace's (`unsafe_code` forbidden), except
//! the supervisor, whose one `unsafe` block is allowed where it is.

use crate::known::{check, Violation};
use crate::workspace::{contains_token, workspace};

/// The one crate that needs `unsafe` (a `pre_exec` hook), with its own `[lints]` table.
const UNSAFE_CRATE: &str = "crates/supervisor";

/// The one file where `unsafe_code` is allowed, on the block that needs it.
const UNSAFE_FILE: &str = "crates/supervisor/src/process.rs";

/// The attribute that allows it, spelled so that this file does not contain it.
const ALLOW_UNSAFE: &str = concat!("allow(", "unsafe_code)");

fn lint_level<'a>(lints: Option<&'a toml::Value>, group: &str, lint: &str) -> Option<&'a str> {
    lints?.get(group)?.get(lint)?.as_str()
}

#[test]
fn every_crate_takes_the_workspace_lints() {
    let ws = workspace();
    let mut found = Vec::new();
    let workspace_lints = ws.manifest.get("workspace").and_then(|w| w.get("lints"));
    if lint_level(workspace_lints, "rust", "unsafe_code") != Some("forbid") {
        found.push(Violation::new(
            "Cargo.toml",
            "[workspace.lints.rust] must set `unsafe_code = \"forbid\"`",
        ));
    }
    for krate in &ws.crates {
        let lints = krate.manifest.get("lints");
        let manifest = format!("{}/Cargo.toml", krate.dir);
        if krate.dir == UNSAFE_CRATE {
            if lint_level(lints, "rust", "unsafe_code") != Some("deny") {
                found.push(Violation::new(
                    manifest,
                    "its own [lints.rust] must set `unsafe_code = \"deny\"` (allowed on the \
                     one block in process.rs only)",
                ));
            }
        } else if lints
            .and_then(|l| l.get("workspace"))
            .and_then(|w| w.as_bool())
            != Some(true)
        {
            found.push(Violation::new(
                manifest,
                "does not take the workspace's lints: add `[lints]` with `workspace = true`",
            ));
        }
    }
    // `deny` can be allowed anywhere in the crate; only the one block may be.
    for file in &ws.files {
        let allows = file
            .code()
            .filter(|(_, line)| contains_token(line, ALLOW_UNSAFE))
            .count();
        let expected = usize::from(file.path == UNSAFE_FILE);
        if allows != expected {
            found.push(Violation::new(
                &file.path,
                format!(
                    "allows `unsafe_code` {allows} times; only the `pre_exec` block in \
                     {UNSAFE_FILE} may (once): write it without `unsafe`"
                ),
            ));
        }
    }
    check("workspace-lints", found);
}
