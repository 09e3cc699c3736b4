//! From the merged tree to the validated [`Platform`]: types, unknown keys, defaults, and
//! the rules between keys and between services. Every error points at a key or a value in
//! the file it was written in.
//!
//! Contradicting keys (`builtin` and `command`; `embedded = true` and `external`; a health
//! `path` with a kind other than `"http"`; `http`/`dns` with `external`) are an error when
//! written in the same file. When the overlay sets one and the base the other, the
//! overlay's choice wins and the base's key is ignored: an overlay cannot delete keys, so
//! this is how it switches a service to a command or the registry to an external one.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Component, Path, PathBuf},
    time::Duration,
};

use crate::{
    error::{Error, Sources},
    spec::{
        BrokerSpec, FlushSpec, Platform, RegistrySpec, StatsdSpec, SupervisorSpec, TelemetrySpec,
        TracesSpec,
    },
    tree::{child, Entry, Kind, Loc, Node},
    values::{is_host_port, parse_size},
};

mod service;

pub(crate) const TOP_KEYS: &[&str] = &["broker", "registry", "services", "supervisor", "telemetry"];
pub(crate) const TELEMETRY_KEYS: &[&str] = &[
    "max_spans",
    "otlp_external",
    "otlp_grpc",
    "otlp_http",
    "statsd",
    "statsd_listen",
    "statsd_metrics",
    "traces",
];
pub(crate) const BROKER_KEYS: &[&str] = &[
    "advertised",
    "embedded",
    "external",
    "flush",
    "listen",
    "partitions",
];
pub(crate) const REGISTRY_KEYS: &[&str] = &["dns", "embedded", "external", "http", "token"];
pub(crate) const SUPERVISOR_KEYS: &[&str] = &["data_dir", "log_max_bytes"];
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "build",
    "builtin",
    "command",
    "config_prefix",
    "depends_on",
    "drain",
    "env",
    "health",
    "meta",
    "metrics_path",
    "readiness_timeout",
    "register",
    "register_as",
    "replicas",
    "restart",
    "restart_on_change",
    "stop_timeout",
    "tags",
    "unhealthy_restart_after",
    "workdir",
];
pub(crate) const HEALTH_KEYS: &[&str] = &["interval", "kind", "path", "timeout"];

pub(crate) const DEFAULT_DATA_DIR: &str = ".tern";
const DEFAULT_LOG_MAX_BYTES: u64 = 16 << 20;
const DEFAULT_REPLICAS: u32 = 1;
const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
const DEFAULT_HEALTH_PATH: &str = "/healthz";
const DEFAULT_READINESS_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_UNHEALTHY_RESTART_AFTER: Duration = Duration::from_secs(10);
const DEFAULT_DRAIN: Duration = Duration::from_secs(1);
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

const DURATION_FORM: &str = "a duration like \"10s\", \"500ms\" or \"1m30s\"";
const SIZE_FORM: &str = "a size like \"16MiB\", \"512KiB\" or a number of bytes";

type Fields = BTreeMap<String, Entry>;

/// Decodes the merged document. `root` is the directory relative paths are resolved in.
pub(crate) fn platform(
    src: &Sources<'_>,
    doc: &Node,
    root: &Path,
    env: Option<&str>,
) -> Result<Platform, Error> {
    let cx = Cx { src };
    let top = cx.table(doc, "", TOP_KEYS)?;
    Ok(Platform {
        root: root.to_path_buf(),
        env: env.map(str::to_owned),
        registry: cx.registry(top.get("registry"))?,
        broker: cx.broker(top.get("broker"))?,
        supervisor: cx.supervisor(top.get("supervisor"), root)?,
        telemetry: cx.telemetry(top.get("telemetry"))?,
        services: cx.services(top.get("services"), root, env)?,
    })
}

struct Cx<'a> {
    src: &'a Sources<'a>,
}

