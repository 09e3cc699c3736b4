//! tern-db against both engines: the same calls on a SQLite file and on a throwaway
//! PostgreSQL (skipped where PostgreSQL is not installed, unless CI is set).

use tern_db::{Database, DatabaseUrl, Error, Migration, Value};
use tern_test_support::postgres::TempPostgis;

const MIGRATIONS: &[Migration] = &[
    Migration::new(
        1,
        "create note",
        "CREATE TABLE note (id TEXT PRIMARY KEY, body TEXT NOT NULL, stars BIGINT, score DOUBLE PRECISION);
         CREATE UNIQUE INDEX note_body ON note (body);",
    ),
    Migration::new(2, "add author", "ALTER TABLE note ADD COLUMN author TEXT"),
];

async fn exercise(db: &Database) {
    assert_eq!(db.migrate(MIGRATIONS).await.unwrap(), [1, 2]);
    assert!(
        db.migrate(MIGRATIONS).await.unwrap().is_empty(),
        "applied once"
    );

    let inserted = db
        .execute(
            "INSERT INTO note (id, body, stars, score, author) VALUES ($1, $2, $3, $4, $5)",
            &[
                "a".into(),
                "first".into(),
                3_i64.into(),
                0.5.into(),
                Value::Null,
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    // Parameters out of order bind by number on both engines.
    db.execute(
        "UPDATE note SET author = $2 WHERE id = $1",
        &["a".into(), "ann".into()],
    )
    .await
    .unwrap();
    let row = db
        .query_opt(
            "SELECT id, body, stars, score, author FROM note WHERE id = $1",
            &["a".into()],
        )
        .await
        .unwrap()
        .expect("the row");
    assert_eq!(row.get::<String>("body").unwrap(), "first");
    assert_eq!(row.get::<i64>("stars").unwrap(), 3);
    assert_eq!(row.get::<f64>("score").unwrap(), 0.5);
    assert_eq!(
        row.get::<Option<String>>("author").unwrap().as_deref(),
        Some("ann")
    );

    let duplicate = db
        .execute(
            "INSERT INTO note (id, body) VALUES ($1, $2)",
            &["b".into(), "first".into()],
        )
        .await
        .unwrap_err();
    assert!(matches!(duplicate, Error::Unique { .. }), "{duplicate:?}");

    let returned = db
        .query(
            "INSERT INTO note (id, body) VALUES ($1, $2) RETURNING id",
            &["c".into(), "second".into()],
        )
        .await
        .unwrap();
    assert_eq!(returned[0].get::<String>("id").unwrap(), "c");
    assert!(db
        .query_opt("SELECT id FROM note WHERE id = $1", &["zzz".into()])
        .await
        .unwrap()
        .is_none());

    let bad = db.query("SELECT nope FROM note", &[]).await.unwrap_err();
    assert!(bad.to_string().contains("nope"), "{bad}");

    let edited = [Migration::new(
        1,
        "create note",
        "CREATE TABLE other (x TEXT)",
    )];
    let error = db.migrate(&edited).await.unwrap_err().to_string();
    assert!(
        error.contains("was changed after it was applied"),
        "{error}"
    );
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url: DatabaseUrl = format!("sqlite:{}/sub/notes.db", dir.path().display())
        .parse()
        .unwrap();
    exercise(&Database::connect(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres() {
    let Some(pg) = TempPostgis::start_or_skip() else {
        return;
    };
    let url: DatabaseUrl = pg.url().parse().unwrap();
    exercise(&Database::connect(&url).await.unwrap()).await;
}

#[tokio::test]
async fn concurrent_migrations_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let url: DatabaseUrl = format!("sqlite:{}/race.db", dir.path().display())
        .parse()
        .unwrap();
    let (a, b) = tokio::join!(
        async {
            Database::connect(&url)
                .await
                .unwrap()
                .migrate(MIGRATIONS)
                .await
                .unwrap()
        },
        async {
            Database::connect(&url)
                .await
                .unwrap()
                .migrate(MIGRATIONS)
                .await
                .unwrap()
        },
    );
    let mut all: Vec<u32> = a.into_iter().chain(b).collect();
    all.sort();
    assert_eq!(all, [1, 2]);
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_connect_error_without_the_password() {
    let url: DatabaseUrl = "postgres://tern:secret@127.0.0.1:1/db?connect_timeout=2"
        .parse()
        .unwrap();
    let error = Database::connect(&url).await.unwrap_err().to_string();
    assert!(
        error.starts_with("cannot open postgres://tern@127.0.0.1:1/db"),
        "{error}"
    );
    assert!(!error.contains("secret"), "{error}");
}
