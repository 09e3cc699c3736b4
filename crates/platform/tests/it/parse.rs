//! Whole files into values: a full example, the defaults, the start order.

use std::{path::Path, time::Duration};

use expect_test::expect;
use tern_platform::{HealthKind, Program, RegistrySpec};

use crate::platform;

const FULL: &str = r#"
[registry]
embedded = true
http = "127.0.0.1:18500"
dns = "127.0.0.1:18600"
token = "s3cret"

[supervisor]
data_dir = "var/tern"
log_max_bytes = "512KiB"

[services.search]
builtin = "search"
replicas = 2
env = { RUST_LOG = "info" }
health = { kind = "grpc", interval = "500ms" }
readiness_timeout = "1m30s"
restart = "on-failure"
unhealthy_restart_after = "20s"
config_prefix = "config/geo/"
depends_on = ["py"]
drain = "2s"
stop_timeout = "1.5s"

[services.py]
command = ["python3", "server.py", "--port", "0"]
workdir = "services/py"
register_as = "py-api"
replicas = 0
restart = "never"
restart_on_change = true

[services.py.health]
kind = "http"
path = "/ready"
timeout = "250ms"
"#;

#[test]
fn a_full_file() {
    let p = platform(FULL);
    expect![[r#"
        Platform {
            root: "/proj",
            env: None,
            registry: Embedded {
                http: 127.0.0.1:18500,
                dns: 127.0.0.1:18600,
                token: Some(
                    <redacted>,
                ),
            },
            broker: Embedded {
                listen: 127.0.0.1:9092,
                advertised: None,
                partitions: 1,
                flush: Always,
            },
            supervisor: SupervisorSpec {
                data_dir: "/proj/var/tern",
                log_max_bytes: 524288,
            },
            telemetry: TelemetrySpec {
                traces: Embedded {
                    grpc: 127.0.0.1:4317,
                    http: 127.0.0.1:4318,
                    max_spans: 100000,
                },
                statsd: Some(
                    StatsdSpec {
                        listen: 127.0.0.1:8125,
                        metrics: 127.0.0.1:9102,
                    },
                ),
            },
            services: [
                ServiceSpec {
                    name: "py",
                    register_as: "py-api",
                    program: Command(
                        [
                            "python3",
                            "server.py",
                            "--port",
                            "0",
                        ],
                    ),
                    build: None,
                    workdir: "/proj/services/py",
                    replicas: 0,
                    env: {},
                    register: Supervisor,
                    tags: [],
                    meta: {},
                    metrics_path: None,
                    health: HealthSpec {
                        kind: Http {
                            path: "/ready",
                        },
                        interval: 1s,
                        timeout: 250ms,
                    },
                    readiness_timeout: 30s,
                    restart: Never,
                    unhealthy_restart_after: 10s,
                    config_prefix: "config/py/",
                    restart_on_change: true,
                    depends_on: [],
                    drain: 1s,
                    stop_timeout: 10s,
                },
                ServiceSpec {
                    name: "search",
                    register_as: "search-service",
                    program: Builtin(
                        Search,
                    ),
                    build: None,
                    workdir: "/proj",
                    replicas: 2,
                    env: {
                        "RUST_LOG": "info",
                    },
                    register: Supervisor,
                    tags: [],
                    meta: {},
                    metrics_path: None,
                    health: HealthSpec {
                        kind: Grpc,
                        interval: 500ms,
                        timeout: 1s,
                    },
                    readiness_timeout: 90s,
                    restart: OnFailure,
                    unhealthy_restart_after: 20s,
                    config_prefix: "config/geo/",
                    restart_on_change: false,
                    depends_on: [
                        "py",
                    ],
                    drain: 2s,
                    stop_timeout: 1.5s,
                },
            ],
        }"#]]
    .assert_eq(&format!("{p:#?}"));
    assert_eq!(p.registry.token(), Some("s3cret"));
}

#[test]
fn defaults() {
    let p = platform(
        "[services.search]\nbuiltin = \"search\"\n\n[services.worker]\ncommand = [\"./worker\"]\n",
    );
    expect![[r#"
        Platform {
            root: "/proj",
            env: None,
            registry: Embedded {
                http: 127.0.0.1:8500,
                dns: 127.0.0.1:8600,
                token: None,
            },
            broker: Embedded {
                listen: 127.0.0.1:9092,
                advertised: None,
                partitions: 1,
                flush: Always,
            },
            supervisor: SupervisorSpec {
                data_dir: "/proj/.tern",
                log_max_bytes: 16777216,
            },
            telemetry: TelemetrySpec {
                traces: Embedded {
                    grpc: 127.0.0.1:4317,
                    http: 127.0.0.1:4318,
                    max_spans: 100000,
                },
                statsd: Some(
                    StatsdSpec {
                        listen: 127.0.0.1:8125,
                        metrics: 127.0.0.1:9102,
                    },
                ),
            },
            services: [
                ServiceSpec {
                    name: "search",
                    register_as: "search-service",
                    program: Builtin(
                        Search,
                    ),
                    build: None,
                    workdir: "/proj",
                    replicas: 1,
                    env: {},
                    register: Supervisor,
                    tags: [],
                    meta: {},
                    metrics_path: None,
                    health: HealthSpec {
                        kind: Grpc,
                        interval: 1s,
                        timeout: 1s,
                    },
                    readiness_timeout: 30s,
                    restart: Always,
                    unhealthy_restart_after: 10s,
                    config_prefix: "config/search/",
                    restart_on_change: false,
                    depends_on: [],
                    drain: 1s,
                    stop_timeout: 10s,
                },
                ServiceSpec {
                    name: "worker",
                    register_as: "worker",
                    program: Command(
                        [
                            "./worker",
                        ],
                    ),
                    build: None,
                    workdir: "/proj",
                    replicas: 1,
                    env: {},
                    register: Supervisor,
                    tags: [],
                    meta: {},
                    metrics_path: None,
                    health: HealthSpec {
                        kind: Tcp,
                        interval: 1s,
                        timeout: 1s,
                    },
                    readiness_timeout: 30s,
                    restart: Always,
                    unhealthy_restart_after: 10s,
                    config_prefix: "config/worker/",
                    restart_on_change: false,
                    depends_on: [],
                    drain: 1s,
                    stop_timeout: 10s,
                },
            ],
        }"#]]
    .assert_eq(&format!("{p:#?}"));

    let empty = platform("");
    assert_eq!(empty.registry, RegistrySpec::default());
    assert_eq!(
        empty.registry,
        RegistrySpec::Embedded {
            http: "127.0.0.1:8500".parse().unwrap(),
            dns: "127.0.0.1:8600".parse().unwrap(),
            token: None
        }
    );
    assert_eq!(empty.supervisor.data_dir, Path::new("/proj/.tern"));
    assert_eq!(empty.supervisor.log_max_bytes, 16 * 1024 * 1024);
    assert!(empty.services.is_empty());
}

#[test]
fn values_in_every_accepted_form() {
    let p = platform(
        r#"
[registry]
external = "consul.internal:8500"
token = "t"

[supervisor]
log_max_bytes = 1048576
data_dir = "/var/lib/tern"

[services.a]
command = ["a"]
workdir = "../elsewhere/./a"
health.kind = "http"
"#,
    );
    assert_eq!(
        p.registry,
        RegistrySpec::External {
            address: "consul.internal:8500".into(),
            token: Some("t".into())
        }
    );
    assert_eq!(
        format!("{:?}", p.registry),
        r#"External { address: "consul.internal:8500", token: Some(<redacted>) }"#
    );
    assert_eq!(p.supervisor.log_max_bytes, 1 << 20);
    assert_eq!(p.supervisor.data_dir, Path::new("/var/lib/tern"));
    let a = &p.services[0];
    assert_eq!(a.workdir, Path::new("/elsewhere/a"));
    assert_eq!(
        a.health.kind,
        HealthKind::Http {
            path: "/healthz".into()
        }
    );
    assert_eq!(a.program, Program::Command(vec!["a".into()]));

    for (text, bytes) in [
        ("\"16MiB\"", 16 << 20),
        ("\"2GiB\"", 2 << 30),
        ("\"10MB\"", 10_000_000),
    ] {
        let p = platform(&format!("[supervisor]\nlog_max_bytes = {text}\n"));
        assert_eq!(p.supervisor.log_max_bytes, bytes, "{text}");
    }
    for (text, d) in [
        ("\"1m30s\"", Duration::from_secs(90)),
        ("\"500ms\"", Duration::from_millis(500)),
        ("\"2h\"", Duration::from_secs(7200)),
        ("\"1.5s\"", Duration::from_millis(1500)),
        ("\"0\"", Duration::ZERO),
    ] {
        let p = platform(&format!(
            "[services.a]\ncommand = [\"a\"]\ndrain = {text}\n"
        ));
        assert_eq!(p.services[0].drain, d, "{text}");
    }
}

#[test]
fn start_order_puts_dependencies_first_then_names() {
    let p = platform(
        r#"
[services.web]
command = ["web"]
depends_on = ["search", "auth", "auth"]

[services.search]
builtin = "search"

[services.auth]
command = ["auth"]
depends_on = ["db"]

[services.db]
command = ["db"]

[services.batch]
command = ["batch"]
"#,
    );
    let names: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["batch", "db", "auth", "search", "web"]);
    let web = p.service("web").unwrap();
    assert_eq!(web.depends_on, ["search", "auth"], "duplicates dropped");
}

#[test]
fn the_environment_changes_default_prefixes_only() {
    let base = "[services.a]\ncommand = [\"a\"]\n[services.b]\ncommand = [\"b\"]\nconfig_prefix = \"shared/b/\"\n";
    let p = crate::staging(base, "").unwrap();
    assert_eq!(p.env.as_deref(), Some("staging"));
    assert_eq!(p.service("a").unwrap().config_prefix, "config/staging/a/");
    assert_eq!(p.service("b").unwrap().config_prefix, "shared/b/");
    assert_eq!(
        platform(base).service("a").unwrap().config_prefix,
        "config/a/"
    );
}

#[test]
fn broker_forms() {
    let broker = |text: &str| {
        tern_platform::parse(text, "tern.toml", None, None, std::path::Path::new("/p"))
            .map(|p| format!("{:?}", p.broker))
            .unwrap_or_else(|e| e.to_string())
    };
    expect_test::expect!["Embedded { listen: 127.0.0.1:0, advertised: Some(\"localhost:9092\"), partitions: 4, flush: Interval(100ms) }"]
        .assert_eq(&broker("[broker]\nlisten = \"127.0.0.1:0\"\nadvertised = \"localhost:9092\"\npartitions = 4\nflush = \"100ms\"\n"));
    expect_test::expect!["External { bootstrap: \"kafka.internal:9092\" }"]
        .assert_eq(&broker("[broker]\nexternal = \"kafka.internal:9092\"\n"));
    expect_test::expect!["Off"].assert_eq(&broker("[broker]\nembedded = false\n"));
    expect_test::expect![
        "Embedded { listen: 127.0.0.1:9092, advertised: None, partitions: 1, flush: Os }"
    ]
    .assert_eq(&broker("[broker]\nflush = \"os\"\n"));
}

#[test]
fn telemetry_external_collector_and_no_statsd() {
    let p = platform(
        "[telemetry]\notlp_external = \"otel-collector:4317\"\nstatsd = false\n\
         [services.a]\ncommand = [\"a\"]\n",
    );
    assert_eq!(
        p.telemetry,
        tern_platform::TelemetrySpec {
            traces: tern_platform::TracesSpec::External {
                endpoint: "otel-collector:4317".to_owned()
            },
            statsd: None,
        }
    );
    let p = platform(
        "[telemetry]\ntraces = false\nstatsd_listen = \"127.0.0.1:18125\"\n\
         [services.a]\ncommand = [\"a\"]\n",
    );
    assert_eq!(p.telemetry.traces, tern_platform::TracesSpec::Off);
    assert_eq!(p.telemetry.statsd.map(|s| s.listen.port()), Some(18125));
}

#[test]
fn the_file_tern_init_writes_is_the_default_stack() {
    let platform = tern_platform::parse(
        tern_platform::DEFAULT_FILE,
        "tern.toml",
        None,
        None,
        Path::new("/empty"),
    )
    .expect("valid");
    let names: Vec<&str> = platform.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["search"]);
    assert_eq!(platform.supervisor.data_dir, Path::new("/empty/.tern"));
    assert!(matches!(
        platform.registry,
        tern_platform::RegistrySpec::Embedded { .. }
    ));
    assert!(matches!(
        platform.broker,
        tern_platform::BrokerSpec::Embedded { .. }
    ));
}
