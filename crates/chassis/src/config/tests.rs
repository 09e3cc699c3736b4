//! Unit tests of `load_config`: defaults < file < `TERN_*` environment, and the errors' wording.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Search {
    store: String,
    replica: Option<String>,
    cache: Cache,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Cache {
    size: u32,
}

struct TempConfig {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn file(text: &str) -> TempConfig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern-search.toml");
    std::fs::write(&path, text).unwrap();
    TempConfig { _dir: dir, path }
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(file: Option<&Path>, vars: &[(&str, &str)]) -> Result<Config<Search>, Error> {
    load_config_from(file, env(vars))
}

fn load_err(file: Option<&Path>, vars: &[(&str, &str)]) -> String {
    load(file, vars).unwrap_err().to_string()
}

#[test]
fn defaults() {
    let config = load(None, &[]).unwrap();
    assert_eq!(config.chassis, ChassisConfig::default());
    assert_eq!(config.chassis.listen.to_string(), "127.0.0.1:0");
    assert_eq!(config.chassis.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(config.chassis.log.format, LogFormat::Json);
    assert_eq!(config.chassis.log.level, "info");
    assert_eq!(config.service, Search::default());
}

#[test]
fn file_overrides_defaults() {
    let f = file(
        r#"
        listen = "0.0.0.0:7000"
        shutdown_timeout = "500ms"
        store = "sqlite:geo.db"
        replica = "postgres://replica"

        [log]
        format = "pretty"

        [cache]
        size = 64
        "#,
    );
    let config = load(Some(&f.path), &[]).unwrap();
    assert_eq!(config.chassis.listen.to_string(), "0.0.0.0:7000");
    assert_eq!(config.chassis.shutdown_timeout, Duration::from_millis(500));
    assert_eq!(config.chassis.log.format, LogFormat::Pretty);
    assert_eq!(
        config.chassis.log.level, "info",
        "untouched keys keep defaults"
    );
    assert_eq!(config.service.store, "sqlite:geo.db");
    assert_eq!(
        config.service.replica.as_deref(),
        Some("postgres://replica")
    );
    assert_eq!(config.service.cache.size, 64);
}

#[test]
fn env_overrides_file() {
    let f = file(
        r#"
        listen = "0.0.0.0:7000"
        store = "sqlite:geo.db"
        [log]
        level = "warn"
        format = "pretty"
        "#,
    );
    let config = load(
        Some(&f.path),
        &[
            ("TERN_LISTEN", "[::1]:7001"),
            ("TERN_LOG__LEVEL", "debug,hyper=info"),
            ("TERN_STORE", "postgres://db/tern"),
            ("TERN_CACHE__SIZE", "128"),
            // Other tools' variables and unrelated ones do not disturb loading.
            ("TERN_DATA_DIR", "/var/lib/tern"),
            ("TERN_REGISTRY", "127.0.0.1:8500"),
            ("TERN_", "x"),
            ("TERN_A____B", "x"),
            ("PATH", "/usr/bin"),
        ],
    )
    .unwrap();
    assert_eq!(config.chassis.listen.to_string(), "[::1]:7001");
    assert_eq!(config.chassis.log.level, "debug,hyper=info");
    assert_eq!(
        config.chassis.log.format,
        LogFormat::Pretty,
        "from the file"
    );
    assert_eq!(config.service.store, "postgres://db/tern");
    assert_eq!(config.service.cache.size, 128);
    assert_eq!(
        config.chassis.registry.as_deref(),
        Some("127.0.0.1:8500"),
        "TERN_REGISTRY is the chassis' registry key, read as a string"
    );
}

#[test]
fn registration_keys() {
    let config = load(
        None,
        &[
            ("TERN_REGISTRY", "consul.internal:8500"),
            ("TERN_CHECK_INTERVAL", "250ms"),
            ("TERN_DEREGISTER_CRITICAL_AFTER", "30s"),
            ("TERN_ADVERTISE_ADDRESS", "10.0.0.7"),
            ("TERN_INSTANCE_ID", "search-service-1"),
        ],
    )
    .unwrap();
    let c = &config.chassis;
    assert_eq!(c.registry.as_deref(), Some("consul.internal:8500"));
    assert_eq!(c.check_interval, Duration::from_millis(250));
    assert_eq!(c.deregister_critical_after, Duration::from_secs(30));
    assert_eq!(c.advertise_address, Some("10.0.0.7".parse().unwrap()));
    assert_eq!(c.instance_id.as_deref(), Some("search-service-1"));

    assert_eq!(
        load_err(None, &[("TERN_REGISTRY", "localhost")]),
        "environment variable TERN_REGISTRY: invalid registry address \"localhost\": expected \
         HOST:PORT, e.g. \"127.0.0.1:8500\""
    );
    assert_eq!(
        load_err(None, &[("TERN_CHECK_INTERVAL", "0s")]),
        "environment variable TERN_CHECK_INTERVAL: must be greater than 0, e.g. \"1s\""
    );
    let f = file("instance_id = \"a/b\"\n");
    assert_eq!(
        load_err(Some(&f.path), &[]),
        format!(
            "config file {}: instance_id: invalid instance ID \"a/b\": expected 1 to 128 ASCII \
             letters, digits, '-', '_' or '.'",
            f.path.display()
        )
    );
}

#[test]
fn config_prefix() {
    let config = load(None, &[("TERN_CONFIG_PREFIX", "config/prod/search/")]).unwrap();
    assert_eq!(
        config.chassis.config_prefix.as_deref(),
        Some("config/prod/search/")
    );
    for bad in [
        "",
        "/",
        "config/search",
        "/config/",
        "config//x/",
        "a/../",
        "a b/",
        "./",
    ] {
        assert_eq!(
            load_err(None, &[("TERN_CONFIG_PREFIX", bad)]),
            format!(
                "environment variable TERN_CONFIG_PREFIX: invalid config prefix {bad:?}: \
                 expected KV path segments of ASCII letters, digits, '-', '_' or '.', each \
                 ending in '/', e.g. \"config/search/\""
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn bad_value_in_file_names_file_key_and_form() {
    let f = file("listen = \"127.0.0.1\"\n");
    assert_eq!(
        load_err(Some(&f.path), &[]),
        format!(
            "config file {}: listen: invalid socket address \"127.0.0.1\": expected IP:PORT, \
             e.g. \"127.0.0.1:7000\" or \"[::1]:7000\"",
            f.path.display()
        )
    );

    let f = file("shutdown_timeout = \"10 s\"\n");
    assert_eq!(
        load_err(Some(&f.path), &[]),
        format!(
            "config file {}: shutdown_timeout: invalid duration \"10 s\": expected a number \
             followed by a unit (ns, us, ms, s, m, h), e.g. \"500ms\", \"10s\", \"1m30s\"",
            f.path.display()
        )
    );

    let f = file("[log]\nformat = \"xml\"\n");
    assert_eq!(
        load_err(Some(&f.path), &[]),
        format!(
            "config file {}: log.format: unknown value \"xml\": expected one of \"json\", \"pretty\"",
            f.path.display()
        )
    );

    let f = file("[cache]\nsize = \"big\"\n");
    assert_eq!(
        load_err(Some(&f.path), &[]),
        format!(
            "config file {}: cache.size: invalid type: found string \"big\", expected u32",
            f.path.display()
        )
    );
}

#[test]
fn bad_value_in_env_names_the_variable() {
    assert_eq!(
        load_err(None, &[("TERN_LISTEN", "localhost")]),
        "environment variable TERN_LISTEN: invalid socket address \"localhost\": expected \
         IP:PORT, e.g. \"127.0.0.1:7000\" or \"[::1]:7000\""
    );
    assert_eq!(
        load_err(None, &[("TERN_SHUTDOWN_TIMEOUT", "10")]),
        "environment variable TERN_SHUTDOWN_TIMEOUT: invalid type: found unsigned int `10`, \
         expected a duration string such as \"10s\" or \"500ms\""
    );
    assert_eq!(
        load_err(None, &[("TERN_LOG__LEVEL", "search=loud")]),
        "environment variable TERN_LOG__LEVEL: invalid log filter \"search=loud\": expected \
         a tracing directive such as \"info\" or \"warn,search=debug\""
    );
}

#[test]
fn missing_file_given_explicitly_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    assert_eq!(
        load_err(Some(&path), &[]),
        format!("config file {}: not found", path.display())
    );
}

#[test]
fn unknown_keys_in_the_file_are_errors() {
    let f = file("stroe = \"x\"\n[log]\nlevle = \"debug\"\n[cache]\nsise = 1\n");
    assert_eq!(
        load_err(Some(&f.path), &[]),
        format!(
            "config file {}: unknown keys \"cache.sise\", \"log.levle\", \"stroe\"",
            f.path.display()
        )
    );
    // ... but not in the environment, where other tools' variables live.
    let f = file("store = \"x\"\n");
    assert!(load(
        Some(&f.path),
        &[("TERN_STROE", "x"), ("TERN_LOG__LEVLE", "x")]
    )
    .is_ok());
}

#[test]
fn toml_syntax_errors_name_the_file() {
    let f = file("listen = \n");
    let err = load_err(Some(&f.path), &[]);
    assert!(
        err.starts_with(&format!("config file {}: ", f.path.display())),
        "{err}"
    );
}

#[test]
fn invalid_log_level_from_file() {
    let f = file("[log]\nlevel = \"search=loud\"\n");
    assert_eq!(
        load_err(Some(&f.path), &[]),
        format!(
            "config file {}: log.level: invalid log filter \"search=loud\": expected a tracing \
             directive such as \"info\" or \"warn,search=debug\"",
            f.path.display()
        )
    );
}

#[test]
fn validate_checks_configs_built_in_code() {
    let mut config = ChassisConfig::default();
    assert!(config.validate().is_ok());
    config.log.level = "a=b=c".to_owned();
    assert!(config
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("config: log.level: invalid log filter"));
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct NoServiceKeys {}

#[test]
fn services_without_their_own_keys() {
    let f = file("listen = \"127.0.0.1:7000\"\n");
    let config = load_config_from::<NoServiceKeys, _>(Some(&f.path), env(&[])).unwrap();
    assert_eq!(config.chassis.listen.port(), 7000);
    let config = load_config_from::<(), _>(Some(&f.path), env(&[])).unwrap();
    assert_eq!(config.chassis.listen.port(), 7000);
}

#[test]
fn unknown_keys_without_service_keys() {
    let f = file("listen = \"127.0.0.1:7000\"\nstore = \"x\"\n");
    let err = load_config_from::<(), _>(Some(&f.path), env(&[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("config file {}: unknown key \"store\"", f.path.display())
    );
}

#[test]
fn port_sets_the_listen_port_below_tern_listen() {
    let config = load(None, &[("PORT", "7100")]).unwrap();
    assert_eq!(config.chassis.listen.to_string(), "127.0.0.1:7100");
    let f = file("listen = \"0.0.0.0:7000\"\n");
    let config = load(Some(&f.path), &[("PORT", "7100")]).unwrap();
    assert_eq!(config.chassis.listen.to_string(), "0.0.0.0:7100");
    let config = load(
        Some(&f.path),
        &[("PORT", "7100"), ("TERN_listen", "127.0.0.1:7200")],
    )
    .unwrap();
    assert_eq!(config.chassis.listen.to_string(), "127.0.0.1:7200");
    assert_eq!(
        load_err(None, &[("PORT", "http")]),
        "environment variable PORT: invalid port \"http\": expected a number from 0 to 65535"
    );
}

#[test]
fn registered_by_comes_from_the_environment() {
    let config = load(None, &[("TERN_REGISTERED_BY", "supervisor")]).unwrap();
    assert_eq!(config.chassis.registered_by.as_deref(), Some("supervisor"));
    assert_eq!(
        load_err(None, &[("TERN_REGISTERED_BY", "\"\"")]),
        "environment variable TERN_REGISTERED_BY: expected who registers the instance, e.g. \
         \"supervisor\", found an empty string"
    );
}
