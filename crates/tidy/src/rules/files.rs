//! Rules about source files themselves: a `//!` header on each, none too long, and a thin
//! `tern` binary.

use crate::known::{check, Violation};
use crate::workspace::workspace;

/// The longest a source file may be, unit tests inside it included.
const MAX_FILE_LINES: usize = 800;

/// The most lines `crates/tern/src` may hold in total: the binary parses arguments and
/// calls libraries.
const MAX_BINARY_LINES: usize = 2_500;

#[test]
fn every_source_file_starts_with_a_header() {
    let found = workspace()
        .files
        .iter()
        .filter(|f| !f.text.starts_with("//!"))
        .map(|f| {
            Violation::new(
                &f.path,
                "does not start with a `//!` header: add one that says what the file is",
            )
        })
        .collect();
    check("file-header", found);
}

#[test]
fn no_source_file_is_too_long() {
    let found = workspace()
        .files
        .iter()
        .filter_map(|f| {
            let lines = f.text.lines().count();
            (lines > MAX_FILE_LINES).then(|| {
                Violation::new(
                    &f.path,
                    format!(
                        "has {lines} lines, more than {MAX_FILE_LINES} (unit tests included): \
                         split it along what it does, or move its unit tests into a \
                         `tests.rs` module next to it"
                    ),
                )
            })
        })
        .collect();
    check("file-length", found);
}

#[test]
fn the_tern_binary_stays_thin() {
    let dir = "crates/tern/src";
    let lines: usize = workspace()
        .files_under(dir)
        .map(|f| f.text.lines().count())
        .sum();
    let mut found = Vec::new();
    if lines >= MAX_BINARY_LINES {
        found.push(Violation::new(
            dir,
            format!(
                "holds {lines} lines, {MAX_BINARY_LINES} or more: the binary parses arguments \
                 and calls libraries; move the logic into a library crate (the one it \
                 belongs to, or a new one) and call it"
            ),
        ));
    }
    check("tern-binary-size", found);
}
