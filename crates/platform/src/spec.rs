//! The validated platform: what `tern up` runs. Every default is already applied and every
//! path is absolute, so the supervisor never looks at the file again.

use std::{
    collections::BTreeMap,
    fmt,
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

/// The whole platform file (base plus the environment's overlay), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// The directory holding `tern.toml`; relative paths in the file are resolved against it.
    pub root: PathBuf,
    /// The environment (`tern up --env NAME`) whose overlay was applied, if any.
    pub env: Option<String>,
    pub registry: RegistrySpec,
    pub broker: BrokerSpec,
    pub supervisor: SupervisorSpec,
    pub telemetry: TelemetrySpec,
    /// In start order: every service after the services it depends on, ties broken by
    /// name. Stop in reverse.
    pub services: Vec<ServiceSpec>,
}

impl Platform {
    /// The service declared as `[services.NAME]`.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// Which service registry the platform uses.
#[derive(Clone, PartialEq, Eq)]
pub enum RegistrySpec {
    /// `tern up` runs the registry itself, on these addresses.
    Embedded {
        http: SocketAddr,
        dns: SocketAddr,
        /// ACL token the registry requires (and services send). Never printed by `Debug`.
        token: Option<String>,
    },
    /// A registry that already runs elsewhere (`HOST:PORT` of its Consul HTTP API).
    External {
        address: String,
        /// ACL token sent to it. Never printed by `Debug`.
        token: Option<String>,
    },
}

impl RegistrySpec {
    /// Consul's own HTTP API address, so stock clients work unconfigured.
    pub const DEFAULT_HTTP: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8500);
    /// Consul's own DNS address.
    pub const DEFAULT_DNS: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8600);

    /// The ACL token, whichever the registry.
    pub fn token(&self) -> Option<&str> {
        match self {
            RegistrySpec::Embedded { token, .. } | RegistrySpec::External { token, .. } => {
                token.as_deref()
            }
        }
    }
}

impl Default for RegistrySpec {
    /// An embedded registry on 127.0.0.1:8500 (HTTP) and 127.0.0.1:8600 (DNS), no token.
    fn default() -> Self {
        RegistrySpec::Embedded {
            http: Self::DEFAULT_HTTP,
            dns: Self::DEFAULT_DNS,
            token: None,
        }
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for RegistrySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |token: &Option<String>| token.as_ref().map(|_| Redacted);
        match self {
            RegistrySpec::Embedded { http, dns, token } => f
                .debug_struct("Embedded")
                .field("http", http)
                .field("dns", dns)
                .field("token", &redacted(token))
                .finish(),
            RegistrySpec::External { address, token } => f
                .debug_struct("External")
                .field("address", address)
                .field("token", &redacted(token))
                .finish(),
        }
    }
}

/// Which Kafka-compatible broker the platform uses (`[broker]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerSpec {
    /// `tern up` runs the broker itself.
    Embedded {
        listen: SocketAddr,
        /// `HOST:PORT` given to clients in metadata; default: the bound address.
        advertised: Option<String>,
        /// Partitions of topics created on first use.
        partitions: u32,
        flush: FlushSpec,
    },
    /// A Kafka cluster that already runs elsewhere (a bootstrap `HOST:PORT`).
    External { bootstrap: String },
    /// No broker (`embedded = false` without `external`).
    Off,
}

impl BrokerSpec {
    /// Kafka's own port, so stock clients work unconfigured.
    pub const DEFAULT_LISTEN: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9092);
}

impl Default for BrokerSpec {
    /// An embedded broker on 127.0.0.1:9092, one partition per new topic, durable writes.
    fn default() -> Self {
        BrokerSpec::Embedded {
            listen: Self::DEFAULT_LISTEN,
            advertised: None,
            partitions: 1,
            flush: FlushSpec::Always,
        }
    }
}

/// What `tern up` collects from services (`[telemetry]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySpec {
    pub traces: TracesSpec,
    /// The StatsD receiver, `None` with `statsd = false`.
    pub statsd: Option<StatsdSpec>,
}

/// Where services send spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracesSpec {
    /// `tern up` runs an OTLP receiver and keeps recent traces (`tern traces`).
    Embedded {
        /// OTLP/gRPC, default 127.0.0.1:4317.
        grpc: SocketAddr,
        /// OTLP/HTTP and the trace query API, default 127.0.0.1:4318.
        http: SocketAddr,
        /// Spans kept in memory; the oldest traces go first.
        max_spans: u32,
    },
    /// An OpenTelemetry collector or Jaeger elsewhere: OTLP/gRPC `HOST:PORT`.
    External { endpoint: String },
    /// No traces are exported (`traces = false`).
    Off,
}

