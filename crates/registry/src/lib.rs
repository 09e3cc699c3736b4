//! tern's embedded service registry: one node's catalog, health state and KV store,
//! served over a Consul-compatible HTTP API (v1 shapes, field names and status codes),
//! so stock Consul clients (py-consul, consul-template, Prometheus `consul_sd`, the
//! npm `consul` package) work unchanged.
//!
//! - [`state`]: the pure core. All changes are [`state::Command`]s applied by
//!   [`state::State::apply`] (no I/O, time passed in), the seam for a durable log.
//! - [`RegistryHandle`]: the cloneable way in for the DNS server (`passing_instances`,
//!   `node`), check runners (`checks_to_run`, `watch_check_definitions`,
//!   `check_result`) and the chassis (`apply`).
//! - [`router`]: the Consul HTTP API as an axum `Router` (blocking queries, ACL token).
//! - [`Registry`]: config in, handle out, `serve_http(listener, shutdown)`.
//!
//! ```no_run
//! # async fn run() -> Result<(), tern_registry::Error> {
//! use tern_registry::{Registry, RegistryConfig};
//! let registry = Registry::build(RegistryConfig::default())?;
//! let handle = registry.handle(); // give to DNS and the check runners
//! let listener = tokio::net::TcpListener::bind(registry.config().http_addr).await?;
//! registry.serve_http(listener, async { /* shutdown signal */ }).await
//! # }
//! ```
//!
//! Persistence: with `data_dir` set, every change is journaled (`tern-journal`) and
//! acknowledged only once durable; start-up replays the journal. Telemetry: none yet besides a `debug`
//! log line per request (`method`, `path`; never the query string, which may carry
//! `?token=`).

mod dns;
mod error;
mod handle;
mod http;
mod runner;
pub mod state;

pub use error::Error;
pub use handle::{
    CheckSpec, HealthFilter, Instance, NodeInfo, RegistryHandle, DEFAULT_CHECK_TIMEOUT,
};
pub use http::router;
pub use state::{CheckKind, CheckStatus, Command};

pub use tern_registry_dns::DnsConfig;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Registry settings. Defaults are Consul's: HTTP on 127.0.0.1:8500, datacenter "dc1".
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// Where the HTTP API listens (the caller binds it and passes the listener).
    pub http_addr: SocketAddr,
    /// The node name (Consul `NodeName`); default "tern".
    pub node_name: String,
    /// The datacenter; default "dc1". Requests with another `?dc=` are refused.
    pub datacenter: String,
    /// The node address services without their own address resolve to.
    pub advertise_address: IpAddr,
    /// When set, every request must carry this token (`X-Consul-Token`,
    /// `Authorization: Bearer`, or `?token=`), else 403.
    pub acl_token: Option<String>,
    /// The DNS interface (listen address, domain, TTL).
    pub dns: DnsConfig,
    /// Where the journal lives (`DATA_DIR/registry`). `None`: in memory only, and a
    /// restart starts empty.
    pub data_dir: Option<std::path::PathBuf>,
    /// Log size after which the journal is replaced by a snapshot of the state.
    /// Default 64 MiB.
    pub journal_compact_bytes: u64,
    /// DNS answers only instances whose checks all pass; default false, as Consul
    /// (`dns_config.only_passing`): warning instances are answered, critical never.
    pub dns_only_passing: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            http_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8500),
            node_name: "tern".into(),
            datacenter: "dc1".into(),
            advertise_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            acl_token: None,
            dns: DnsConfig::default(),
            data_dir: None,
            journal_compact_bytes: tern_journal::JournalConfig::DEFAULT_COMPACT_AFTER_BYTES,
            dns_only_passing: false,
        }
    }
}

// By hand so the ACL token never reaches a log through `{:?}`.
impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("http_addr", &self.http_addr)
            .field("node_name", &self.node_name)
            .field("datacenter", &self.datacenter)
            .field("advertise_address", &self.advertise_address)
            .field("acl_token", &self.acl_token.as_ref().map(|_| "<redacted>"))
            .field("dns", &self.dns)
            .field("data_dir", &self.data_dir)
            .field("journal_compact_bytes", &self.journal_compact_bytes)
            .field("dns_only_passing", &self.dns_only_passing)
            .finish()
    }
}

/// Opens the journal in `dir`, loads its snapshot (if any) and replays the commands
/// after it into `state`. Commands are replayed through the same `State::apply` that
/// accepted them and snapshots carry the indexes, so indexes come back exactly; what
/// depends on the clock (TTL deadlines, "critical since") restarts from now.
fn recover(
    dir: &std::path::Path,
    compact_after_bytes: u64,
    state: &mut state::State,
) -> Result<tern_journal::Journal, Error> {
    let config = tern_journal::JournalConfig {
        compact_after_bytes,
        ..tern_journal::JournalConfig::new(dir)
    };
    let (journal, recovered) = tern_journal::Journal::open(config)?;
    if recovered.truncated_bytes > 0 {
        tracing::warn!(
            bytes = recovered.truncated_bytes,
            "dropped a torn journal tail (a write that was never acknowledged)"
        );
    }
    let now = tokio::time::Instant::now().into_std();
    if let Some(snapshot) = &recovered.snapshot {
        *state = serde_json::from_slice(snapshot).map_err(|e| {
            Error::Persist(format!(
                "{}: the snapshot is not a registry state: {e}",
                dir.display()
            ))
        })?;
        state.restart_clocks(now);
    }
    let records = recovered.records.len();
    for (position, record) in recovered.records.iter().enumerate() {
        let command: Command = serde_json::from_slice(record).map_err(|e| {
            Error::Persist(format!(
                "{}: record {} of the journal is not a registry command: {e}",
                dir.display(),
                position + 1
            ))
        })?;
        // A journaled command changed the state when it was accepted, so it applies
        // again; an error could only come from a command made redundant by a later one.
        let _ = state.apply(command, now);
    }
    tracing::info!(dir = %dir.display(), records, index = state.index(), "registry state recovered");
    Ok(journal)
}

