//! Finding a service through the registry's DNS interface (Consul DNS, `.consul`), as the
//! original client did: an SRV query for the port, an A query for the address. When the
//! SRV answer carries the target's A record in its additional section (the registry and
//! Consul both add it) that address is used, so the port and address belong to the same
//! instance.
//!
//! The queries go through `hickory-resolver`, set up to ask exactly the given server over
//! UDP: no system `resolv.conf` or hosts file, no search domains, one try within
//! [`TIMEOUT`], and no cache (every call asks the server).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as Negative, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::proto::ProtoError;
use hickory_resolver::{Resolver, TokioResolver};

/// How long the server has to answer one query; as a local DNS interface it answers in
/// well under a millisecond, so waiting longer only delays the error.
pub const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    #[error("invalid service name {service:?}")]
    InvalidName {
        service: String,
        #[source]
        source: ProtoError,
    },
    #[error("cannot set up a DNS resolver for {server}")]
    Resolver {
        server: SocketAddr,
        #[source]
        source: Box<NetError>,
    },
    #[error("no instance of {service} in DNS at {server} ({kind} {name} has no answer)")]
    NoAnswer {
        service: String,
        server: SocketAddr,
        kind: RecordType,
        name: String,
    },
    #[error("no instance of {name} in DNS at {server} (NXDOMAIN)")]
    NxDomain { name: String, server: SocketAddr },
    #[error("the DNS server at {server} answered {kind} {name} with {code}")]
    Answered {
        server: SocketAddr,
        kind: RecordType,
        name: String,
        code: ResponseCode,
    },
    #[error("cannot reach the DNS server at {server} ({kind} {name})")]
    Unreachable {
        server: SocketAddr,
        kind: RecordType,
        name: String,
        #[source]
        source: Box<NetError>,
    },
}

/// The address of one instance of `service`, from the DNS server at `server`.
pub async fn resolve(server: SocketAddr, service: &str) -> Result<SocketAddr, DnsError> {
    let name = Name::from_ascii(format!("{service}.service.consul.")).map_err(|source| {
        DnsError::InvalidName {
            service: service.to_owned(),
            source,
        }
    })?;
    let resolver = resolver(server)?;
    let query = |kind| Query {
        resolver: &resolver,
        server,
        service,
        name: &name,
        kind,
    };
    let srv_query = query(RecordType::SRV);
    let srv = srv_query.run().await?;
    let Some((port, target)) = srv.answers().iter().find_map(|r| match &r.data {
        RData::SRV(srv) => Some((srv.port, srv.target.clone())),
        _ => None,
    }) else {
        return Err(srv_query.no_answer());
    };
    let paired = srv
        .additionals()
        .iter()
        .filter(|r| r.name == target)
        .find_map(|r| address(&r.data));
    let ip = match paired {
        Some(ip) => ip,
        None => {
            let a_query = query(RecordType::A);
            let found = a_query
                .run()
                .await?
                .answers()
                .iter()
                .find_map(|r| address(&r.data));
            found.ok_or_else(|| a_query.no_answer())?
        }
    };
    Ok(SocketAddr::new(ip, port))
}

/// A resolver that asks `server`, and nothing else, over UDP.
fn resolver(server: SocketAddr) -> Result<TokioResolver, DnsError> {
    let mut connection = ConnectionConfig::udp();
    connection.port = server.port();
    let name_server = NameServerConfig::new(server.ip(), true, vec![connection]);
    let config = ResolverConfig::from_parts(None, Vec::new(), vec![name_server]);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.timeout = TIMEOUT;
    // One query per lookup, as the registry's DNS is local: a retry would only double the
    // wait for an error.
    options.attempts = 0;
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    builder.build().map_err(|source| DnsError::Resolver {
        server,
        source: Box::new(source),
    })
}

fn address(data: &RData) -> Option<IpAddr> {
    match data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

/// One lookup of `kind` for `name`, and the errors that name it.
struct Query<'a> {
    resolver: &'a TokioResolver,
    server: SocketAddr,
    service: &'a str,
    name: &'a Name,
    kind: RecordType,
}