/// The StatsD receiver and where what it receives is served as Prometheus metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsdSpec {
    /// UDP, default 127.0.0.1:8125.
    pub listen: SocketAddr,
    /// `GET /metrics`, default 127.0.0.1:9102 (statsd_exporter's port).
    pub metrics: SocketAddr,
}

impl TelemetrySpec {
    pub const DEFAULT_OTLP_GRPC: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 4317);
    pub const DEFAULT_OTLP_HTTP: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 4318);
    pub const DEFAULT_MAX_SPANS: u32 = 100_000;
    pub const DEFAULT_STATSD: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8125);
    pub const DEFAULT_STATSD_METRICS: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9102);
}

impl Default for TelemetrySpec {
    fn default() -> Self {
        TelemetrySpec {
            traces: TracesSpec::Embedded {
                grpc: Self::DEFAULT_OTLP_GRPC,
                http: Self::DEFAULT_OTLP_HTTP,
                max_spans: Self::DEFAULT_MAX_SPANS,
            },
            statsd: Some(StatsdSpec {
                listen: Self::DEFAULT_STATSD,
                metrics: Self::DEFAULT_STATSD_METRICS,
            }),
        }
    }
}

/// When the embedded broker syncs its log to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushSpec {
    /// Before a produce with acks=all is answered (and before consumers see the data).
    Always,
    /// Every interval.
    Interval(Duration),
    /// Never explicitly: the operating system decides.
    Os,
}

/// How `tern up` itself runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorSpec {
    /// The data directory, absolute. Default `ROOT/.tern`.
    pub data_dir: PathBuf,
    /// Each service's log is capped at this many bytes. Default 16 MiB.
    pub log_max_bytes: u64,
}

/// One `[services.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceSpec {
    /// The table name: the key under `[services]`.
    pub name: String,
    /// The service name in the registry.
    pub register_as: String,
    pub program: Program,
    /// A command that makes the program (`build`, e.g. `["cargo", "build", "-p", "users"]`),
    /// run in `workdir` by `tern up` before anything starts. Not part of the revision: what
    /// it builds is the program the revision names.
    #[serde(default)]
    pub build: Option<Vec<String>>,
    /// The working directory of its processes, absolute.
    pub workdir: PathBuf,
    /// How many processes to keep running; 0 means declared but stopped.
    pub replicas: u32,
    /// Extra environment for its processes.
    pub env: BTreeMap<String, String>,
    /// Who registers a `command`'s replicas (`register`); built-ins register themselves.
    #[serde(default)]
    pub register: Register,
    /// Registry tags of a command's replicas (`tags`), registered by the supervisor.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Registry `Meta` of a command's replicas (`meta`), plus `metrics_path` when given.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// The path of a command's Prometheus endpoint (`metrics_path`), registered as the
    /// `metrics_path` meta key, where Prometheus' discovery and `tern top` find it.
    #[serde(default)]
    pub metrics_path: Option<String>,
    pub health: HealthSpec,
    /// A new replica must be healthy within this, or the rollout stops.
    pub readiness_timeout: Duration,
    pub restart: RestartPolicy,
    /// A replica whose health stays critical this long is restarted.
    pub unhealthy_restart_after: Duration,
    /// The registry KV prefix holding its configuration, ending in `/`.
    pub config_prefix: String,
    /// Rolling restart when a KV key under `config_prefix` changes.
    pub restart_on_change: bool,
    /// Services (table names) that start before this one.
    pub depends_on: Vec<String>,
    /// Time between deregistration and SIGTERM.
    pub drain: Duration,
    /// Time between SIGTERM and SIGKILL.
    pub stop_timeout: Duration,
}

