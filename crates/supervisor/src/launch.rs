//! What a replica runs: its process (program, arguments, environment with the service's
//! KV config keys, the platform's endpoints and the OpenTelemetry SDK variables) and, for
//! commands the supervisor registers (`register = "supervisor"`), their registration.
//!
//! Every replica gets `OTEL_SERVICE_NAME` (the registry name), `OTEL_RESOURCE_ATTRIBUTES`
//! with `service.instance.id=REPLICA_ID` (merged into the user's), and, so the SDKs'
//! instrumentations do not trace the registry's health probes, the health path in
//! `OTEL_PYTHON_EXCLUDED_URLS` and `OTEL_PYTHON_FASTAPI_EXCLUDED_URLS` (HTTP checks) or
//! `grpc.health.v1.Health` in `OTEL_PYTHON_GRPC_EXCLUDED_SERVICES` (gRPC checks), added to
//! any list the user set. The OTLP endpoint comes with the platform's environment.

use std::collections::BTreeMap;

use tern_consul_client::{Check, Probe, ServiceRegistration};
use tern_platform::{HealthKind, Program, Register, ServiceSpec};
use tracing::warn;

use crate::{process::Launch, Context};

/// The service `Meta` key naming the metrics path: the chassis' `METRICS_PATH_META`,
/// what Prometheus' discovery relabelling and `tern top` read.
const METRICS_PATH_META: &str = "metrics_path";

impl Context {
    /// The KV keys under the service's config prefix as environment variables, as
    /// envconsul does (`config/search/log_level` → `LOG_LEVEL`).
    pub(crate) async fn config_env(&self, spec: &ServiceSpec) -> BTreeMap<String, String> {
        match self.consul.kv_list(&spec.config_prefix, None).await {
            Ok(entries) => env_from_kv(&spec.config_prefix, &entries.value),
            Err(error) => {
                warn!(service = %spec.name, %error, "cannot read the service's config keys");
                BTreeMap::new()
            }
        }
    }

    /// The process to run for replica `id`, and the registration the supervisor makes
    /// for it when the program does not register itself.
    pub(crate) fn launch(
        &self,
        spec: &ServiceSpec,
        id: &str,
        config: BTreeMap<String, String>,
    ) -> (Launch, Option<ServiceRegistration>) {
        let mut env = config;
        env.insert("TERN_REGISTRY".into(), self.registry.clone());
        if let Some(token) = &self.token {
            env.insert("TERN_REGISTRY_TOKEN".into(), token.clone());
        }
        if let Some(broker) = &self.broker {
            env.insert("TERN_BROKER".into(), broker.clone());
        }
        env.extend(self.platform_env.clone());
        env.insert("TERN_INSTANCE_ID".into(), id.to_owned());
        env.insert("TERN_CONFIG_PREFIX".into(), spec.config_prefix.clone());
        env.insert(
            "TERN_DATA_DIR".into(),
            self.data_dir.to_string_lossy().into_owned(),
        );
        // Consul's own variables, read by its CLI and clients (py-consul, Go's api), so a
        // program that registers itself reaches the platform's registry unconfigured.
        env.insert("CONSUL_HTTP_ADDR".into(), self.registry.clone());
        if let Some(token) = &self.token {
            env.insert("CONSUL_HTTP_TOKEN".into(), token.clone());
        }
        env.extend(spec.env.clone());
        otel_env(&mut env, spec, id);
        match &spec.program {
            Program::Builtin(builtin) => {
                env.insert("TERN_LISTEN".into(), "127.0.0.1:0".into());
                env.insert("TERN_LOG__FORMAT".into(), "json".into());
                env.insert("TERN_SERVICE_NAME".into(), spec.register_as.clone());
                env.insert(
                    "TERN_CHECK_INTERVAL".into(),
                    tern_duration::format(spec.health.interval),
                );
                let launch = Launch {
                    program: self.executable.clone(),
                    args: vec!["service".into(), builtin.name().into()],
                    workdir: spec.workdir.clone(),
                    env,
                };
                (launch, None)
            }
            Program::Command(argv) => {
                let port = free_port();
                env.insert("PORT".into(), port.to_string());
                env.entry("TERN_SERVICE_NAME".into())
                    .or_insert_with(|| spec.register_as.clone());
                if spec.register == Register::Supervisor {
                    // One owner per registration: the supervisor registers a command on
                    // the port it gives; a chassis program reading this does not register.
                    env.insert("TERN_REGISTERED_BY".into(), "supervisor".into());
                }
                let address = format!("127.0.0.1:{port}");
                let probe = match &spec.health.kind {
                    HealthKind::Grpc => Probe::Grpc(address.clone()),
                    HealthKind::Http { path } => Probe::Http(format!("http://{address}{path}")),
                    HealthKind::Tcp => Probe::Tcp(address.clone()),
                };
                let mut meta = spec.meta.clone();
                if let Some(path) = &spec.metrics_path {
                    meta.insert(METRICS_PATH_META.to_owned(), path.clone());
                }
                meta.insert("supervised-by".to_owned(), "tern".to_owned());
                let registration = ServiceRegistration {
                    id: id.to_owned(),
                    name: spec.register_as.clone(),
                    tags: spec.tags.clone(),
                    meta,
                    address: "127.0.0.1".into(),
                    port,
                    check: Some(Check {
                        name: format!("{} {}", spec.register_as, health_name(&spec.health.kind)),
                        probe,
                        interval: tern_duration::format(spec.health.interval),
                        timeout: Some(tern_duration::format(spec.health.timeout)),
                        deregister_critical_service_after: "1m".into(),
                    }),
                };
                // `${PORT}` in an argument is the replica's port, for programs that take
                // it on the command line rather than from the environment.
                let argv: Vec<String> = argv
                    .iter()
                    .map(|arg| arg.replace("${PORT}", &port.to_string()))
                    .collect();
                let (program, args) = match argv.split_first() {
                    Some((program, args)) => (program.into(), args.to_vec()),
                    None => (Default::default(), Vec::new()),
                };
                let launch = Launch {
                    program,
                    args,
                    workdir: spec.workdir.clone(),
                    env,
                };
                let registration = (spec.register == Register::Supervisor).then_some(registration);
                (launch, registration)
            }
        }
    }
}

