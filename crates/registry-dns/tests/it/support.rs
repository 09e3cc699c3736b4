//! A fake catalog, query builders, a dig-like renderer and a running server.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tern_registry_dns::proto::op::{Edns, Message, Query, ResponseCode};
use tern_registry_dns::proto::rr::{Name, Record, RecordType};
use tern_registry_dns::{
    answer, respond, DnsConfig, DnsServer, Error, Instance, ServiceCatalog, Transport, Zone,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An instance in the fake catalog, with what the real registry would filter on.
pub struct FakeInstance {
    pub service: &'static str,
    pub tags: &'static [&'static str],
    pub passing: bool,
    pub instance: Instance,
}

/// An in-memory catalog: matching is case-insensitive, as the trait asks.
pub struct FakeCatalog {
    pub instances: Vec<FakeInstance>,
    pub nodes: BTreeMap<String, IpAddr>,
}

impl ServiceCatalog for FakeCatalog {
    fn passing_instances(&self, service: &str, tag: Option<&str>) -> Vec<Instance> {
        self.instances
            .iter()
            .filter(|i| i.passing && i.service.eq_ignore_ascii_case(service))
            .filter(|i| tag.is_none_or(|t| i.tags.iter().any(|x| x.eq_ignore_ascii_case(t))))
            .map(|i| i.instance.clone())
            .collect()
    }

    fn node_address(&self, node: &str) -> Option<IpAddr> {
        self.nodes.get(&node.to_ascii_lowercase()).copied()
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn instance(
    service: &'static str,
    tags: &'static [&'static str],
    node: &str,
    node_address: &str,
    address: Option<&str>,
    port: u16,
) -> FakeInstance {
    FakeInstance {
        service,
        tags,
        passing: true,
        instance: Instance {
            node: node.to_owned(),
            node_address: ip(node_address),
            address: address.map(ip),
            port,
            weight: 1,
        },
    }
}

/// - `search-service`: on node-a (node address, tags primary + v1) and node-b (own address
///   192.0.2.10, tag v1); a third instance on node-c is critical, so never answered.
/// - `big`: 40 instances on node-0 … node-39, 10.1.0.0 … 10.1.0.39.
/// - `v6`: one instance with an IPv6 service address.
/// - `down`: only a failing instance.
pub fn catalog() -> Arc<FakeCatalog> {
    let mut instances = vec![
        instance(
            "search-service",
            &["primary", "v1"],
            "node-a",
            "10.0.0.1",
            None,
            50051,
        ),
        instance(
            "search-service",
            &["v1"],
            "node-b",
            "10.0.0.2",
            Some("192.0.2.10"),
            50052,
        ),
        FakeInstance {
            passing: false,
            ..instance("search-service", &["v1"], "node-c", "10.0.0.3", None, 50053)
        },
        instance("v6", &[], "node-a", "10.0.0.1", Some("2001:db8::1"), 8080),
        FakeInstance {
            passing: false,
            ..instance("down", &[], "node-a", "10.0.0.1", None, 9)
        },
    ];
    let mut nodes: BTreeMap<String, IpAddr> = [
        ("node-a", "10.0.0.1"),
        ("node-b", "10.0.0.2"),
        ("node-c", "10.0.0.3"),
        ("node-v6", "2001:db8::2"),
    ]
    .into_iter()
    .map(|(n, a)| (n.to_owned(), ip(a)))
    .collect();
    for i in 0..40u8 {
        let node = format!("node-{i}");
        let address = IpAddr::V4(Ipv4Addr::new(10, 1, 0, i));
        nodes.insert(node.clone(), address);
        instances.push(FakeInstance {
            service: "big",
            tags: &[],
            passing: true,
            instance: Instance {
                node,
                node_address: address,
                address: None,
                port: 8000 + u16::from(i),
                weight: 1,
            },
        });
    }
    Arc::new(FakeCatalog { instances, nodes })
}

pub fn zone() -> Zone {
    Zone::new(&DnsConfig::default()).expect("the default config is valid")
}

/// A query for `name` (as written: not lowercased), optionally with EDNS0 offering `edns`
/// bytes.
pub fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(
        Name::from_ascii(name).expect("test name"),
        qtype,
    ));
    if let Some(size) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(size);
        message.set_edns(opt);
    }
    message
}

pub fn bytes(message: &Message) -> Vec<u8> {
    message.to_vec().expect("the test query encodes")
}

