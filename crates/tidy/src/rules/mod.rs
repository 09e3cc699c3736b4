//! One `#[test]` per rule of ARCHITECTURE.md that code can check, grouped by what they read.

mod boundaries;
mod dependencies;
mod files;
mod lints;
