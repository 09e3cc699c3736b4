//! The tidy test: the rules of ARCHITECTURE.md that code can check, checked on every
//! `cargo test` (in the style of rust-analyzer's `tidy.rs`).
//!
//! It reads the workspace's sources and manifests with plain `std` (no build, no cargo
//! metadata), so it runs in well under a second. Each rule is one `#[test]` in `rules/`;
//! a failure names the file, the rule and how to fix it. Rules the code breaks today
//! while someone fixes them are listed in [`known`]'s `KNOWN_VIOLATIONS`, and a listed
//! violation that no longer occurs fails too, so the list only shrinks.
//!
//! The crate has no library code: everything is `#[cfg(test)]`.
#![cfg(test)]

mod known;
mod rules;
mod workspace;
