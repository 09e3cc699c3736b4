//! Durations on the command line, in Go syntax as everywhere in tern (`30s`, `5m`,
//! `1h30m`, `500ms`).

use std::time::Duration;

pub fn parse(text: &str) -> Result<Duration, String> {
    tern_registry::state::parse_go_duration(text).ok_or_else(|| {
        format!("invalid duration {text:?}: expected e.g. \"30s\", \"5m\", \"1h30m\"")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert!(parse("5 minutes").unwrap_err().contains("expected"));
    }
}
