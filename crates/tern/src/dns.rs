//! Finding a service through the registry's DNS interface (Consul DNS, `.consul`), as the
//! original client did: an SRV query for the port, an A query for the address. When the
//! SRV answer carries the target's A record in its additional section (the registry and
//! Consul both add it) that address is used, so the port and address belong to the same
//! instance.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;

const TIMEOUT: Duration = Duration::from_secs(2);

/// The address of one instance of `service`, from the DNS server at `server`.
pub async fn resolve(server: SocketAddr, service: &str) -> Result<SocketAddr> {
    let name = Name::from_ascii(format!("{service}.service.consul."))
        .with_context(|| format!("invalid service name {service:?}"))?;
    let srv = query(server, &name, RecordType::SRV).await?;
    let Some((port, target)) = srv.answers.iter().find_map(|r| match &r.data {
        RData::SRV(srv) => Some((srv.port, srv.target.clone())),
        _ => None,
    }) else {
        bail!("no instance of {service} in DNS at {server} (SRV {name} has no answer)");
    };
    let paired = srv
        .additionals
        .iter()
        .filter(|r| r.name == target)
        .find_map(|r| address(&r.data));
    let ip = match paired {
        Some(ip) => ip,
        None => query(server, &name, RecordType::A)
            .await?
            .answers
            .iter()
            .find_map(|r| address(&r.data))
            .with_context(|| {
                format!("no instance of {service} in DNS at {server} (A {name} has no answer)")
            })?,
    };
    Ok(SocketAddr::new(ip, port))
}

fn address(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

/// One query over UDP; the reply must answer it (same ID, a response) without error.
async fn query(server: SocketAddr, name: &Name, kind: RecordType) -> Result<Message> {
    let mut message = Message::query();
    message.add_query(Query::query(name.clone(), kind));
    let id = message.metadata.id;
    let bytes = message.to_vec().context("encoding the DNS query")?;
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .context("opening a UDP socket")?;
    socket
        .connect(server)
        .await
        .with_context(|| format!("cannot reach the DNS server at {server}"))?;
    let unreachable = || format!("cannot reach the DNS server at {server} ({kind} {name})");
    socket.send(&bytes).await.with_context(unreachable)?;
    let mut buffer = vec![0u8; 4096];
    let reply = loop {
        let len = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {TIMEOUT:?}"))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(unreachable)?;
        match Message::from_vec(&buffer[..len]) {
            Ok(reply)
                if reply.metadata.id == id
                    && reply.metadata.message_type == MessageType::Response =>
            {
                break reply
            }
            // Not the answer to this query: keep waiting for it.
            _ => continue,
        }
    };
    match reply.metadata.response_code {
        ResponseCode::NoError => Ok(reply),
        ResponseCode::NXDomain => bail!("no instance of {name} in DNS at {server} (NXDOMAIN)"),
        code => bail!("the DNS server at {server} answered {kind} {name} with {code}"),
    }
}
