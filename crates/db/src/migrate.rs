//! Migrations: which to apply (pure), recorded in `tern_migrations` with a checksum of
//! their SQL so an edited migration is caught instead of silently diverging.

use crate::Error;

/// The table both engines record applied migrations in.
pub(crate) const TABLE: &str = "CREATE TABLE IF NOT EXISTS tern_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";
pub(crate) const APPLIED: &str = "SELECT version, name, checksum FROM tern_migrations";
pub(crate) const RECORD: &str =
    "INSERT INTO tern_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)";

/// One schema change: `version`s start at 1 and increase; `sql` may hold several
/// statements.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub const fn new(version: u32, name: &'static str, sql: &'static str) -> Migration {
        Migration { version, name, sql }
    }

    /// 64-bit FNV-1a of the SQL, in hex: stable across runs and versions.
    pub(crate) fn checksum(&self) -> String {
        let hash = self
            .sql
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("{hash:016x}")
    }
}

/// A migration the database already has.
pub(crate) struct Applied {
    pub version: u32,
    pub checksum: String,
}

/// The migrations to apply, in order, given what the database has.
pub(crate) fn pending<'m>(
    migrations: &'m [Migration],
    applied: &[Applied],
    url: &str,
) -> Result<Vec<&'m Migration>, Error> {
    let mut previous = 0;
    let mut pending = Vec::new();
    for migration in migrations {
        if migration.version <= previous {
            return Err(Error::Migration {
                version: migration.version,
                name: migration.name.to_owned(),
                url: url.to_owned(),
                detail: format!("versions must start at 1 and increase (after {previous})"),
            });
        }
        previous = migration.version;
        match applied.iter().find(|a| a.version == migration.version) {
            Some(done) if done.checksum != migration.checksum() => {
                return Err(Error::MigrationChanged {
                    version: migration.version,
                    name: migration.name.to_owned(),
                    url: url.to_owned(),
                })
            }
            Some(_) => {}
            None => pending.push(migration),
        }
    }
    Ok(pending)
}

/// Now, as RFC 3339 UTC, for `applied_at`.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Migration = Migration::new(1, "one", "CREATE TABLE a (x TEXT)");
    const TWO: Migration = Migration::new(2, "two", "CREATE TABLE b (x TEXT)");

    fn applied(m: &Migration) -> Applied {
        Applied {
            version: m.version,
            checksum: m.checksum(),
        }
    }

    #[test]
    fn only_what_is_missing_is_pending_in_order() {
        let pending = pending(&[ONE, TWO], &[applied(&ONE)], "db").unwrap();
        assert_eq!(pending.iter().map(|m| m.version).collect::<Vec<_>>(), [2]);
        assert_eq!(pending_versions(&[ONE, TWO], &[]), [1, 2]);
    }

    #[test]
    fn a_newer_replicas_migration_is_left_alone() {
        assert!(pending_versions(&[ONE], &[applied(&ONE), applied(&TWO)]).is_empty());
    }

    #[test]
    fn an_edited_migration_and_bad_versions_are_errors() {
        let edited = Applied {
            version: 1,
            checksum: "0".into(),
        };
        let error = pending(&[ONE], &[edited], "db").unwrap_err().to_string();
        assert!(
            error.contains("was changed after it was applied"),
            "{error}"
        );
        assert!(pending(&[TWO, ONE], &[], "db").is_err());
        assert!(pending(&[Migration::new(0, "zero", "")], &[], "db").is_err());
    }

    fn pending_versions(migrations: &[Migration], done: &[Applied]) -> Vec<u32> {
        pending(migrations, done, "db")
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect()
    }
}
