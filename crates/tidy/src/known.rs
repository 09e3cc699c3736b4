//! The rules the code breaks today, while someone fixes them, and the one comparison every
//! rule ends with: what it found against what is known.

/// `(rule, subject)`: a violation that is allowed for now. The test fails when a listed
/// violation no longer occurs, so fixed ones must be removed and the list only shrinks.
/// Never add to it to make a new violation pass: fix the code.
const KNOWN_VIOLATIONS: &[(&str, &str)] = &[];

/// One break of a rule.
pub(crate) struct Violation {
    /// What breaks it: a file, a directory or a manifest entry, relative to the root.
    pub(crate) subject: String,
    /// What is wrong and how to fix it.
    pub(crate) message: String,
}

impl Violation {
    pub(crate) fn new(subject: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            subject: subject.into(),
            message: message.into(),
        }
    }
}

/// Fails with every violation of `rule` that is not known, and every known one of `rule`
/// that no longer occurs.
pub(crate) fn check(rule: &str, found: Vec<Violation>) {
    let known: Vec<&str> = KNOWN_VIOLATIONS
        .iter()
        .filter(|(r, _)| *r == rule)
        .map(|(_, subject)| *subject)
        .collect();
    let mut problems: Vec<String> = found
        .iter()
        .filter(|v| !known.contains(&v.subject.as_str()))
        .map(|v| format!("{}: {} [rule `{rule}`]", v.subject, v.message))
        .collect();
    for subject in known {
        if !found.iter().any(|v| v.subject == subject) {
            problems.push(format!(
                "{subject}: no longer breaks rule `{rule}`: remove it from KNOWN_VIOLATIONS \
                 in crates/tidy/src/known.rs"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "tidy (ARCHITECTURE.md, \"Rules and the tests that check them\"):\n{}",
        problems.join("\n")
    );
}