/// The pure core, with a fixed seed.
pub fn ask(name: &str, qtype: RecordType) -> Message {
    answer(
        &query(name, qtype, None),
        &*catalog(),
        &zone(),
        &mut SmallRng::seed_from_u64(1),
    )
}

/// Through the wire layer: encoded, sized for `transport`, decoded again.
pub fn ask_wire(request: &Message, transport: Transport) -> (usize, Message) {
    let mut out = Vec::new();
    let catalog = catalog();
    let sent = respond(
        &bytes(request),
        transport,
        &*catalog,
        &zone(),
        &mut rand::rng(),
        &mut out,
    );
    assert!(sent, "a valid query is answered");
    (
        out.len(),
        Message::from_vec(&out).expect("the response decodes"),
    )
}

fn render_records(out: &mut String, section: &str, records: &[Record]) {
    let mut lines: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "  {} {} {} {} {}",
                r.name,
                r.ttl,
                r.dns_class,
                r.record_type(),
                r.data
            )
        })
        .collect();
    lines.sort();
    if !lines.is_empty() {
        out.push_str(section);
        out.push_str(":\n");
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
}

/// A dig-like rendering; records sorted within each section (the order is random).
pub fn render(message: &Message) -> String {
    let m = &message.metadata;
    let flags: Vec<&str> = [
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    let code = match m.response_code {
        ResponseCode::NoError => "NOERROR".to_owned(),
        ResponseCode::FormErr => "FORMERR".to_owned(),
        ResponseCode::ServFail => "SERVFAIL".to_owned(),
        ResponseCode::NXDomain => "NXDOMAIN".to_owned(),
        ResponseCode::NotImp => "NOTIMP".to_owned(),
        ResponseCode::Refused => "REFUSED".to_owned(),
        other => format!("RCODE{}", u16::from(other)),
    };
    let mut out = format!("{code} {}\n", flags.join(" "));
    for q in &message.queries {
        out.push_str(&format!(
            "question: {} {} {}\n",
            q.name(),
            q.query_class(),
            q.query_type()
        ));
    }
    render_records(&mut out, "answer", &message.answers);
    render_records(&mut out, "authority", &message.authorities);
    render_records(&mut out, "additional", &message.additionals);
    out
}

/// A server on 127.0.0.1, UDP and TCP on OS-assigned ports.
pub struct Running {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    pub async fn start() -> Self {
        let (udp, tcp) = bind_pair().await;
        let (udp_addr, tcp_addr) = (
            udp.local_addr().expect("udp addr"),
            tcp.local_addr().expect("tcp addr"),
        );
        let server = DnsServer::build(DnsConfig::default(), catalog()).expect("build");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(udp, tcp, async {
            let _ = stopped.await;
        }));
        Self {
            udp: udp_addr,
            tcp: tcp_addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .expect("the server stops within 5s")
            .expect("the server task does not panic");
        assert!(result.is_ok(), "serve returned {result:?}");
    }
}

/// UDP and TCP on the same OS-assigned port, as clients expect (dnspython retries a
/// truncated answer over TCP on the port it used for UDP). Both sockets are held: if the TCP
/// side of the port is taken, another UDP port is tried.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("udp addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP in 100 tries");
}

/// Sends raw bytes from a fresh socket; the decoded reply, or `None` after `wait`.
pub async fn udp_raw(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    socket.send_to(packet, server).await.expect("send");
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
        Ok(Ok((len, _))) => Some(buf[..len].to_vec()),
        _ => None,
    }
}

pub async fn udp_ask(server: SocketAddr, request: &Message) -> Message {
    let reply = udp_raw(server, &bytes(request), Duration::from_secs(5))
        .await
        .expect("a UDP reply within 5s");
    Message::from_vec(&reply).expect("the reply decodes")
}

/// Sends each query on one TCP connection, then reads as many replies.
pub async fn tcp_ask(server: SocketAddr, requests: &[Message]) -> Vec<Message> {
    let mut stream = TcpStream::connect(server).await.expect("connect");
    for request in requests {
        let data = bytes(request);
        let len = u16::try_from(data.len()).expect("small query");
        stream.write_all(&len.to_be_bytes()).await.expect("write");
        stream.write_all(&data).await.expect("write");
    }
    let mut replies = Vec::new();
    for _ in requests {
        let read = async {
            let len = stream.read_u16().await.expect("reply length");
            let mut buf = vec![0u8; usize::from(len)];
            stream.read_exact(&mut buf).await.expect("reply");
            buf
        };
        let buf = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a TCP reply within 5s");
        replies.push(Message::from_vec(&buf).expect("the reply decodes"));
    }
    replies
}
