//! Environment overlays: deep merge, the overlay's choice between alternatives, locations.

use expect_test::expect;
use tern_platform::{HealthKind, Program, RegistrySpec};

use crate::staging;

const BASE: &str = r#"[registry]
embedded = true
http = "127.0.0.1:8500"

[services.search]
builtin = "search"
replicas = 2
env = { RUST_LOG = "info", MODE = "dev" }
health = { kind = "http", path = "/ready" }
depends_on = ["worker"]

[services.worker]
command = ["./worker", "--fast"]
"#;

#[test]
fn tables_merge_key_by_key_and_scalars_and_arrays_are_replaced() {
    let p = staging(
        BASE,
        r#"
[services.search]
replicas = 4
env = { MODE = "staging", EXTRA = "1" }
health = { interval = "5s" }

[services.worker]
command = ["./worker"]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let search = p.service("search").unwrap();
    assert_eq!(search.replicas, 4);
    assert_eq!(
        format!("{:?}", search.env),
        r#"{"EXTRA": "1", "MODE": "staging", "RUST_LOG": "info"}"#
    );
    assert_eq!(
        search.health.kind,
        HealthKind::Http {
            path: "/ready".into()
        }
    );
    assert_eq!(search.health.interval.as_secs(), 5);
    assert_eq!(search.depends_on, ["worker"]);
    assert_eq!(search.config_prefix, "config/staging/search/");
    let worker = p.service("worker").unwrap();
    assert_eq!(worker.program, Program::Command(vec!["./worker".into()]));
    assert_eq!(worker.config_prefix, "config/staging/worker/");
}

#[test]
fn the_overlay_can_add_services_and_switch_alternatives() {
    let p = staging(
        BASE,
        r#"
[registry]
external = "consul.staging:8500"

[services.search]
command = ["search-server"]
health = { kind = "tcp" }

[services.extra]
command = ["extra"]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // `embedded = true` and `http` from the base give way to the overlay's `external`.
    assert_eq!(
        p.registry,
        RegistrySpec::External {
            address: "consul.staging:8500".into(),
            token: None
        }
    );
    let search = p.service("search").unwrap();
    // `builtin` gives way to the overlay's `command`, the base's health `path` to `tcp`.
    assert_eq!(
        search.program,
        Program::Command(vec!["search-server".into()])
    );
    assert_eq!(search.health.kind, HealthKind::Tcp);
    // The default registry name now follows the command rule: the table name.
    assert_eq!(search.register_as, "search");
    assert!(p.service("extra").is_some());
}

#[test]
fn the_base_cannot_override_the_overlay() {
    // The overlay's `embedded = true` wins over the base's `external`.
    let p = staging(
        "[registry]\nexternal = \"consul:8500\"\n",
        "[registry]\nembedded = true\n",
    )
    .unwrap();
    assert_eq!(p.registry, RegistrySpec::default());
}

#[test]
fn errors_point_into_the_file_they_came_from() {
    let err = |overlay: &str| staging(BASE, overlay).err().map(|e| e.to_string());
    expect!["tern.staging.toml:3:1: services.search.replica: unknown key, expected one of: build, builtin, command, config_prefix, depends_on, drain, env, health, meta, metrics_path, readiness_timeout, register, register_as, replicas, restart, restart_on_change, stop_timeout, tags, unhealthy_restart_after, workdir"].assert_eq(&err("\n[services.search]\nreplica = 3\n").unwrap());
    expect!["tern.staging.toml:2:12: services.search.replicas: expected a non-negative integer, found a string"].assert_eq(&err("[services.search]\nreplicas = \"three\"\n").unwrap());
    expect![
        "tern.staging.toml:3:1: invalid TOML: duplicate key `replicas` in table `services.search`"
    ]
    .assert_eq(&err("[services.search]\nreplicas = 3\nreplicas = 4\n").unwrap());
    expect![[r#"tern.staging.toml:2:15: services.search.depends_on: unknown service "nope", expected one of: search, worker"#]].assert_eq(&err("[services.search]\ndepends_on = [\"nope\"]\n").unwrap());
    expect!["tern.staging.toml:2:15: services.worker.depends_on: dependency cycle: worker -> search -> worker"].assert_eq(&err("[services.worker]\ndepends_on = [\"search\"]\n").unwrap());
    // Both alternatives in the overlay itself are still an error, in the overlay.
    expect!["tern.staging.toml:3:1: services.worker.command: `builtin` and `command` are both given: a service runs one or the other"].assert_eq(
        &err("[services.worker]\nbuiltin = \"search\"\ncommand = [\"w\"]\n").unwrap(),
    );
    // A value that stays in the base is reported in the base.
    expect![[r#"tern.toml:12:11: services.worker: registers as "worker" by default, already the registry name of services.search: set `register_as`"#]].assert_eq(&err("[services.search]\nregister_as = \"worker\"\n").unwrap());
    expect![[r#"tern.staging.toml:2:15: services.worker.register_as: "search-service" is already the registry name of services.search"#]].assert_eq(&err("[services.worker]\nregister_as = \"search-service\"\n").unwrap());
}