impl Query<'_> {
    async fn run(&self) -> Result<Lookup, DnsError> {
        self.resolver
            .lookup(self.name.clone(), self.kind)
            .await
            .map_err(|error| self.error(error))
    }

    fn no_answer(&self) -> DnsError {
        DnsError::NoAnswer {
            service: self.service.to_owned(),
            server: self.server,
            kind: self.kind,
            name: self.name.to_string(),
        }
    }

    fn error(&self, error: NetError) -> DnsError {
        let (server, kind, name) = (self.server, self.kind, self.name.to_string());
        match error {
            NetError::Dns(Negative::NoRecordsFound(none))
                if none.response_code == ResponseCode::NXDomain =>
            {
                DnsError::NxDomain { name, server }
            }
            // NOERROR without records: the name exists, but has nothing of this kind.
            NetError::Dns(Negative::NoRecordsFound(_)) => self.no_answer(),
            NetError::Dns(Negative::ResponseCode(code)) => DnsError::Answered {
                server,
                kind,
                name,
                code,
            },
            source => DnsError::Unreachable {
                server,
                kind,
                name,
                source: Box::new(source),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hickory_resolver::proto::op::{Message, OpCode};
    use hickory_resolver::proto::rr::rdata::{A, SRV};
    use hickory_resolver::proto::rr::Record;
    use tokio::net::UdpSocket;

    use super::*;

    const SERVICE: &str = "search-service";

    fn service_name() -> Name {
        Name::from_ascii("search-service.service.consul.").expect("valid name")
    }

    fn node() -> Name {
        Name::from_ascii("node-1.node.dc1.consul.").expect("valid name")
    }

    /// A DNS server on a port of its own that answers each query with `answer` and logs
    /// what it was asked.
    struct FakeDns {
        addr: SocketAddr,
        asked: Arc<Mutex<Vec<(Name, RecordType)>>>,
    }

    impl FakeDns {
        async fn start(answer: fn(&mut Message, &Name, RecordType)) -> FakeDns {
            let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let addr = socket.local_addr().expect("local address");
            let asked = Arc::new(Mutex::new(Vec::new()));
            let log = asked.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                while let Ok((len, from)) = socket.recv_from(&mut buffer).await {
                    let Ok(query) = Message::from_vec(&buffer[..len]) else {
                        continue;
                    };
                    let Some(question) = query.queries.first().cloned() else {
                        continue;
                    };
                    let (name, kind) = (question.name().clone(), question.query_type());
                    log.lock().expect("log").push((name.clone(), kind));
                    let mut reply = Message::response(query.metadata.id, OpCode::Query);
                    reply.add_query(question);
                    answer(&mut reply, &name, kind);
                    let bytes = reply.to_vec().expect("encode reply");
                    let _ = socket.send_to(&bytes, from).await;
                }
            });
            FakeDns { addr, asked }
        }

        fn asked(&self) -> Vec<(Name, RecordType)> {
            self.asked.lock().expect("log").clone()
        }
    }

    fn srv(reply: &mut Message, name: &Name) {
        reply.add_answer(Record::from_rdata(
            name.clone(),
            0,
            RData::SRV(SRV::new(1, 1, 8081, node())),
        ));
    }

    #[tokio::test]
    async fn the_port_comes_from_srv_and_the_address_from_its_additional_record() {
        let dns = FakeDns::start(|reply, name, kind| {
            if kind == RecordType::SRV {
                srv(reply, name);
                reply.add_additional(Record::from_rdata(
                    node(),
                    0,
                    RData::A(A::new(127, 0, 0, 7)),
                ));
            }
        })
        .await;
        let addr = resolve(dns.addr, SERVICE).await.expect("resolved");
        assert_eq!(addr, "127.0.0.7:8081".parse().expect("address"));
        assert_eq!(dns.asked(), [(service_name(), RecordType::SRV)]);
    }

    #[tokio::test]
    async fn without_an_additional_record_the_address_comes_from_an_a_query() {
        let dns = FakeDns::start(|reply, name, kind| match kind {
            RecordType::SRV => srv(reply, name),
            RecordType::A => {
                reply.add_answer(Record::from_rdata(
                    name.clone(),
                    0,
                    RData::A(A::new(127, 0, 0, 9)),
                ));
            }
            _ => {}
        })
        .await;
        let addr = resolve(dns.addr, SERVICE).await.expect("resolved");
        assert_eq!(addr, "127.0.0.9:8081".parse().expect("address"));
        assert_eq!(
            dns.asked(),
            [
                (service_name(), RecordType::SRV),
                (service_name(), RecordType::A)
            ]
        );
    }

    #[tokio::test]
    async fn negative_and_error_answers_say_what_was_asked_of_whom() {
        let nxdomain = FakeDns::start(|reply, _, _| {
            reply.metadata.response_code = ResponseCode::NXDomain;
        })
        .await;
        let err = resolve(nxdomain.addr, SERVICE).await.expect_err("NXDOMAIN");
        assert_eq!(
            err.to_string(),
            format!(
                "no instance of search-service.service.consul. in DNS at {} (NXDOMAIN)",
                nxdomain.addr
            )
        );

        let empty = FakeDns::start(|_, _, _| {}).await;
        let err = resolve(empty.addr, SERVICE).await.expect_err("no answer");
        assert_eq!(
            err.to_string(),
            format!(
                "no instance of search-service in DNS at {} \
                 (SRV search-service.service.consul. has no answer)",
                empty.addr
            )
        );

        let srv_only = FakeDns::start(|reply, name, kind| {
            if kind == RecordType::SRV {
                srv(reply, name);
            }
        })
        .await;
        let err = resolve(srv_only.addr, SERVICE).await.expect_err("no A");
        assert!(
            err.to_string()
                .ends_with("(A search-service.service.consul. has no answer)"),
            "{err}"
        );

        let refused = FakeDns::start(|reply, _, _| {
            reply.metadata.response_code = ResponseCode::Refused;
        })
        .await;
        let err = resolve(refused.addr, SERVICE).await.expect_err("refused");
        assert_eq!(
            err.to_string(),
            format!(
                "the DNS server at {} answered SRV search-service.service.consul. with Query Refused",
                refused.addr
            )
        );
        assert_eq!(refused.asked().len(), 1, "an error answer is not retried");
    }

    #[tokio::test]
    async fn a_silent_server_fails_after_one_timeout() {
        // Bound but never read: the queries go unanswered.
        let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let server = silent.local_addr().expect("local address");
        let started = std::time::Instant::now();
        let err = resolve(server, SERVICE).await.expect_err("no answer");
        let waited = started.elapsed();
        assert!(
            matches!(
                err,
                DnsError::Unreachable {
                    kind: RecordType::SRV,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().starts_with(&format!(
                "cannot reach the DNS server at {server} (SRV search-service.service.consul.)"
            )),
            "{err}"
        );
        // Retries would take another TIMEOUT each.
        assert!(waited < TIMEOUT * 2, "waited {waited:?}");
    }
}
