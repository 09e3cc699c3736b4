//! Runs the registered TCP, HTTP and gRPC checks and records their results: keeps the
//! check scheduler in step with the check definitions and feeds every outcome back.
//! Targets without a host are dialled at the node's address, as Consul's agent dials
//! them on its own machine; the definitions keep the target as registered.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;

use tern_health_checks::{CheckSpec as Probe, Outcome, Scheduler, Status};
use tokio::sync::mpsc;

use crate::{CheckKind, CheckSpec, CheckStatus, RegistryHandle};

/// Results waiting to be applied before runners wait (backpressure, not a limit on checks).
const RESULT_QUEUE: usize = 256;

pub(crate) async fn run_checks(registry: RegistryHandle, shutdown: impl Future<Output = ()>) {
    let (results_tx, mut results) = mpsc::channel(RESULT_QUEUE);
    let scheduler = Scheduler::spawn(results_tx);
    let mut definitions = registry.watch_check_definitions();
    let mut running: BTreeMap<String, CheckSpec> = BTreeMap::new();
    tokio::pin!(shutdown);
    loop {
        definitions.borrow_and_update();
        reconcile(&registry, &scheduler, &mut running);
        tokio::select! {
            () = &mut shutdown => break,
            changed = definitions.changed() => if changed.is_err() { break },
            Some((id, outcome)) = results.recv() => record(&registry, &id, outcome).await,
        }
    }
    scheduler.shutdown();
}

fn reconcile(
    registry: &RegistryHandle,
    scheduler: &tern_health_checks::SchedulerHandle,
    running: &mut BTreeMap<String, CheckSpec>,
) {
    let wanted: BTreeMap<String, CheckSpec> = registry
        .checks_to_run()
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    running.retain(|id, _| {
        let keep = wanted.contains_key(id);
        if !keep {
            scheduler.remove(id);
        }
        keep
    });
    let node = node_ip(registry);
    for (id, check) in wanted {
        if running.get(&id) == Some(&check) {
            continue;
        }
        if let Some(probe) = probe(&check.kind) {
            let probe = probe.with_local_host(node);
            scheduler.upsert(id.clone(), probe, check.interval, check.timeout);
            running.insert(id, check);
        }
    }
}

/// Where a target without a host (`:PORT`, py-consul's `Check.tcp("", port, ..)`) is
/// dialled: the node's address, which Consul's agent reaches as the local system too.
fn node_ip(registry: &RegistryHandle) -> IpAddr {
    registry
        .local_node()
        .address
        .parse()
        .unwrap_or(registry.config().advertise_address)
}

async fn record(registry: &RegistryHandle, id: &str, outcome: Outcome) {
    let status = match outcome.status {
        Status::Passing => CheckStatus::Passing,
        Status::Warning => CheckStatus::Warning,
        Status::Critical => CheckStatus::Critical,
    };
    // An error means the check was deregistered since it ran; the next reconcile drops it.
    if let Err(e) = registry.check_result(id, status, outcome.output).await {
        tracing::debug!(check = id, error = %e, "check result not recorded");
    }
}

fn probe(kind: &CheckKind) -> Option<Probe> {
    match kind {
        CheckKind::Tcp { address } => Some(Probe::Tcp {
            address: address.clone(),
        }),
        CheckKind::Http {
            url,
            method,
            headers,
            body,
            tls_skip_verify,
        } => Some(Probe::Http {
            url: url.clone(),
            // Registration accepts only valid method names.
            method: http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::GET),
            headers: headers
                .iter()
                .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
                .collect(),
            body: body.clone(),
            tls_skip_verify: *tls_skip_verify,
        }),
        CheckKind::Grpc { target, use_tls } => Some(Probe::Grpc {
            target: target.clone(),
            use_tls: *use_tls,
        }),
        CheckKind::Ttl { .. } | CheckKind::Maintenance | CheckKind::Serf => None,
    }
}
