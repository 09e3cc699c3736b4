//! Programs that register themselves (`register = "self"`, as the original design's
//! `search_server.py` does through py-consul: a random port, ID `search-service-PORT`, its
//! own TCP check). The supervisor does not register them; it finds each replica's own
//! registration and then treats it as the replica's: its health feeds the core under the
//! replica's ID, `tern ps` shows it, and it is deregistered when the replica stops or its
//! process ends (`kill -9` included), so the replica is unroutable at once.
//!
//! Finding it: the TCP sockets in `LISTEN` state owned by the replica's process or any
//! of its descendants (socket inodes in `/proc/PID/fd` matched against `/proc/net/tcp`
//! and `/proc/net/tcp6`), then the registry instance of the service (`register_as`)
//! whose port is one of them, on an address of this machine. Polled every
//! [`SEARCH_EVERY`] until found, then every [`RECHECK_EVERY`] (a program may register
//! again under another ID), for as long as the process runs. Linux only (`/proc`).

use std::{
    collections::{BTreeSet, HashSet},
    net::{IpAddr, UdpSocket},
    sync::{Arc, Mutex},
    time::Duration,
};

use tern_consul_client::{Consul, Endpoint};
use tokio::sync::oneshot;
use tracing::info;

use crate::lock;

/// How often a replica's registration is looked for until found.
const SEARCH_EVERY: Duration = Duration::from_millis(200);
/// How often a found registration is checked again.
const RECHECK_EVERY: Duration = Duration::from_secs(1);

/// The registry ID a replica's program registered itself under, once found; forgotten
/// once the supervisor deregistered it.
pub(crate) type FoundId = Arc<Mutex<Option<String>>>;

/// Looks for the registration of the process `pid` under service `name` until `exited`
/// completes (its sender dropped when the process ends), keeping `found` current.
pub(crate) async fn follow(
    pid: u32,
    name: String,
    replica: String,
    consul: Consul,
    found: FoundId,
    mut exited: oneshot::Receiver<()>,
) {
    loop {
        let known = lock(&found).clone();
        let ports = tokio::task::spawn_blocking(move || listening_ports(pid))
            .await
            .unwrap_or_default();
        if !ports.is_empty() {
            if let Ok(answer) = consul.instances(&name, None).await {
                if let Some(endpoint) = pick(&answer.value, &ports) {
                    if known.as_deref() != Some(endpoint.id.as_str()) {
                        info!(
                            replica = %replica,
                            id = %endpoint.id,
                            address = %endpoint.address,
                            "found the replica's own registration"
                        );
                        *lock(&found) = Some(endpoint.id.clone());
                    }
                }
            }
        }
        let wait = if lock(&found).is_some() {
            RECHECK_EVERY
        } else {
            SEARCH_EVERY
        };
        tokio::select! {
            _ = &mut exited => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The registry instance listening on one of `ports` at an address of this machine.
pub(crate) fn pick<'e>(endpoints: &'e [Endpoint], ports: &BTreeSet<u16>) -> Option<&'e Endpoint> {
    endpoints.iter().find(|endpoint| {
        let Some((host, port)) = endpoint.address.rsplit_once(':') else {
            return false;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        port.parse().is_ok_and(|port: u16| ports.contains(&port)) && is_local(host)
    })
}

/// Whether `host` names this machine: empty (Consul's "the node's address"),
/// `localhost`, a loopback or unspecified IP, or an IP of a local interface.
fn is_local(host: &str) -> bool {
    if host.is_empty() || host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() || ip.is_unspecified() => true,
        // Binding succeeds only on an address this machine has.
        Ok(ip) => UdpSocket::bind((ip, 0)).is_ok(),
        Err(_) => false,
    }
}

/// The ports of the TCP sockets in `LISTEN` state owned by `root` or its descendants.
pub(crate) fn listening_ports(root: u32) -> BTreeSet<u16> {
    let mut inodes = HashSet::new();
    for pid in family(root) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if let Some(inode) = socket_inode(&target.to_string_lossy()) {
                    inodes.insert(inode);
                }
            }
        }
    }
    if inodes.is_empty() {
        return BTreeSet::new();
    }
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| listening(&text))
        .filter(|(inode, _)| inodes.contains(inode))
        .map(|(_, port)| port)
        .collect()
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The (inode, port) of each `LISTEN` (state `0A`) line of `/proc/net/tcp` or `tcp6`.
fn listening(table: &str) -> Vec<(u64, u16)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
            if *state != "0A" {
                return None;
            }
            let port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            Some((inode.parse().ok()?, port))
        })
        .collect()
}

/// `root` and every process descending from it (parents read from `/proc/PID/stat`).
fn family(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            Some((pid, parent_of(&stat)?))
        })
        .collect();
    let mut family = vec![root];
    let mut i = 0;
    while let Some(&pid) = family.get(i) {
        family.extend(
            parents
                .iter()
                .filter(|(_, parent)| *parent == pid)
                .map(|(child, _)| *child),
        );
        i += 1;
    }
    family
}

/// Field 4 of `/proc/PID/stat`, after the command name (in parentheses, may hold spaces).
fn parent_of(stat: &str) -> Option<u32> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_consul_client::Health;

    #[test]
    fn listen_entries_of_the_kernel_tables() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:D6A6 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0\n\
   1: 0100007F:8EA3 0100007F:9ECC 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0 20 4 30 10 -1\n";
        assert_eq!(listening(tcp), [(4242, 0xD6A6)]);
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000000000000000000001000000:C350 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 77 1 0 100 0 0 10 0\n";
        assert_eq!(listening(tcp6), [(77, 50000)]);
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("pipe:[4242]"), None);
        assert_eq!(parent_of("12 (a (b) c) S 7 12 12 0"), Some(7));
    }

    #[test]
    fn the_registration_on_a_listening_port_of_this_machine_is_picked() {
        let endpoint = |id: &str, address: &str| Endpoint {
            id: id.into(),
            address: address.into(),
            health: Health::Passing,
            output: String::new(),
        };
        let endpoints = [
            endpoint("elsewhere-54000", "192.0.2.7:54000"),
            endpoint("search-service-53000", "127.0.0.1:53000"),
            endpoint("search-service-54000", "127.0.0.1:54000"),
        ];
        let ports = BTreeSet::from([54000, 8080]);
        assert_eq!(
            pick(&endpoints, &ports).map(|e| e.id.as_str()),
            Some("search-service-54000")
        );
        assert!(pick(&endpoints, &BTreeSet::from([1])).is_none());
        assert!(is_local("") && is_local("::1") && is_local("0.0.0.0"));
        assert!(!is_local("192.0.2.7") && !is_local("example.com"));
    }

    #[test]
    fn a_process_listening_is_found_by_its_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        assert!(listening_ports(std::process::id()).contains(&port));
    }
}
