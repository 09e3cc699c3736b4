//! The `[services.NAME]` tables, and the rules between services: unique registry names,
//! known `depends_on` targets, no dependency cycle, start order.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
};

use super::{
    Cx, Fields, DEFAULT_DRAIN, DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_PATH,
    DEFAULT_HEALTH_TIMEOUT, DEFAULT_READINESS_TIMEOUT, DEFAULT_REPLICAS, DEFAULT_STOP_TIMEOUT,
    DEFAULT_UNHEALTHY_RESTART_AFTER, HEALTH_KEYS, SERVICE_KEYS,
};
use crate::{
    error::Error,
    order,
    spec::{Builtin, HealthKind, HealthSpec, Program, Register, RestartPolicy, ServiceSpec},
    tree::{child, Entry, FileId, Kind, Loc, Node},
    values::{is_service_name, SERVICE_NAME_FORM},
};

/// A decoded service, with the locations the checks between services point at.
struct Decoded<'n> {
    spec: ServiceSpec,
    /// Where the table is named (`[services.NAME]`).
    table: &'n Loc,
    /// The `register_as` value, when given.
    register_as: Option<&'n Loc>,
    /// Each `depends_on` entry and where it is written.
    depends_on: Vec<(&'n Loc, &'n str)>,
}

#[derive(Clone, Copy)]
enum Probe {
    Grpc,
    Http,
    Tcp,
}