impl Cx<'_> {
    fn err(&self, loc: &Loc, key: &str, message: impl Into<String>) -> Error {
        self.src.invalid(loc, key, message)
    }

    /// "expected WHAT, found a string": the value has the wrong type.
    fn expected(&self, node: &Node, key: &str, what: &str) -> Error {
        self.err(
            &node.loc,
            key,
            format!("expected {what}, found {}", node.type_name()),
        )
    }

    /// The value's entries, after rejecting keys not in `allowed`.
    fn table<'n>(&self, node: &'n Node, key: &str, allowed: &[&str]) -> Result<&'n Fields, Error> {
        let Kind::Table(entries) = &node.kind else {
            return Err(self.expected(node, key, "a table"));
        };
        let unknown = entries
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.as_str()))
            .min_by(|a, b| a.1.key.cmp(&b.1.key));
        match unknown {
            Some((k, e)) => Err(self.err(
                &e.key,
                &child(key, k),
                format!("unknown key, expected one of: {}", allowed.join(", ")),
            )),
            None => Ok(entries),
        }
    }

    /// Decodes `parent.key` with `decode` when present.
    fn opt<'n, T>(
        &self,
        fields: &'n Fields,
        parent: &str,
        key: &str,
        decode: impl FnOnce(&'n Node, &str) -> Result<T, Error>,
    ) -> Result<Option<(&'n Entry, T)>, Error> {
        match fields.get(key) {
            None => Ok(None),
            Some(e) => Ok(Some((e, decode(&e.value, &child(parent, key))?))),
        }
    }

    fn string<'n>(&self, node: &'n Node, key: &str, what: &str) -> Result<&'n str, Error> {
        match &node.kind {
            Kind::String(s) => Ok(s),
            _ => Err(self.expected(node, key, what)),
        }
    }

    /// A string handed to the operating system (a path, an argument, an environment value).
    fn os_string<'n>(&self, node: &'n Node, key: &str, what: &str) -> Result<&'n str, Error> {
        let s = self.string(node, key, what)?;
        if s.contains('\0') {
            return Err(self.err(
                &node.loc,
                key,
                format!("expected {what}, found a NUL character"),
            ));
        }
        Ok(s)
    }

    fn boolean(&self, node: &Node, key: &str) -> Result<bool, Error> {
        match node.kind {
            Kind::Bool(b) => Ok(b),
            _ => Err(self.expected(node, key, "true or false")),
        }
    }

    fn count(&self, node: &Node, key: &str) -> Result<u32, Error> {
        match node.kind {
            Kind::Integer(n) if n < 0 => Err(self.err(
                &node.loc,
                key,
                format!("expected a non-negative integer, found {n}"),
            )),
            Kind::Integer(n) => u32::try_from(n).map_err(|_| {
                self.err(
                    &node.loc,
                    key,
                    format!("expected an integer up to {}, found {n}", u32::MAX),
                )
            }),
            _ => Err(self.expected(node, key, "a non-negative integer")),
        }
    }

    fn duration(&self, node: &Node, key: &str) -> Result<Duration, Error> {
        let text = self.string(node, key, DURATION_FORM)?;
        tern_duration::parse(text).map_err(|_| {
            self.err(
                &node.loc,
                key,
                format!("expected {DURATION_FORM}, found {text:?}"),
            )
        })
    }

    fn positive_duration(&self, node: &Node, key: &str) -> Result<Duration, Error> {
        let d = self.duration(node, key)?;
        if d.is_zero() {
            let text = self.string(node, key, DURATION_FORM)?;
            return Err(self.err(
                &node.loc,
                key,
                format!("expected a duration greater than 0, found {text:?}"),
            ));
        }
        Ok(d)
    }

    fn socket_addr(&self, node: &Node, key: &str, example: &str) -> Result<SocketAddr, Error> {
        let form = format!("a socket address IP:PORT like \"{example}\"");
        let text = self.string(node, key, &form)?;
        text.parse()
            .map_err(|_| self.err(&node.loc, key, format!("expected {form}, found {text:?}")))
    }

    fn host_port<'n>(&self, node: &'n Node, key: &str, example: &str) -> Result<&'n str, Error> {
        let form = format!("an address HOST:PORT like \"{example}\"");
        let text = self.string(node, key, &form)?;
        if !is_host_port(text) {
            return Err(self.err(&node.loc, key, format!("expected {form}, found {text:?}")));
        }
        Ok(text)
    }

    fn size(&self, node: &Node, key: &str) -> Result<u64, Error> {
        let bytes = match &node.kind {
            Kind::Integer(n) => u64::try_from(*n).ok(),
            Kind::String(s) => parse_size(s),
            _ => return Err(self.expected(node, key, SIZE_FORM)),
        };
        let found = match &node.kind {
            Kind::String(s) => format!("{s:?}"),
            Kind::Integer(n) => n.to_string(),
            _ => node.type_name().to_owned(),
        };
        match bytes {
            Some(0) => Err(self.err(
                &node.loc,
                key,
                format!("expected a size greater than 0, found {found}"),
            )),
            Some(b) => Ok(b),
            None => Err(self.err(
                &node.loc,
                key,
                format!("expected {SIZE_FORM}, found {found}"),
            )),
        }
    }

    /// A path, resolved against `root` when relative.
    fn path(&self, node: &Node, key: &str, root: &Path) -> Result<PathBuf, Error> {
        let text = self.os_string(node, key, "a path")?;
        if text.is_empty() {
            return Err(self.err(&node.loc, key, "expected a path, found an empty string"));
        }
        Ok(resolve(root, Path::new(text)))
    }

    fn registry(&self, entry: Option<&Entry>) -> Result<RegistrySpec, Error> {
        let Some(entry) = entry else {
            return Ok(RegistrySpec::default());
        };
        let key = "registry";
        let t = self.table(&entry.value, key, REGISTRY_KEYS)?;
        let embedded = self.opt(t, key, "embedded", |n, k| self.boolean(n, k))?;
        let external = self.opt(t, key, "external", |n, k| {
            self.host_port(n, k, "consul.internal:8500")
        })?;
        let http = self.opt(t, key, "http", |n, k| {
            self.socket_addr(n, k, "127.0.0.1:8500")
        })?;
        let dns = self.opt(t, key, "dns", |n, k| {
            self.socket_addr(n, k, "127.0.0.1:8600")
        })?;
        let token = self.opt(t, key, "token", |n, k| {
            let token = self.string(n, k, "an ACL token (a string)")?;
            if token.is_empty() {
                return Err(self.err(&n.loc, k, "expected an ACL token, found an empty string"));
            }
            Ok(token.to_owned())
        })?;
        let token = token.map(|(_, t)| t);

        let external = match (embedded, external) {
            (Some((e, false)), None) => {
                return Err(self.err(
                    &e.value.loc,
                    &child(key, "embedded"),
                    "embedded = false needs `external = \"HOST:PORT\"`, the registry to use instead",
                ));
            }
            (Some((e, true)), Some((x, address))) => {
                if e.value.loc.file == x.value.loc.file {
                    let (later, name) = if x.key > e.key {
                        (x, "external")
                    } else {
                        (e, "embedded")
                    };
                    return Err(self.err(
                        &later.key,
                        &child(key, name),
                        "`embedded = true` and `external` contradict each other: remove one",
                    ));
                }
                // Set in different files: the overlay's wins.
                (x.value.loc.file > e.value.loc.file).then_some((x, address))
            }
            (_, external) => external,
        };
        match external {
            None => Ok(RegistrySpec::Embedded {
                http: http.map_or(RegistrySpec::DEFAULT_HTTP, |(_, a)| a),
                dns: dns.map_or(RegistrySpec::DEFAULT_DNS, |(_, a)| a),
                token,
            }),
            Some((x, address)) => {
                for (name, given) in [("http", http), ("dns", dns)] {
                    match given {
                        Some((e, _)) if e.value.loc.file == x.value.loc.file => {
                            return Err(self.err(
                                &e.key,
                                &child(key, name),
                                "applies only to the embedded registry, and `external` is set",
                            ));
                        }
                        _ => {}
                    }
                }
                Ok(RegistrySpec::External {
                    address: address.to_owned(),
                    token,
                })
            }
        }
    }

    fn broker(&self, entry: Option<&Entry>) -> Result<BrokerSpec, Error> {
        let Some(entry) = entry else {
            return Ok(BrokerSpec::default());
        };
        let key = "broker";
        let t = self.table(&entry.value, key, BROKER_KEYS)?;
        let embedded = self.opt(t, key, "embedded", |n, k| self.boolean(n, k))?;
        let external = self.opt(t, key, "external", |n, k| {
            self.host_port(n, k, "kafka.internal:9092")
                .map(str::to_owned)
        })?;
        let listen = self.opt(t, key, "listen", |n, k| {
            self.socket_addr(n, k, "127.0.0.1:9092")
        })?;
        let advertised = self.opt(t, key, "advertised", |n, k| {
            self.host_port(n, k, "broker.local:9092").map(str::to_owned)
        })?;
        let partitions = self.opt(t, key, "partitions", |n, k| {
            let count = self.count(n, k)?;
            if count == 0 {
                return Err(self.err(&n.loc, k, "expected at least 1 partition, found 0"));
            }
            Ok(count)
        })?;
        let flush = self.opt(t, key, "flush", |n, k| {
            let form = "\"always\", \"os\" or a duration like \"100ms\"";
            match self.string(n, k, form)? {
                "always" => Ok(FlushSpec::Always),
                "os" => Ok(FlushSpec::Os),
                text => match tern_duration::parse(text) {
                    Ok(interval) if !interval.is_zero() => Ok(FlushSpec::Interval(interval)),
                    _ => Err(self.err(&n.loc, k, format!("expected {form}, found {text:?}"))),
                },
            }
        })?;
        let embedded_only = [
            ("listen", listen.as_ref().map(|(e, _)| *e)),
            ("advertised", advertised.as_ref().map(|(e, _)| *e)),
            ("partitions", partitions.as_ref().map(|(e, _)| *e)),
            ("flush", flush.as_ref().map(|(e, _)| *e)),
        ];
        match (embedded, external) {
            (Some((e, true)), Some((x, _))) if e.value.loc.file == x.value.loc.file => Err(self
                .err(
                    &x.key,
                    &child(key, "external"),
                    "`embedded = true` and `external` contradict each other: remove one",
                )),
            (Some((e, true)), Some((x, _))) if e.value.loc.file > x.value.loc.file => {
                Ok(self.embedded_broker(listen, advertised, partitions, flush))
            }
            (_, Some((x, bootstrap))) => {
                for (name, given) in embedded_only {
                    if let Some(e) = given.filter(|e| e.value.loc.file == x.value.loc.file) {
                        return Err(self.err(
                            &e.key,
                            &child(key, name),
                            "applies only to the embedded broker, and `external` is set",
                        ));
                    }
                }
                Ok(BrokerSpec::External { bootstrap })
            }
            (Some((_, false)), None) => Ok(BrokerSpec::Off),
            (_, None) => Ok(self.embedded_broker(listen, advertised, partitions, flush)),
        }
    }

    fn embedded_broker(
        &self,
        listen: Option<(&Entry, SocketAddr)>,
        advertised: Option<(&Entry, String)>,
        partitions: Option<(&Entry, u32)>,
        flush: Option<(&Entry, FlushSpec)>,
    ) -> BrokerSpec {
        BrokerSpec::Embedded {
            listen: listen.map_or(BrokerSpec::DEFAULT_LISTEN, |(_, a)| a),
            advertised: advertised.map(|(_, a)| a),
            partitions: partitions.map_or(1, |(_, n)| n),
            flush: flush.map_or(FlushSpec::Always, |(_, f)| f),
        }
    }

    fn telemetry(&self, entry: Option<&Entry>) -> Result<TelemetrySpec, Error> {
        let Some(entry) = entry else {
            return Ok(TelemetrySpec::default());
        };
        let key = "telemetry";
        let t = self.table(&entry.value, key, TELEMETRY_KEYS)?;
        let addr = |name: &str, example: &str| {
            self.opt(t, key, name, |n, k| self.socket_addr(n, k, example))
                .map(|found| found.map(|(_, a)| a))
        };
        let grpc = addr("otlp_grpc", "127.0.0.1:4317")?;
        let http = addr("otlp_http", "127.0.0.1:4318")?;
        let statsd_listen = addr("statsd_listen", "127.0.0.1:8125")?;
        let statsd_metrics = addr("statsd_metrics", "127.0.0.1:9102")?;
        let max_spans = self.opt(t, key, "max_spans", |n, k| {
            let count = self.count(n, k)?;
            if count == 0 {
                return Err(self.err(&n.loc, k, "expected at least 1 span, found 0"));
            }
            Ok(count)
        })?;
        let traces_on = self.opt(t, key, "traces", |n, k| self.boolean(n, k))?;
        let external = self.opt(t, key, "otlp_external", |n, k| {
            self.host_port(n, k, "otel-collector:4317")
                .map(str::to_owned)
        })?;
        let statsd_on = self.opt(t, key, "statsd", |n, k| self.boolean(n, k))?;
        let traces = match (traces_on, external) {
            (Some((_, false)), _) => TracesSpec::Off,
            (_, Some((_, endpoint))) => TracesSpec::External { endpoint },
            _ => TracesSpec::Embedded {
                grpc: grpc.unwrap_or(TelemetrySpec::DEFAULT_OTLP_GRPC),
                http: http.unwrap_or(TelemetrySpec::DEFAULT_OTLP_HTTP),
                max_spans: max_spans.map_or(TelemetrySpec::DEFAULT_MAX_SPANS, |(_, n)| n),
            },
        };
        let statsd = match statsd_on {
            Some((_, false)) => None,
            _ => Some(StatsdSpec {
                listen: statsd_listen.unwrap_or(TelemetrySpec::DEFAULT_STATSD),
                metrics: statsd_metrics.unwrap_or(TelemetrySpec::DEFAULT_STATSD_METRICS),
            }),
        };
        Ok(TelemetrySpec { traces, statsd })
    }

    fn supervisor(&self, entry: Option<&Entry>, root: &Path) -> Result<SupervisorSpec, Error> {
        let mut spec = SupervisorSpec {
            data_dir: resolve(root, Path::new(DEFAULT_DATA_DIR)),
            log_max_bytes: DEFAULT_LOG_MAX_BYTES,
        };
        let Some(entry) = entry else {
            return Ok(spec);
        };
        let key = "supervisor";
        // Once the control API's TCP address; now the API is the data dir's owner-only
        // socket, which no setting can open wider. Say so rather than "unknown key".
        if let Kind::Table(entries) = &entry.value.kind {
            if let Some(old) = entries.get("control") {
                return Err(self.err(
                    &old.key,
                    &child(key, "control"),
                    "no longer a setting: the control API listens on DATA_DIR/supervisor/control.sock, \
                     reachable only by the user running `tern up`; remove this key",
                ));
            }
        }
        let t = self.table(&entry.value, key, SUPERVISOR_KEYS)?;
        if let Some((_, p)) = self.opt(t, key, "data_dir", |n, k| self.path(n, k, root))? {
            spec.data_dir = p;
        }
        if let Some((_, b)) = self.opt(t, key, "log_max_bytes", |n, k| self.size(n, k))? {
            spec.log_max_bytes = b;
        }
        Ok(spec)
    }
}

/// `root/path` with `.` dropped and `..` applied lexically (no file system access), or
/// `path` itself when absolute.
pub(crate) fn resolve(root: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in root.join(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}
