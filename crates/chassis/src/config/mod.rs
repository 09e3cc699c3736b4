//! Typed, validated configuration: `defaults < config file (TOML) < TERN_* environment`.
//! The format and the environment rules are documented on [`load_config`].

pub(crate) mod fields;
mod source;

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    time::Duration,
};

use figment::{
    providers::{Format, Serialized, Toml},
    Figment,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::Error;
use source::{check_unknown_keys, config_error, render_error, EnvVars};
pub(crate) use source::{describe, ignored_paths};

/// The configuration every tern service has, whatever it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ChassisConfig {
    /// Where `Service::run` listens for gRPC and HTTP. Default `127.0.0.1:0`: a free
    /// port, reported by `Handle::local_addr` and the `listening` log line. The `PORT`
    /// environment variable (what `tern up` and most platforms hand a program) sets the
    /// port over the default and the file, keeping the IP; `TERN_LISTEN` wins over it.
    #[serde(with = "fields::socket_addr")]
    pub listen: SocketAddr,
    /// How long a graceful shutdown may take in total (shutdown hooks plus draining
    /// in-flight calls); calls still running then are aborted. Default 10s.
    #[serde(with = "fields::duration")]
    pub shutdown_timeout: Duration,
    /// Async runtime worker threads ([`crate::runtime`]). Default 1: a tern service scales
    /// by replicas, and on a small machine one worker per replica beats work stealing
    /// between threads (measured: 47k vs 35k QPS at c=32 on 2 cores, p99 1.3 vs 2.2 ms).
    /// 0 = one per CPU core.
    pub worker_threads: usize,
    pub log: LogConfig,
    pub telemetry: TelemetryConfig,
    /// The Consul-compatible registry to register with, `"HOST:PORT"` of its HTTP API
    /// (`tern registry` or a real Consul agent, e.g. `"127.0.0.1:8500"`); env
    /// `TERN_REGISTRY`. Unset (default): the service does not register.
    pub registry: Option<String>,
    /// How often the registry probes the service (`grpc.health.v1` on its port). Default 1s.
    #[serde(with = "fields::duration")]
    pub check_interval: Duration,
    /// How long the check may stay critical before the registry drops the instance (a
    /// replica that died without deregistering). Default 1m.
    #[serde(with = "fields::duration")]
    pub deregister_critical_after: Duration,
    /// The IP other processes reach the service on. Default: the listener's IP (loopback
    /// `127.0.0.1` when listening on an unspecified address such as `0.0.0.0`).
    pub advertise_address: Option<IpAddr>,
    /// Who registers this instance when not the service itself (env
    /// `TERN_REGISTERED_BY`; `tern up` sets `"supervisor"` for a `command` it registers).
    /// Set: the service does not register or deregister itself, and still uses
    /// `registry` for discovery and live config. Default unset: it registers itself.
    pub registered_by: Option<String>,
    /// The registry instance ID. Default `NAME-PORT` (`search-service-50051`); a
    /// supervisor sets `NAME-REPLICA` so a replica keeps its ID across restarts.
    pub instance_id: Option<String>,
    /// How often a registered service checks that the registry still has it, and
    /// registers again if not (anti-entropy). Default 30s.
    #[serde(with = "fields::duration")]
    pub registry_sync_interval: Duration,
    /// The registry's ACL token, sent as `X-Consul-Token` (env `TERN_REGISTRY_TOKEN`).
    /// Default unset. Redacted in `{:?}` output.
    pub registry_token: Option<Secret>,
    /// The registry KV prefix holding the service's live config, ending in `/`
    /// (`"config/search/"`, per environment `"config/prod/search/"`); env
    /// `TERN_CONFIG_PREFIX`. With `registry` also set, the service follows the keys under
    /// it and applies changes while it runs (see [`crate::LiveConfig`]). Default unset.
    pub config_prefix: Option<String>,
    /// The Kafka-protocol broker for events, `HOST:PORT` (env `TERN_BROKER`): tern's
    /// embedded broker or a real Kafka. Needed by consumers declared with
    /// [`crate::ServiceBuilder::consume`] and by [`crate::Handle::producer`]. Default unset.
    pub broker: Option<String>,
    /// The name to register, log and report telemetry under instead of the one the
    /// service was built with (env `TERN_SERVICE_NAME`; `tern up` sets it from
    /// `register_as`), so one program can run as several services. Default unset.
    pub service_name: Option<String>,
}

/// A value that never shows in `{:?}` output, so configs can be logged whole.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for where it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Default for ChassisConfig {
    fn default() -> Self {
        ChassisConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown_timeout: Duration::from_secs(10),
            worker_threads: 1,
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            registry: None,
            check_interval: Duration::from_secs(1),
            deregister_critical_after: Duration::from_secs(60),
            advertise_address: None,
            registered_by: None,
            instance_id: None,
            registry_sync_interval: Duration::from_secs(30),
            registry_token: None,
            config_prefix: None,
            broker: None,
            service_name: None,
        }
    }
}