impl Cx<'_> {
    pub(super) fn services(
        &self,
        entry: Option<&Entry>,
        root: &Path,
        env: Option<&str>,
    ) -> Result<Vec<ServiceSpec>, Error> {
        let Some(entry) = entry else {
            return Ok(Vec::new());
        };
        let Kind::Table(tables) = &entry.value.kind else {
            return Err(self.expected(
                &entry.value,
                "services",
                "a table of services, one [services.NAME] each",
            ));
        };
        let mut decoded = Vec::with_capacity(tables.len());
        for (name, e) in tables {
            let key = child("services", name);
            if !is_service_name(name) {
                return Err(self.err(
                    &e.key,
                    &key,
                    format!("invalid service name: expected {SERVICE_NAME_FORM}"),
                ));
            }
            decoded.push(self.service(name, e, &key, root, env)?);
        }
        self.check_register_as(&decoded)?;
        self.check_depends_on(&decoded)?;

        let deps: BTreeMap<&str, Vec<&str>> = decoded
            .iter()
            .map(|d| {
                (
                    d.spec.name.as_str(),
                    d.depends_on.iter().map(|(_, n)| *n).collect(),
                )
            })
            .collect();
        let order = match order::start_order(&deps) {
            Ok(order) => order,
            Err(cycle) => return Err(self.cycle(&decoded, &cycle)),
        };
        let order: Vec<String> = order.into_iter().map(str::to_owned).collect();
        let mut by_name: BTreeMap<String, ServiceSpec> = decoded
            .into_iter()
            .map(|d| (d.spec.name.clone(), d.spec))
            .collect();
        Ok(order
            .iter()
            .filter_map(|name| by_name.remove(name))
            .collect())
    }

    fn service<'n>(
        &self,
        name: &str,
        entry: &'n Entry,
        key: &str,
        root: &Path,
        env: Option<&str>,
    ) -> Result<Decoded<'n>, Error> {
        let t = self.table(&entry.value, key, SERVICE_KEYS)?;
        let program = self.program(t, entry, key)?;
        let workdir = self.opt(t, key, "workdir", |n, k| self.path(n, k, root))?;
        let build = self.opt(t, key, "build", |n, k| self.command(n, k))?;
        if let (Program::Builtin(_), Some((e, _))) = (&program, &build) {
            return Err(self.err(
                &e.key,
                &child(key, "build"),
                "applies only to `command` services: a built-in is part of tern",
            ));
        }
        let register_as = self.opt(t, key, "register_as", |n, k| {
            let s = self.string(n, k, "a service name")?;
            if !is_service_name(s) {
                return Err(self.err(
                    &n.loc,
                    k,
                    format!("expected a service name: {SERVICE_NAME_FORM}, found {s:?}"),
                ));
            }
            Ok(s)
        })?;
        let replicas = self.opt(t, key, "replicas", |n, k| self.count(n, k))?;
        let env_vars = self.opt(t, key, "env", |n, k| self.env_vars(n, k))?;
        let register = self.opt(t, key, "register", |n, k| self.register(n, k))?;
        let tags = self.opt(t, key, "tags", |n, k| self.tags(n, k))?;
        let meta = self.opt(t, key, "meta", |n, k| self.meta(n, k))?;
        let metrics_path = self.opt(t, key, "metrics_path", |n, k| {
            let form = "a URL path starting with \"/\", e.g. \"/metrics\"";
            let p = self.string(n, k, form)?;
            if !p.starts_with('/') || p.contains(|c: char| c.is_whitespace() || c.is_control()) {
                return Err(self.err(&n.loc, k, format!("expected {form}, found {p:?}")));
            }
            Ok(p.to_owned())
        })?;
        let register = register.map_or(Register::Supervisor, |(_, r)| r);
        let registered_keys = [
            ("tags", tags.as_ref().map(|(e, _)| *e)),
            ("meta", meta.as_ref().map(|(e, _)| *e)),
            ("metrics_path", metrics_path.as_ref().map(|(e, _)| *e)),
        ];
        if matches!(program, Program::Builtin(_)) {
            let given = t.get("register").map(|e| ("register", e)).or_else(|| {
                registered_keys
                    .iter()
                    .find_map(|(name, e)| e.map(|e| (*name, e)))
            });
            if let Some((name, e)) = given {
                return Err(self.err(
                    &e.key,
                    &child(key, name),
                    "applies only to `command` services: a built-in registers itself",
                ));
            }
        }
        if register == Register::Itself {
            if let Some((name, e)) = registered_keys
                .iter()
                .find_map(|(name, e)| e.map(|e| (*name, e)))
            {
                return Err(self.err(
                    &e.key,
                    &child(key, name),
                    "applies only when the supervisor registers the replicas, and `register` \
                     is \"self\": the program registers its own tags and meta",
                ));
            }
        }
        let health = self.health(t.get("health"), &child(key, "health"), &program)?;
        let readiness_timeout = self.opt(t, key, "readiness_timeout", |n, k| {
            self.positive_duration(n, k)
        })?;
        let restart = self.opt(t, key, "restart", |n, k| self.restart(n, k))?;
        let unhealthy_restart_after = self.opt(t, key, "unhealthy_restart_after", |n, k| {
            self.duration(n, k)
        })?;
        let config_prefix = self.opt(t, key, "config_prefix", |n, k| self.config_prefix(n, k))?;
        let restart_on_change = self.opt(t, key, "restart_on_change", |n, k| self.boolean(n, k))?;
        let depends_on = self.opt(t, key, "depends_on", |n, k| self.names(n, k))?;
        let drain = self.opt(t, key, "drain", |n, k| self.duration(n, k))?;
        let stop_timeout = self.opt(t, key, "stop_timeout", |n, k| self.duration(n, k))?;

        let default_register_as = match &program {
            Program::Builtin(b) => b.service_name(),
            Program::Command(_) => name,
        };
        let default_prefix = match env {
            Some(env) => format!("config/{env}/{name}/"),
            None => format!("config/{name}/"),
        };
        let depends_on = depends_on.map(|(_, d)| d).unwrap_or_default();
        let mut names: Vec<String> = Vec::with_capacity(depends_on.len());
        for (_, n) in &depends_on {
            if !names.iter().any(|m| m == n) {
                names.push((*n).to_owned());
            }
        }
        Ok(Decoded {
            table: &entry.key,
            register_as: register_as.map(|(e, _)| &e.value.loc),
            depends_on,
            spec: ServiceSpec {
                name: name.to_owned(),
                register_as: register_as
                    .map_or(default_register_as, |(_, r)| r)
                    .to_owned(),
                program,
                build: build.map(|(_, b)| b),
                workdir: workdir.map_or_else(|| root.to_path_buf(), |(_, w)| w),
                replicas: replicas.map_or(DEFAULT_REPLICAS, |(_, r)| r),
                env: env_vars.map(|(_, e)| e).unwrap_or_default(),
                register,
                tags: tags.map(|(_, t)| t).unwrap_or_default(),
                meta: meta.map(|(_, m)| m).unwrap_or_default(),
                metrics_path: metrics_path.map(|(_, p)| p),
                health,
                readiness_timeout: readiness_timeout.map_or(DEFAULT_READINESS_TIMEOUT, |(_, d)| d),
                restart: restart.map_or(RestartPolicy::Always, |(_, r)| r),
                unhealthy_restart_after: unhealthy_restart_after
                    .map_or(DEFAULT_UNHEALTHY_RESTART_AFTER, |(_, d)| d),
                config_prefix: config_prefix.map_or(default_prefix, |(_, p)| p.to_owned()),
                restart_on_change: restart_on_change.is_some_and(|(_, b)| b),
                depends_on: names,
                drain: drain.map_or(DEFAULT_DRAIN, |(_, d)| d),
                stop_timeout: stop_timeout.map_or(DEFAULT_STOP_TIMEOUT, |(_, d)| d),
            },
        })
    }

    /// `builtin` XOR `command` (see the module docs for the overlay rule).
    fn program(&self, t: &Fields, entry: &Entry, key: &str) -> Result<Program, Error> {
        let builtin = self.opt(t, key, "builtin", |n, k| self.builtin(n, k))?;
        let command = self.opt(t, key, "command", |n, k| self.command(n, k))?;
        match (builtin, command) {
            (Some((b, builtin)), Some((c, command))) => {
                if b.value.loc.file == c.value.loc.file {
                    let (later, name) = if c.key > b.key {
                        (c, "command")
                    } else {
                        (b, "builtin")
                    };
                    return Err(self.err(
                        &later.key,
                        &child(key, name),
                        "`builtin` and `command` are both given: a service runs one or the other",
                    ));
                }
                Ok(if c.value.loc.file > b.value.loc.file {
                    Program::Command(command)
                } else {
                    Program::Builtin(builtin)
                })
            }
            (Some((_, builtin)), None) => Ok(Program::Builtin(builtin)),
            (None, Some((_, command))) => Ok(Program::Command(command)),
            (None, None) => Err(self.err(
                &entry.key,
                key,
                "expected `builtin = \"search\"` or `command = [\"PROGRAM\", \"ARG\", ...]`, found neither",
            )),
        }
    }

    fn builtin(&self, node: &Node, key: &str) -> Result<Builtin, Error> {
        let names: Vec<String> = Builtin::ALL
            .iter()
            .map(|b| format!("{:?}", b.name()))
            .collect();
        let names = names.join(", ");
        let name = self.string(
            node,
            key,
            &format!("the name of a built-in service ({names})"),
        )?;
        Builtin::from_name(name).ok_or_else(|| {
            self.err(
                &node.loc,
                key,
                format!("unknown built-in service {name:?}, expected one of: {names}"),
            )
        })
    }

    fn command(&self, node: &Node, key: &str) -> Result<Vec<String>, Error> {
        let form = "an array of the program and its arguments";
        let Kind::Array(items) = &node.kind else {
            return Err(self.expected(node, key, form));
        };
        if items.is_empty() {
            return Err(self.err(
                &node.loc,
                key,
                format!("expected {form}, found an empty array"),
            ));
        }
        let mut args = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let k = format!("{key}[{i}]");
            let arg = self.os_string(item, &k, "a string")?;
            if i == 0 && arg.is_empty() {
                return Err(self.err(
                    &item.loc,
                    &k,
                    "expected the program's name or path, found an empty string",
                ));
            }
            args.push(arg.to_owned());
        }
        Ok(args)
    }

    fn env_vars(&self, node: &Node, key: &str) -> Result<BTreeMap<String, String>, Error> {
        let Kind::Table(entries) = &node.kind else {
            return Err(self.expected(node, key, "a table like { RUST_LOG = \"info\" }"));
        };
        let mut vars = BTreeMap::new();
        for (name, e) in entries {
            let k = child(key, name);
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(self.err(
                    &e.key,
                    &k,
                    "invalid environment variable name: expected a non-empty name without '=' or NUL",
                ));
            }
            let value = self.os_string(&e.value, &k, "a string")?;
            vars.insert(name.clone(), value.to_owned());
        }
        Ok(vars)
    }

    fn register(&self, node: &Node, key: &str) -> Result<Register, Error> {
        let form = "one of \"supervisor\", \"self\"";
        match self.string(node, key, form)? {
            "supervisor" => Ok(Register::Supervisor),
            "self" => Ok(Register::Itself),
            other => Err(self.err(&node.loc, key, format!("expected {form}, found {other:?}"))),
        }
    }

    /// Registry tags: non-empty strings without control characters.
    fn tags(&self, node: &Node, key: &str) -> Result<Vec<String>, Error> {
        let form = "an array of tags like [\"v1\", \"primary\"]";
        let Kind::Array(items) = &node.kind else {
            return Err(self.expected(node, key, form));
        };
        let mut tags = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let k = format!("{key}[{i}]");
            let what = "a non-empty tag without control characters";
            let tag = self.string(item, &k, what)?;
            if tag.is_empty() || tag.contains(char::is_control) {
                return Err(self.err(&item.loc, &k, format!("expected {what}, found {tag:?}")));
            }
            tags.push(tag.to_owned());
        }
        Ok(tags)
    }

    /// Registry `Meta`, with Consul's limits: at most 64 keys of 1 to 128 ASCII letters,
    /// digits, '-' or '_' (not starting with `consul-`), values up to 512 bytes.
    fn meta(&self, node: &Node, key: &str) -> Result<BTreeMap<String, String>, Error> {
        let Kind::Table(entries) = &node.kind else {
            return Err(self.expected(node, key, "a table like { team = \"maps\" }"));
        };
        if entries.len() > 64 {
            return Err(self.err(
                &node.loc,
                key,
                format!("expected at most 64 keys, found {}", entries.len()),
            ));
        }
        let mut meta = BTreeMap::new();
        for (name, e) in entries {
            let k = child(key, name);
            let valid = (1..=128).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !name.starts_with("consul-");
            if !valid {
                return Err(self.err(
                    &e.key,
                    &k,
                    "invalid meta key: expected 1 to 128 ASCII letters, digits, '-' or '_', \
                     not starting with \"consul-\"",
                ));
            }
            let value = self.string(&e.value, &k, "a string")?;
            if value.len() > 512 {
                return Err(self.err(
                    &e.value.loc,
                    &k,
                    format!("expected at most 512 bytes, found {}", value.len()),
                ));
            }
            meta.insert(name.clone(), value.to_owned());
        }
        Ok(meta)
    }

    fn health(
        &self,
        entry: Option<&Entry>,
        key: &str,
        program: &Program,
    ) -> Result<HealthSpec, Error> {
        let default_probe = match program {
            Program::Builtin(_) => Probe::Grpc,
            Program::Command(_) => Probe::Tcp,
        };
        let mut fields = None;
        if let Some(entry) = entry {
            fields = Some(self.table(&entry.value, key, HEALTH_KEYS)?);
        }
        let empty = Fields::new();
        let t = fields.unwrap_or(&empty);
        let kind = self.opt(t, key, "kind", |n, k| self.probe(n, k))?;
        let path = self.opt(t, key, "path", |n, k| {
            let form = "a URL path starting with \"/\"";
            let p = self.string(n, k, form)?;
            if !p.starts_with('/') || p.contains(|c: char| c.is_whitespace() || c.is_control()) {
                return Err(self.err(&n.loc, k, format!("expected {form}, found {p:?}")));
            }
            Ok(p)
        })?;
        let interval = self.opt(t, key, "interval", |n, k| self.positive_duration(n, k))?;
        let timeout = self.opt(t, key, "timeout", |n, k| self.positive_duration(n, k))?;

        let probe = kind.map_or(default_probe, |(_, p)| p);
        let kind_name = match probe {
            Probe::Grpc => "grpc",
            Probe::Http => "http",
            Probe::Tcp => "tcp",
        };
        if let (false, Some((p, _))) = (matches!(probe, Probe::Http), path) {
            // A base `path` under an overlay that changed the kind is ignored.
            let overridden = kind.is_some_and(|(k, _)| k.value.loc.file > p.value.loc.file);
            if !overridden {
                return Err(self.err(
                    &p.key,
                    &child(key, "path"),
                    format!("applies only to kind = \"http\", and the kind is \"{kind_name}\""),
                ));
            }
        }
        Ok(HealthSpec {
            kind: match probe {
                Probe::Grpc => HealthKind::Grpc,
                Probe::Http => HealthKind::Http {
                    path: path.map_or(DEFAULT_HEALTH_PATH, |(_, p)| p).to_owned(),
                },
                Probe::Tcp => HealthKind::Tcp,
            },
            interval: interval.map_or(DEFAULT_HEALTH_INTERVAL, |(_, d)| d),
            timeout: timeout.map_or(DEFAULT_HEALTH_TIMEOUT, |(_, d)| d),
        })
    }

    fn probe(&self, node: &Node, key: &str) -> Result<Probe, Error> {
        let form = "one of \"grpc\", \"http\", \"tcp\"";
        match self.string(node, key, form)? {
            "grpc" => Ok(Probe::Grpc),
            "http" => Ok(Probe::Http),
            "tcp" => Ok(Probe::Tcp),
            other => Err(self.err(&node.loc, key, format!("expected {form}, found {other:?}"))),
        }
    }

    fn restart(&self, node: &Node, key: &str) -> Result<RestartPolicy, Error> {
        let form = "one of \"always\", \"on-failure\", \"never\"";
        match self.string(node, key, form)? {
            "always" => Ok(RestartPolicy::Always),
            "on-failure" => Ok(RestartPolicy::OnFailure),
            "never" => Ok(RestartPolicy::Never),
            other => Err(self.err(&node.loc, key, format!("expected {form}, found {other:?}"))),
        }
    }

    fn config_prefix<'n>(&self, node: &'n Node, key: &str) -> Result<&'n str, Error> {
        let form = "a KV prefix ending in \"/\" like \"config/search/\"";
        let p = self.string(node, key, form)?;
        if !p.ends_with('/') || p.starts_with('/') || p.contains("//") {
            return Err(self.err(&node.loc, key, format!("expected {form}, found {p:?}")));
        }
        Ok(p)
    }

    /// An array of service table names; their existence is checked later.
    fn names<'n>(&self, node: &'n Node, key: &str) -> Result<Vec<(&'n Loc, &'n str)>, Error> {
        let Kind::Array(items) = &node.kind else {
            return Err(self.expected(node, key, "an array of service names"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let name = self.string(item, &format!("{key}[{i}]"), "a service name")?;
                Ok((&item.loc, name))
            })
            .collect()
    }

    fn check_register_as(&self, decoded: &[Decoded<'_>]) -> Result<(), Error> {
        let mut seen: HashMap<String, &str> = HashMap::new();
        for d in decoded {
            // Registry (and DNS) names compare without case.
            let folded = d.spec.register_as.to_ascii_lowercase();
            if let Some(first) = seen.get(&folded) {
                let key = child("services", &d.spec.name);
                let name = &d.spec.register_as;
                return Err(match d.register_as {
                    Some(loc) => self.err(
                        loc,
                        &child(&key, "register_as"),
                        format!("{name:?} is already the registry name of services.{first}"),
                    ),
                    None => self.err(
                        d.table,
                        &key,
                        format!(
                            "registers as {name:?} by default, already the registry name of \
                             services.{first}: set `register_as`"
                        ),
                    ),
                });
            }
            seen.insert(folded, &d.spec.name);
        }
        Ok(())
    }

    fn check_depends_on(&self, decoded: &[Decoded<'_>]) -> Result<(), Error> {
        for d in decoded {
            for (loc, target) in &d.depends_on {
                if !decoded.iter().any(|o| o.spec.name == *target) {
                    let known: Vec<&str> = decoded.iter().map(|o| o.spec.name.as_str()).collect();
                    return Err(self.err(
                        loc,
                        &child(&child("services", &d.spec.name), "depends_on"),
                        format!(
                            "unknown service {target:?}, expected one of: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The error for a dependency cycle, at the cycle's `depends_on` entry written last
    /// (in the overlay if any is), the cycle named from the service holding it.
    fn cycle(&self, decoded: &[Decoded<'_>], cycle: &[&str]) -> Error {
        let edge = |i: usize| {
            let from = cycle.get(i).copied().unwrap_or_default();
            let to = cycle
                .get((i + 1) % cycle.len().max(1))
                .copied()
                .unwrap_or(from);
            decoded
                .iter()
                .find(|d| d.spec.name == from)
                .and_then(|d| d.depends_on.iter().find(|(_, n)| *n == to))
                .map(|(loc, _)| *loc)
        };
        let last = (0..cycle.len()).max_by_key(|&i| edge(i)).unwrap_or(0);
        let mut path: Vec<&str> = cycle
            .iter()
            .cycle()
            .skip(last)
            .take(cycle.len())
            .copied()
            .collect();
        let first = path.first().copied().unwrap_or_default();
        path.push(first);
        let message = format!("dependency cycle: {}", path.join(" -> "));
        let key = child(&child("services", first), "depends_on");
        // The fallback is not reached: every edge of a cycle is a decoded entry.
        const START: Loc = Loc {
            file: FileId::Base,
            start: 0,
            end: 0,
        };
        self.err(edge(last).unwrap_or(&START), &key, message)
    }
}