impl ServiceSpec {
    /// A stable 16-hex-digit hash (64-bit FNV-1a) of what makes a *revision*: a change here
    /// means the running processes are outdated and must be replaced (rolling restart).
    ///
    /// Counted: `program`, `workdir`, `env`, `health`, `config_prefix` and `register_as`
    /// (a process registers itself under that name, so a rename needs new processes), and
    /// `register`, `tags`, `meta`, `metrics_path` (registered when a replica starts), these
    /// four only when not the default, so older definitions keep their hash.
    /// Not counted: `build` (it makes the program named above), and, because the supervisor
    /// applies them to running processes, `replicas`
    /// (scaling is not a new revision), `restart`, `unhealthy_restart_after`,
    /// `readiness_timeout`, `restart_on_change`, `depends_on`, `drain`, `stop_timeout`.
    ///
    /// The value is the same across runs, machines and versions of this crate for the same
    /// inputs (it is not `std`'s randomly seeded hasher).
    pub fn revision_hash(&self) -> String {
        let mut h = Fnv1a::new();
        match &self.program {
            Program::Builtin(builtin) => {
                h.field("builtin");
                h.str(builtin.name());
            }
            Program::Command(args) => {
                h.field("command");
                h.u64(args.len() as u64);
                for arg in args {
                    h.str(arg);
                }
            }
        }
        h.field("workdir");
        h.bytes(self.workdir.as_os_str().as_encoded_bytes());
        h.field("env");
        h.u64(self.env.len() as u64);
        for (key, value) in &self.env {
            h.str(key);
            h.str(value);
        }
        h.field("health");
        match &self.health.kind {
            HealthKind::Grpc => h.str("grpc"),
            HealthKind::Http { path } => {
                h.str("http");
                h.str(path);
            }
            HealthKind::Tcp => h.str("tcp"),
        }
        h.duration(self.health.interval);
        h.duration(self.health.timeout);
        h.field("config_prefix");
        h.str(&self.config_prefix);
        h.field("register_as");
        h.str(&self.register_as);
        if self.register != Register::default() {
            h.field("register");
            h.str(self.register.as_str());
        }
        if !self.tags.is_empty() {
            h.field("tags");
            h.u64(self.tags.len() as u64);
            for tag in &self.tags {
                h.str(tag);
            }
        }
        if !self.meta.is_empty() {
            h.field("meta");
            h.u64(self.meta.len() as u64);
            for (key, value) in &self.meta {
                h.str(key);
                h.str(value);
            }
        }
        if let Some(path) = &self.metrics_path {
            h.field("metrics_path");
            h.str(path);
        }
        format!("{:016x}", h.0)
    }
}

/// 64-bit FNV-1a over a self-delimiting encoding (every string is length-prefixed, every
/// field named), so `["a", "bc"]` and `["ab", "c"]` hash differently.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn raw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn u64(&mut self, n: u64) {
        self.raw(&n.to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        self.raw(bytes);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn field(&mut self, name: &str) {
        self.str(name);
    }

    fn duration(&mut self, d: Duration) {
        self.u64(d.as_secs());
        self.u64(u64::from(d.subsec_nanos()));
    }
}

/// What a service runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Program {
    /// A service built into the `tern` binary.
    Builtin(Builtin),
    /// Any program: the program (a name looked up in `PATH`, or a path), then its arguments.
    Command(Vec<String>),
}

/// Who registers a `command` service's replicas in the registry (`register = "..."`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Register {
    /// `"supervisor"` (default): the supervisor registers each replica as
    /// `REGISTER_AS-N` on the `PORT` it gives, with the `[health]` check, and tells the
    /// program so (`TERN_REGISTERED_BY=supervisor`).
    #[default]
    Supervisor,
    /// `"self"`: the program registers itself (any ID, port and check, e.g. through
    /// py-consul); the supervisor finds that registration by the replica's listening
    /// sockets, follows its health and deregisters it when the process ends.
    Itself,
}

impl Register {
    /// The value written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Register::Supervisor => "supervisor",
            Register::Itself => "self",
        }
    }
}

/// The services built into `tern`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Builtin {
    /// The geo search service (`services/search`).
    Search,
}

impl Builtin {
    /// Every built-in service.
    pub const ALL: [Builtin; 1] = [Builtin::Search];

    /// The name used in `builtin = "..."`.
    pub fn name(&self) -> &'static str {
        match self {
            Builtin::Search => "search",
        }
    }

    /// The name it registers under by default.
    pub fn service_name(&self) -> &'static str {
        match self {
            Builtin::Search => "search-service",
        }
    }

    /// The built-in service called `name` in `builtin = "..."`.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// How the registry probes each replica.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthSpec {
    pub kind: HealthKind,
    /// Time between probes. Default 1s.
    pub interval: Duration,
    /// A probe not answered within this is critical. Default 1s.
    pub timeout: Duration,
}

/// The probe, against the replica's address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HealthKind {
    /// `grpc.health.v1.Health/Check`.
    Grpc,
    /// `GET http://ADDR{path}`: 2xx passing, 429 warning, else critical.
    Http { path: String },
    /// A TCP connection is accepted.
    Tcp,
}

/// What happens when a replica's process exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RestartPolicy {
    /// Restart it whatever its exit status.
    Always,
    /// Restart it unless it exited with status 0.
    OnFailure,
    /// Leave it stopped.
    Never,
}