impl ChassisConfig {
    /// Checks what the types cannot: that the log level is a valid filter directive.
    pub fn validate(&self) -> Result<(), Error> {
        self.check().map_err(|(key, detail)| Error::Config {
            origin: "config".to_owned(),
            key: Some(key.to_owned()),
            detail,
        })
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        crate::logging::parse_filter(&self.log.level).map_err(|detail| ("log.level", detail))?;
        if let Some(registry) = &self.registry {
            tern_consul_client::check_host_port(registry).map_err(|detail| ("registry", detail))?;
        }
        if self.check_interval.is_zero() {
            return Err((
                "check_interval",
                "must be greater than 0, e.g. \"1s\"".to_owned(),
            ));
        }
        if self.registry_sync_interval.is_zero() {
            return Err((
                "registry_sync_interval",
                "must be greater than 0, e.g. \"30s\"".to_owned(),
            ));
        }
        if self.registered_by.as_deref().is_some_and(str::is_empty) {
            return Err((
                "registered_by",
                "expected who registers the instance, e.g. \"supervisor\", found an empty \
                 string"
                    .to_owned(),
            ));
        }
        if let Some(id) = &self.instance_id {
            if !tern_consul_client::is_path_safe(id) {
                return Err((
                    "instance_id",
                    format!(
                        "invalid instance ID {id:?}: expected 1 to 128 ASCII letters, digits, \
                         '-', '_' or '.'"
                    ),
                ));
            }
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint {
            let host_port = endpoint
                .strip_prefix("http://")
                .unwrap_or(endpoint)
                .trim_end_matches('/');
            tern_consul_client::check_host_port(host_port)
                .map_err(|detail| ("telemetry.otlp_endpoint", detail))?;
        }
        if let Some(broker) = &self.broker {
            tern_consul_client::check_host_port(broker).map_err(|detail| ("broker", detail))?;
        }
        if let Some(prefix) = &self.config_prefix {
            check_config_prefix(prefix).map_err(|detail| ("config_prefix", detail))?;
        }
        Ok(())
    }
}

/// The port `PORT` gives, unless `TERN_LISTEN` (any case after the prefix) is set.
fn listen_port(env: &[(String, String)]) -> Result<Option<u16>, Error> {
    let listen_set = env.iter().any(|(name, _)| {
        name.strip_prefix("TERN_")
            .is_some_and(|rest| rest.eq_ignore_ascii_case("listen"))
    });
    let Some((_, value)) = env.iter().find(|(name, _)| name == "PORT") else {
        return Ok(None);
    };
    if listen_set {
        return Ok(None);
    }
    value
        .trim()
        .parse::<u16>()
        .map(Some)
        .map_err(|_| Error::Config {
            origin: "environment variable PORT".to_owned(),
            key: None,
            detail: format!("invalid port {value:?}: expected a number from 0 to 65535"),
        })
}

/// A KV prefix such as `config/search/`: segments of path-safe characters, each followed
/// by `/`.
fn check_config_prefix(prefix: &str) -> Result<(), String> {
    let valid = prefix.len() <= 512
        && prefix.strip_suffix('/').is_some_and(|inner| {
            inner
                .split('/')
                .all(|s| tern_consul_client::is_path_safe(s) && s != "." && s != "..")
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid config prefix {prefix:?}: expected KV path segments of ASCII letters, \
             digits, '-', '_' or '.', each ending in '/', e.g. \"config/search/\""
        ))
    }
}

/// How and how much the service logs. See [`crate::init_logging`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive: `"info"`, `"warn,search=debug"`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Json,
            level: "info".to_owned(),
        }
    }
}

/// What the service measures and traces. See the crate docs' "Telemetry" section for the
/// metric names and span attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TelemetryConfig {
    /// RED metrics per gRPC method and HTTP route, in-flight requests, process metrics,
    /// and `GET /metrics` (Prometheus text or OpenMetrics). Default true.
    pub metrics: bool,
    /// W3C trace context: `traceparent` read from every call and sent on every outgoing
    /// call and produced record, a span per server and client call, trace and span ids in
    /// log lines. Default true.
    pub traces: bool,
    /// Where spans go, over OTLP/gRPC: `"HOST:PORT"` or `"http://HOST:PORT"` (`tern up`'s
    /// receiver on 4317, an OpenTelemetry Collector, Jaeger). Env
    /// `TERN_TELEMETRY__OTLP_ENDPOINT`, else the standard `OTEL_EXPORTER_OTLP_ENDPOINT`.
    /// Unset: spans are not exported (ids still travel and appear in logs).
    pub otlp_endpoint: Option<String>,
    /// At most this many new traces recorded per second by this replica (a call with a
    /// caller's sampled `traceparent` is always recorded, so traces stay whole): every
    /// call in development, a bounded cost under load. 0: no limit. Default 100.
    pub traces_per_second: u32,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            metrics: true,
            traces: true,
            otlp_endpoint: None,
            traces_per_second: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for machines.
    #[default]
    Json,
    /// Human-readable lines, coloured on a terminal.
    Pretty,
}

/// A service's whole configuration: the chassis section plus the service's own `T`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config<T> {
    pub chassis: ChassisConfig,
    pub service: T,
}

