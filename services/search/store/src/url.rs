//! `StoreUrl`: where the features live (`sqlite:PATH`, `PATH.db`, `postgres://...`), never
//! printing a password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use tern_db::redact;

use crate::Error;

const EXPECTED: &str = "expected sqlite:PATH, PATH.db or postgres://…";

/// Where the features live.
///
/// Parsed from `sqlite:PATH`, a bare `PATH.db` (also `.sqlite`, `.sqlite3`), or a
/// `postgres://` / `postgresql://` connection URL. `Display` and `Debug` never show a password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl FromStr for StoreUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let invalid = |reason: String| Error::InvalidUrl {
            url: redact(s),
            reason,
        };
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            tokio_postgres::Config::from_str(s)
                .map_err(|e| invalid(format!("not a valid PostgreSQL URL ({e})")))?;
            return Ok(StoreUrl::Postgres(s.to_owned()));
        }
        if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(invalid(format!("empty path; {EXPECTED}")));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        let is_db_file = [".db", ".sqlite", ".sqlite3"]
            .iter()
            .any(|ext| s.len() > ext.len() && s.ends_with(ext));
        if is_db_file && !s.contains("://") {
            return Ok(StoreUrl::Sqlite(PathBuf::from(s)));
        }
        Err(invalid(EXPECTED.to_owned()))
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreUrl::Postgres(url) => f.debug_tuple("Postgres").field(&redact(url)).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<StoreUrl, String> {
        s.parse::<StoreUrl>().map_err(|e| e.to_string())
    }

    #[test]
    fn parses_the_accepted_forms() {
        assert_eq!(
            parse("sqlite:.tern/search/features.db"),
            Ok(StoreUrl::Sqlite(".tern/search/features.db".into()))
        );
        assert_eq!(parse("sqlite:x"), Ok(StoreUrl::Sqlite("x".into())));
        assert_eq!(parse("/a/b.db"), Ok(StoreUrl::Sqlite("/a/b.db".into())));
        assert_eq!(parse("b.sqlite3"), Ok(StoreUrl::Sqlite("b.sqlite3".into())));
        assert_eq!(
            parse("postgres://u:pw@localhost:5432/db"),
            Ok(StoreUrl::Postgres(
                "postgres://u:pw@localhost:5432/db".into()
            ))
        );
        assert!(matches!(
            parse("postgresql://localhost/db"),
            Ok(StoreUrl::Postgres(_))
        ));
    }

    #[test]
    fn rejects_others_with_the_expected_forms() {
        assert_eq!(
            parse("foo://x").unwrap_err(),
            "invalid store URL \"foo://x\": expected sqlite:PATH, PATH.db or postgres://…"
        );
        assert!(parse("features.json").is_err());
        assert!(parse(".db").is_err());
        assert!(parse("sqlite:").unwrap_err().contains("empty path"));
        assert!(parse("http://x/y.db").is_err());
    }

    #[test]
    fn never_shows_the_password() {
        let url = parse("postgres://tern:s3cret@db.example:5432/geo?sslmode=disable").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://tern@db.example:5432/geo?sslmode=disable"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(
            redact("postgresql://h/db?password=s3cret&user=a"),
            "postgresql://h/db?user=a"
        );
        assert_eq!(redact("postgres://h/db?password=x"), "postgres://h/db");
        assert_eq!(redact("host=h password=s3cret dbname=d"), "host=h dbname=d");
        let err = parse("postgres://u:s3cret@h:notaport/db").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
