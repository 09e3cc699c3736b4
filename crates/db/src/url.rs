//! `DatabaseUrl`: `sqlite:PATH` (also `sqlite://PATH`) or `postgres://...`, never printing a
//! password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::Error;

const EXPECTED: &str = "expected sqlite:PATH or postgres://USER@HOST/DATABASE";

/// Which database a service uses.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl FromStr for DatabaseUrl {
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
            return Ok(DatabaseUrl::Postgres(s.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(invalid(format!("empty path; {EXPECTED}")));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        Err(invalid(EXPECTED.to_owned()))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Removes the password from a connection string: from a URL's user info (`user:pw@host`) and
/// `password=` query parameter, or from a key-value string's `password=` pair.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|kv| !kv.starts_with("password="))
            .collect();
        return kept.join(" ");
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (user_info, host) = authority.split_at(at);
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{user}{host}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|kv| !kv.starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_postgres_urls_parse() {
        assert_eq!(
            "sqlite:data/users.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite("data/users.db".into())
        );
        assert_eq!(
            "sqlite:///tmp/u.db".parse::<DatabaseUrl>().unwrap(),
            DatabaseUrl::Sqlite("/tmp/u.db".into())
        );
        assert!(matches!(
            "postgres://tern@127.0.0.1:5432/users".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Postgres(_))
        ));
    }

    #[test]
    fn bad_urls_name_what_is_expected_and_hide_the_password() {
        let error = "mysql://u:secret@h/db".parse::<DatabaseUrl>().unwrap_err();
        let message = error.to_string();
        assert!(message.contains("expected sqlite:PATH"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        assert!("sqlite:".parse::<DatabaseUrl>().is_err());
        let url: DatabaseUrl = "postgres://u:secret@h/db?password=x&sslmode=disable"
            .parse()
            .unwrap();
        assert_eq!(url.to_string(), "postgres://u@h/db?sslmode=disable");
        assert_eq!(redact("host=h password=s3cret dbname=d"), "host=h dbname=d");
    }
}