/// The OpenTelemetry SDK variables of replica `id` (see the module docs); what the user
/// set in `env` is kept, lists are merged.
fn otel_env(env: &mut BTreeMap<String, String>, spec: &ServiceSpec, id: &str) {
    env.entry("OTEL_SERVICE_NAME".into())
        .or_insert_with(|| spec.register_as.clone());
    let instance = format!("service.instance.id={id}");
    let attributes = env.entry("OTEL_RESOURCE_ATTRIBUTES".into()).or_default();
    let has_instance = attributes
        .split(',')
        .any(|pair| pair.split('=').next().map(str::trim) == Some("service.instance.id"));
    if !has_instance {
        *attributes = match attributes.trim() {
            "" => instance,
            user => format!("{instance},{user}"),
        };
    }
    let excluded: &[(&str, &str)] = match &spec.health.kind {
        HealthKind::Http { path } => &[
            ("OTEL_PYTHON_EXCLUDED_URLS", path.as_str()),
            ("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", path.as_str()),
        ],
        HealthKind::Grpc => &[(
            "OTEL_PYTHON_GRPC_EXCLUDED_SERVICES",
            "grpc.health.v1.Health",
        )],
        HealthKind::Tcp => &[],
    };
    for (name, item) in excluded {
        let list = env.entry((*name).to_owned()).or_default();
        if !list.split(',').any(|entry| entry.trim() == *item) {
            if !list.trim().is_empty() {
                list.push(',');
            }
            list.push_str(item);
        }
    }
}

fn health_name(kind: &HealthKind) -> &'static str {
    match kind {
        HealthKind::Grpc => "gRPC health",
        HealthKind::Http { .. } => "HTTP health",
        HealthKind::Tcp => "TCP health",
    }
}

/// A port for a program that binds its own listener from `PORT`. The program binds it
/// after this returns, so another process could take it in between; a replica that then
/// fails to bind exits and crash loops on that port until a rolling restart gives it a new
/// replica with a fresh one. (Chassis services never need this: they bind port 0 and
/// register the port they got.)
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_or(0, |addr| addr.port())
}

/// `config/search/log_level` → `LOG_LEVEL`: the key below the prefix, uppercased, every
/// other character than ASCII letters and digits turned into `_`. Keys whose value is
/// not UTF-8 are skipped.
pub(crate) fn env_from_kv(
    prefix: &str,
    entries: &[tern_consul_client::KvEntry],
) -> BTreeMap<String, String> {
    entries
        .iter()
        .filter_map(|entry| {
            let relative = entry.key.strip_prefix(prefix)?;
            if relative.is_empty() || relative.ends_with('/') {
                return None;
            }
            let name: String = relative
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let value = String::from_utf8(entry.value.clone()).ok()?;
            Some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_consul_client::KvEntry;

    fn entry(key: &str, value: &[u8]) -> KvEntry {
        KvEntry {
            key: key.into(),
            value: value.to_vec(),
            flags: 0,
            create_index: 1,
            modify_index: 1,
        }
    }

    fn spec(toml: &str) -> ServiceSpec {
        let platform = tern_platform::parse(toml, "tern.toml", None, None, "/proj".as_ref())
            .expect("a valid platform");
        platform.services[0].clone()
    }

    #[test]
    fn otel_variables_are_set_and_merged_with_the_users() {
        let mut env = BTreeMap::new();
        let http = spec("[services.api]\ncommand = [\"api\"]\nhealth = { kind = \"http\" }\n");
        otel_env(&mut env, &http, "api-1");
        assert_eq!(
            env,
            BTreeMap::from(
                [
                    ("OTEL_SERVICE_NAME", "api"),
                    ("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=api-1"),
                    ("OTEL_PYTHON_EXCLUDED_URLS", "/healthz"),
                    ("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "/healthz"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
            )
        );

        let mut env = BTreeMap::from(
            [
                ("OTEL_SERVICE_NAME", "mine"),
                ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=dev"),
                ("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", "Search"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let grpc = spec("[services.s]\ncommand = [\"s\"]\nhealth = { kind = \"grpc\" }\n");
        otel_env(&mut env, &grpc, "s-2");
        otel_env(&mut env, &grpc, "s-2");
        assert_eq!(env["OTEL_SERVICE_NAME"], "mine");
        assert_eq!(
            env["OTEL_RESOURCE_ATTRIBUTES"],
            "service.instance.id=s-2,deployment.environment=dev"
        );
        assert_eq!(
            env["OTEL_PYTHON_GRPC_EXCLUDED_SERVICES"],
            "Search,grpc.health.v1.Health"
        );
    }

    #[test]
    fn kv_keys_become_environment_variables() {
        let env = env_from_kv(
            "config/search/",
            &[
                entry("config/search/log_level", b"debug"),
                entry("config/search/db/max-conns", b"4"),
                entry("config/search/", b""),
                entry("config/search/dir/", b""),
                entry("config/search/binary", &[0xff]),
                entry("config/other/x", b"1"),
            ],
        );
        assert_eq!(
            env,
            BTreeMap::from([
                ("LOG_LEVEL".to_owned(), "debug".to_owned()),
                ("DB_MAX_CONNS".to_owned(), "4".to_owned()),
            ])
        );
    }
}