/// The sockets a registry serves on, bound by the caller.
pub struct Listeners {
    pub http: tokio::net::TcpListener,
    pub dns_udp: tokio::net::UdpSocket,
    pub dns_tcp: tokio::net::TcpListener,
}

impl Listeners {
    /// Binds the HTTP listener and the DNS UDP socket and TCP listener (one port for both,
    /// as DNS clients retry truncated answers over TCP on the same port; with port 0 the
    /// TCP listener takes the port the UDP socket got). Errors name what could not bind.
    pub async fn bind(http: SocketAddr, dns: SocketAddr) -> Result<Listeners, Error> {
        let bind_error =
            |what: &'static str, addr: SocketAddr| move |source| Error::Bind { what, addr, source };
        let http_listener = tokio::net::TcpListener::bind(http)
            .await
            .map_err(bind_error("HTTP", http))?;
        let attempts = if dns.port() == 0 { 50 } else { 1 };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let udp = tokio::net::UdpSocket::bind(dns)
                .await
                .map_err(bind_error("DNS over UDP", dns))?;
            let bound = udp.local_addr().map_err(bind_error("DNS over UDP", dns))?;
            match tokio::net::TcpListener::bind(bound).await {
                Ok(tcp) => {
                    return Ok(Listeners {
                        http: http_listener,
                        dns_udp: udp,
                        dns_tcp: tcp,
                    })
                }
                Err(error) if attempt >= attempts => {
                    return Err(bind_error("DNS over TCP", bound)(error))
                }
                // Port 0 gave a UDP port whose TCP twin is taken: try another.
                Err(_) => {}
            }
        }
    }
}

/// A built registry: validated config and its state.
pub struct Registry {
    handle: RegistryHandle,
}

impl Registry {
    /// Validates `config` and creates the (empty) registry.
    pub fn build(config: RegistryConfig) -> Result<Registry, Error> {
        let label_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !label_ok(&config.node_name) {
            return Err(Error::InvalidConfig(format!(
                "node_name {:?}: expected 1-63 letters, digits, '-' or '_' (it is a DNS label)",
                config.node_name
            )));
        }
        if !label_ok(&config.datacenter) {
            return Err(Error::InvalidConfig(format!(
                "datacenter {:?}: expected 1-63 letters, digits, '-' or '_' (e.g. \"dc1\")",
                config.datacenter
            )));
        }
        if config.acl_token.as_deref() == Some("") {
            return Err(Error::InvalidConfig(
                "acl_token is empty: remove it to disable ACLs, or set a secret".into(),
            ));
        }
        let mut state = state::State::new(
            &config.node_name,
            &config.datacenter,
            &config.advertise_address.to_string(),
        );
        let journal = match &config.data_dir {
            None => None,
            Some(dir) => Some(recover(dir, config.journal_compact_bytes, &mut state)?),
        };
        Ok(Registry {
            handle: RegistryHandle::new(config, state, journal),
        })
    }

    /// The handle for the DNS server, check runners and in-process clients.
    pub fn handle(&self) -> RegistryHandle {
        self.handle.clone()
    }

    /// The validated configuration.
    pub fn config(&self) -> &RegistryConfig {
        self.handle.config()
    }

    /// Runs the whole registry until `shutdown` resolves: the HTTP API, the DNS interface
    /// and the check runners. The caller binds the sockets (STYLE: servers take their
    /// listener); `tern registry` binds the configured addresses.
    pub async fn serve(
        &self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let handle = self.handle();
        let filter = if self.config().dns_only_passing {
            HealthFilter::Passing
        } else {
            HealthFilter::NotCritical
        };
        let catalog = std::sync::Arc::new(dns::DnsCatalog {
            registry: handle.clone(),
            filter,
        });
        let dns = tern_registry_dns::DnsServer::build(self.config().dns.clone(), catalog)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let wait = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let checks = tokio::spawn(runner::run_checks(handle.clone(), wait()));
        let dns = tokio::spawn(dns.serve(listeners.dns_udp, listeners.dns_tcp, wait()));
        let trigger = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        let http = self.serve_http(listeners.http, trigger).await;
        let _ = checks.await;
        let dns = dns.await.map_err(|e| Error::Task(e.to_string()))?;
        http?;
        Ok(dns?)
    }

    /// Serves the HTTP API on `listener` and runs the ticker (TTL expiry,
    /// deregister-critical-after) until `shutdown` resolves; then pending blocking
    /// queries answer at once and in-flight requests drain.
    pub async fn serve_http(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let handle = self.handle();
        let ticker = {
            let handle = handle.clone();
            tokio::spawn(async move { handle.run_ticker(std::future::pending()).await })
        };
        let on_shutdown = {
            let handle = handle.clone();
            async move {
                shutdown.await;
                handle.close_blocking_queries();
            }
        };
        let served = axum::serve(listener, router(handle))
            .with_graceful_shutdown(on_shutdown)
            .await;
        ticker.abort();
        served.map_err(Error::Serve)
    }
}
