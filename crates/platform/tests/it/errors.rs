//! One test per error class: the whole message, with file, line and column.

use expect_test::expect;

use crate::error;

#[test]
fn syntax_errors() {
    expect![[r#"tern.toml:2:11: invalid TOML: invalid string: expected `"`, `'`"#]]
        .assert_eq(&error("[services.search]\nbuiltin = search\n"));
    expect!["tern.toml:3:1: invalid TOML: duplicate key `http` in table `registry`"]
        .assert_eq(&error("[registry]\nhttp = \"a\"\nhttp = \"b\"\n"));
}

#[test]
fn type_errors() {
    expect![
        "tern.toml:3:12: services.search.replicas: expected a non-negative integer, found a string"
    ]
    .assert_eq(&error(
        "[services.search]\nbuiltin = \"search\"\nreplicas = \"two\"\n",
    ));
    expect!["tern.toml:3:12: services.search.replicas: expected a non-negative integer, found -1"]
        .assert_eq(&error(
            "[services.search]\nbuiltin = \"search\"\nreplicas = -1\n",
        ));
    expect!["tern.toml:2:17: services.a.command[1]: expected a string, found an integer"]
        .assert_eq(&error("[services.a]\ncommand = [\"a\", 1]\n"));
    expect!["tern.toml:2:11: services.a.command: expected an array of the program and its arguments, found a string"].assert_eq(&error("[services.a]\ncommand = \"a b\"\n"));
    expect!["tern.toml:3:16: services.a.env.PORT: expected a string, found an integer"].assert_eq(
        &error("[services.a]\ncommand = [\"a\"]\nenv = { PORT = 8080 }\n"),
    );
    expect!["tern.toml:3:21: services.a.restart_on_change: expected true or false, found a string"]
        .assert_eq(&error(
            "[services.a]\ncommand = [\"a\"]\nrestart_on_change = \"yes\"\n",
        ));
    expect!["tern.toml:1:12: services: expected a table of services, one [services.NAME] each, found an array"].assert_eq(&error("services = [1]\n"));
    expect![[r#"tern.toml:2:17: supervisor.log_max_bytes: expected a size like "16MiB", "512KiB" or a number of bytes, found "16 MiB""#]].assert_eq(&error("[supervisor]\nlog_max_bytes = \"16 MiB\"\n"));
    expect!["tern.toml:3:12: services.a.replicas: expected an integer up to 4294967295, found 5000000000"].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nreplicas = 5000000000\n"));
    expect!["tern.toml:2:17: supervisor.log_max_bytes: expected a size greater than 0, found 0"]
        .assert_eq(&error("[supervisor]\nlog_max_bytes = 0\n"));
    expect![[r#"tern.toml:3:11: services.a.restart: expected one of "always", "on-failure", "never", found "sometimes""#]].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nrestart = \"sometimes\"\n"));
}

#[test]
fn unknown_keys_name_the_allowed_ones() {
    expect!["tern.toml:3:1: services.search.replica: unknown key, expected one of: build, builtin, command, config_prefix, depends_on, drain, env, health, meta, metrics_path, readiness_timeout, register, register_as, replicas, restart, restart_on_change, stop_timeout, tags, unhealthy_restart_after, workdir"].assert_eq(&error("[services.search]\nbuiltin = \"search\"\nreplica = 2\n"));
    expect!["tern.toml:2:1: registry.port: unknown key, expected one of: dns, embedded, external, http, token"].assert_eq(&error("[registry]\nport = 8500\n"));
    expect!["tern.toml:3:26: services.a.health.retries: unknown key, expected one of: interval, kind, path, timeout"].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nhealth = { kind = \"tcp\", retries = 3 }\n"));
    expect!["tern.toml:1:1: registy: unknown key, expected one of: broker, registry, services, supervisor, telemetry"]
        .assert_eq(&error("registy = {}\n"));
    // The control API's old TCP address: the error says where the API went.
    expect!["tern.toml:2:1: supervisor.control: no longer a setting: the control API listens on DATA_DIR/supervisor/control.sock, reachable only by the user running `tern up`; remove this key"].assert_eq(&error("[supervisor]\ncontrol = \"127.0.0.1:7000\"\n"));
    expect![
        "tern.toml:2:1: broker.listen: applies only to the embedded broker, and `external` is set"
    ]
    .assert_eq(&error(
        "[broker]\nlisten = \"127.0.0.1:9092\"\nexternal = \"kafka:9092\"\n",
    ));
    expect!["tern.toml:2:14: broker.partitions: expected at least 1 partition, found 0"]
        .assert_eq(&error("[broker]\npartitions = 0\n"));
    expect![[r#"tern.toml:2:9: broker.flush: expected "always", "os" or a duration like "100ms", found "sometimes""#]].assert_eq(&error("[broker]\nflush = \"sometimes\"\n"));
    expect!["tern.toml:3:1: broker.external: `embedded = true` and `external` contradict each other: remove one"].assert_eq(&error("[broker]\nembedded = true\nexternal = \"kafka:9092\"\n"));
    expect![[r#"tern.toml:2:12: broker.external: expected an address HOST:PORT like "kafka.internal:9092", found "kafka""#]].assert_eq(&error("[broker]\nexternal = \"kafka\"\n"));
}

#[test]
fn builtin_and_command_both_or_neither() {
    expect!["tern.toml:3:1: services.a.command: `builtin` and `command` are both given: a service runs one or the other"].assert_eq(&error("[services.a]\nbuiltin = \"search\"\ncommand = [\"a\"]\n"));
    expect![[r#"tern.toml:1:11: services.a: expected `builtin = "search"` or `command = ["PROGRAM", "ARG", ...]`, found neither"#]].assert_eq(&error("[services.a]\nreplicas = 1\n"));
}

#[test]
fn unknown_builtin() {
    expect![[r#"tern.toml:2:11: services.a.builtin: unknown built-in service "serch", expected one of: "search""#]].assert_eq(&error("[services.a]\nbuiltin = \"serch\"\n"));
}

#[test]
fn empty_command() {
    expect!["tern.toml:2:11: services.a.command: expected an array of the program and its arguments, found an empty array"].assert_eq(&error("[services.a]\ncommand = []\n"));
    expect!["tern.toml:2:12: services.a.command[0]: expected the program's name or path, found an empty string"].assert_eq(&error("[services.a]\ncommand = [\"\", \"x\"]\n"));
}

#[test]
fn bad_durations() {
    for bad in ["10 s", "-1s", "", "10", "1d"] {
        let text = format!("[services.a]\ncommand = [\"a\"]\ndrain = {bad:?}\n");
        assert_eq!(
            error(&text),
            format!(
                "tern.toml:3:9: services.a.drain: expected a duration like \"10s\", \"500ms\" or \
                 \"1m30s\", found {bad:?}"
            )
        );
    }
    expect![[r#"tern.toml:3:23: services.a.health.interval: expected a duration like "10s", "500ms" or "1m30s", found an integer"#]].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nhealth = { interval = 5 }\n"));
}

#[test]
fn zero_durations_where_they_make_no_sense() {
    expect![[r#"tern.toml:3:21: services.a.readiness_timeout: expected a duration greater than 0, found "0s""#]].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nreadiness_timeout = \"0s\"\n"));
    expect![[r#"tern.toml:3:19: services.a.health.interval: expected a duration greater than 0, found "0""#]].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nhealth.interval = \"0\"\n"));
}

#[test]
fn unknown_depends_on_target() {
    expect![[r#"tern.toml:3:20: services.a.depends_on: unknown service "c", expected one of: a, b"#]].assert_eq(&error(
        "[services.a]\ncommand = [\"a\"]\ndepends_on = [\"b\", \"c\"]\n\n[services.b]\ncommand = [\"b\"]\n",
    ));
}

#[test]
fn dependency_cycles_are_named() {
    expect!["tern.toml:11:15: services.c.depends_on: dependency cycle: c -> a -> b -> c"]
        .assert_eq(&error(
            r#"[services.a]
command = ["a"]
depends_on = ["b"]

[services.b]
command = ["b"]
depends_on = ["c"]

[services.c]
command = ["c"]
depends_on = ["a"]
"#,
        ));
    expect!["tern.toml:3:15: services.a.depends_on: dependency cycle: a -> a"].assert_eq(&error(
        "[services.a]\ncommand = [\"a\"]\ndepends_on = [\"a\"]\n",
    ));
}

#[test]
fn duplicate_register_as() {
    expect![[r#"tern.toml:7:15: services.b.register_as: "API" is already the registry name of services.a"#]].assert_eq(&error(
        "[services.a]\ncommand = [\"a\"]\nregister_as = \"api\"\n\n[services.b]\ncommand = [\"b\"]\nregister_as = \"API\"\n",
    ));
    expect![[r#"tern.toml:4:11: services.search: registers as "search-service" by default, already the registry name of services.geo: set `register_as`"#]].assert_eq(&error(
        "[services.geo]\nbuiltin = \"search\"\n\n[services.search]\nbuiltin = \"search\"\n",
    ));
}

#[test]
fn bad_socket_addresses() {
    expect![[r#"tern.toml:2:8: registry.http: expected a socket address IP:PORT like "127.0.0.1:8500", found "localhost:8500""#]].assert_eq(&error("[registry]\nhttp = \"localhost:8500\"\n"));
    expect![[r#"tern.toml:2:12: registry.external: expected an address HOST:PORT like "consul.internal:8500", found "http://consul:8500""#]].assert_eq(&error("[registry]\nexternal = \"http://consul:8500\"\n"));
}

#[test]
fn contradicting_keys_in_one_file() {
    expect!["tern.toml:3:1: registry.external: `embedded = true` and `external` contradict each other: remove one"].assert_eq(&error("[registry]\nembedded = true\nexternal = \"consul:8500\"\n"));
    expect![[r#"tern.toml:2:12: registry.embedded: embedded = false needs `external = "HOST:PORT"`, the registry to use instead"#]].assert_eq(&error("[registry]\nembedded = false\n"));
    expect![
        "tern.toml:3:1: registry.dns: applies only to the embedded registry, and `external` is set"
    ]
    .assert_eq(&error(
        "[registry]\nexternal = \"consul:8500\"\ndns = \"127.0.0.1:53\"\n",
    ));
    expect![[r#"tern.toml:3:12: services.a.health.path: applies only to kind = "http", and the kind is "tcp""#]].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nhealth = { path = \"/h\" }\n"));
}

#[test]
fn bad_names_and_prefixes() {
    expect!["tern.toml:1:11: services.my_service: invalid service name: expected 1 to 63 ASCII letters, digits or '-', not starting with '-'"].assert_eq(&error("[services.my_service]\ncommand = [\"a\"]\n"));
    expect![[r#"tern.toml:3:15: services.a.register_as: expected a service name: 1 to 63 ASCII letters, digits or '-', not starting with '-', found "a.b""#]].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nregister_as = \"a.b\"\n"));
    expect![[r#"tern.toml:3:17: services.a.config_prefix: expected a KV prefix ending in "/" like "config/search/", found "config/a""#]].assert_eq(&error("[services.a]\ncommand = [\"a\"]\nconfig_prefix = \"config/a\"\n"));
    let err = tern_platform::parse(
        "",
        "tern.toml",
        None,
        Some("../x"),
        std::path::Path::new("/p"),
    )
    .unwrap_err();
    expect![[
        r#"invalid environment name "../x": expected 1 to 63 ASCII letters, digits, '-' or '_'"#
    ]]
    .assert_eq(&err.to_string());
}

#[test]
fn registration_keys() {
    expect![[r#"tern.toml:3:12: services.a.register: expected one of "supervisor", "self", found "consul""#]]
        .assert_eq(&error("[services.a]\ncommand = [\"a\"]\nregister = \"consul\"\n"));
    expect!["tern.toml:3:1: services.search.tags: applies only to `command` services: a built-in registers itself"]
        .assert_eq(&error("[services.search]\nbuiltin = \"search\"\ntags = [\"v1\"]\n"));
    expect![[r#"tern.toml:4:1: services.a.metrics_path: applies only when the supervisor registers the replicas, and `register` is "self": the program registers its own tags and meta"#]]
        .assert_eq(&error("[services.a]\ncommand = [\"a\"]\nregister = \"self\"\nmetrics_path = \"/metrics\"\n"));
    expect![[r#"tern.toml:3:16: services.a.metrics_path: expected a URL path starting with "/", e.g. "/metrics", found "metrics""#]]
        .assert_eq(&error("[services.a]\ncommand = [\"a\"]\nmetrics_path = \"metrics\"\n"));
    expect![[r#"tern.toml:3:10: services.a.meta.consul-x: invalid meta key: expected 1 to 128 ASCII letters, digits, '-' or '_', not starting with "consul-""#]]
        .assert_eq(&error("[services.a]\ncommand = [\"a\"]\nmeta = { consul-x = \"1\" }\n"));
    expect!["tern.toml:3:9: services.a.tags[0]: expected a non-empty tag without control characters, found \"\""]
        .assert_eq(&error("[services.a]\ncommand = [\"a\"]\ntags = [\"\"]\n"));
}