/// Loads `defaults < file < TERN_* environment` from the process environment.
///
/// `T::default()` supplies the service's defaults (hence `Serialize`). `file`, when
/// given, must exist. Errors say where the bad value came from, its key and the
/// expected form: `config file tern-search.toml: listen: invalid socket address
/// "127.0.0.1": expected IP:PORT, ...`, `environment variable TERN_LOG__LEVEL: ...`.
///
/// # File format
///
/// One TOML table. The chassis keys and the service's own keys live side by side at the
/// top level (the service's struct must not reuse the chassis names `listen`,
/// `shutdown_timeout`, `worker_threads`, `log`, `registry`, `check_interval`,
/// `deregister_critical_after`, `advertise_address`, `instance_id`,
/// `registry_sync_interval`, `registry_token`, `config_prefix`, `registered_by`):
///
/// ```toml
/// listen = "0.0.0.0:7000"          # IP:PORT; default "127.0.0.1:0" (any free port)
/// shutdown_timeout = "10s"         # Go duration: "500ms", "1m30s"; default "10s"
/// worker_threads = 1               # async runtime workers; 0 = one per core; default 1
/// store = "postgres://localhost/tern"   # the service's own keys, e.g. search's store
///
/// registry = "127.0.0.1:8500"      # Consul-compatible HTTP API to register with; default unset
/// check_interval = "1s"            # how often the registry probes gRPC health; default "1s"
/// deregister_critical_after = "1m" # registry drops an instance critical this long; default "1m"
/// advertise_address = "10.0.0.7"   # IP registered for the service; default the listener's IP
/// instance_id = "search-service-1" # registry instance ID; default "NAME-PORT"
/// registered_by = "supervisor"     # someone else registers it: no self-registration
/// registry_sync_interval = "30s"   # re-check (and restore) the registration; default "30s"
/// registry_token = "…"             # the registry's ACL token (X-Consul-Token); default unset
/// config_prefix = "config/search/" # registry KV prefix of the live config; default unset
///
/// [log]
/// format = "json"                  # "json" (default) or "pretty"
/// level = "info,search=debug"      # tracing EnvFilter directive; default "info"
/// ```
///
/// A key in the file that neither the chassis nor the service knows is an error (typo
/// protection).
///
/// # Environment
///
/// `TERN_<KEY>` overrides the key, `__` separates nesting levels and the part after
/// `TERN_` is case-insensitive: `TERN_LISTEN=127.0.0.1:7000`, `TERN_LOG__LEVEL=debug`,
/// `TERN_STORE=postgres://...`, `TERN_REGISTRY=127.0.0.1:8500`. Values are read like TOML
/// scalars (`10` is a number, `true` a boolean, `"10"` a string). `TERN_*` variables that
/// no config key matches (`TERN_DATA_DIR`, `TERN_BROKER`, ...) are ignored: they belong to
/// other tools.
///
/// `PORT=N` (no prefix: the convention of `tern up`, Heroku, Cloud Run) sets the port of
/// `listen`, over the default and the file, keeping their IP; `TERN_LISTEN` wins over it.
pub fn load_config<T>(file: Option<&Path>) -> Result<Config<T>, Error>
where
    T: DeserializeOwned + Serialize + Default,
{
    // vars_os: a non-UTF-8 variable elsewhere in the environment must not panic us.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    load_config_from(file, env)
}

/// [`load_config`] with the environment passed in, for tests and tools that build one.
pub fn load_config_from<T, I>(file: Option<&Path>, env: I) -> Result<Config<T>, Error>
where
    T: DeserializeOwned + Serialize + Default,
    I: IntoIterator<Item = (String, String)>,
{
    let env: Vec<(String, String)> = env.into_iter().collect();
    let port = listen_port(&env)?;
    let service_defaults = T::default();
    // `T = ()`: a service without keys of its own, nothing to merge or read.
    let has_keys = !matches!(
        figment::value::Value::serialize(&service_defaults),
        Ok(figment::value::Value::Empty(..))
    );
    let mut figment = Figment::new().merge(Serialized::defaults(ChassisConfig::default()));
    if has_keys {
        figment = figment.merge(Serialized::defaults(&service_defaults));
    }
    if let Some(path) = file {
        if !path.exists() {
            return Err(Error::ConfigFileNotFound {
                path: path.to_owned(),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(EnvVars::new(env));

    let mut chassis: ChassisConfig = figment.extract().map_err(|e| render_error(e, file))?;
    if let Some(port) = port {
        chassis.listen.set_port(port);
    }
    let service: T = if has_keys {
        figment.extract().map_err(|e| render_error(e, file))?
    } else {
        service_defaults
    };
    if let Some(path) = file {
        check_unknown_keys::<T>(&figment, path, has_keys)?;
    }
    chassis.check().map_err(|(key, detail)| {
        let path: Vec<String> = key.split('.').map(str::to_owned).collect();
        config_error(figment.find_metadata(key), &path, file, detail)
    })?;
    Ok(Config { chassis, service })
}

#[cfg(test)]
mod tests;
