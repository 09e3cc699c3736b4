//! Configurations the service refuses at build time, with messages that say what is wrong
//! and what was expected.

use std::time::Duration;

use search_service::{QueryMode, SearchConfig, SearchService};

use crate::support::*;

async fn build_error(service: SearchConfig) -> String {
    match SearchService::build(&config(service)).await {
        Ok(_) => panic!("the configuration should be rejected"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn an_unknown_store_url_is_rejected_naming_it_and_the_accepted_forms() {
    let dir = temp_dir();
    let message = build_error(SearchConfig {
        store: Some("foo://x".to_owned()),
        ..embedded(dir.path())
    })
    .await;
    assert!(message.contains("\"foo://x\""), "{message}");
    assert!(
        message.contains("expected sqlite:PATH, PATH.db or postgres://"),
        "{message}"
    );
}

#[tokio::test]
async fn database_mode_needs_a_postgres_store() {
    let dir = temp_dir();
    let message = build_error(SearchConfig {
        query_mode: QueryMode::Database,
        ..embedded(dir.path())
    })
    .await;
    assert!(
        message.starts_with("invalid search configuration"),
        "{message}"
    );
    assert!(
        message.contains("query_mode = \"database\" needs a postgres:// store"),
        "{message}"
    );
    assert!(message.contains("sqlite:"), "names the store: {message}");
    assert!(
        !dir.path().join("search").exists(),
        "nothing is created for a rejected configuration"
    );
}

#[tokio::test]
async fn a_zero_reload_interval_is_rejected() {
    let dir = temp_dir();
    let message = build_error(SearchConfig {
        reload_interval: Duration::ZERO,
        ..embedded(dir.path())
    })
    .await;
    assert!(message.contains("reload_interval"), "{message}");
}

#[tokio::test]
async fn an_unreachable_postgres_store_fails_the_build_naming_it_without_the_password() {
    let dir = temp_dir();
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let message = build_error(SearchConfig {
        store: Some("postgres://tern:s3cret@127.0.0.1:1/tern".to_owned()),
        ..embedded(dir.path())
    })
    .await;
    assert!(
        message.contains("postgres://tern@127.0.0.1:1/tern"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
}
