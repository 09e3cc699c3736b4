//! The configured zone (`consul.` + datacenter) and how names inside it are read.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::{DnsConfig, Error};

/// SOA timers, Consul's defaults (`dns_config.soa`).
const SOA_REFRESH: i32 = 3600;
const SOA_RETRY: i32 = 600;
const SOA_EXPIRE: i32 = 86400;

/// A validated [`DnsConfig`], ready to answer from: the domain as a DNS name, the
/// datacenter, the TTL and the zone's SOA record.
#[derive(Clone, Debug)]
pub struct Zone {
    domain: Name,
    domain_labels: usize,
    datacenter: String,
    ttl: u32,
    node_suffix: Name,
    addr_suffix: Name,
    soa: Record,
}

/// What a question name refers to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    /// Not inside the zone: REFUSED.
    OutOfZone,
    /// The zone apex itself (`consul.`).
    Apex,
    /// `[TAG.]NAME.service…`, `_NAME._TAG.service…`.
    Service {
        service: &'a str,
        tag: Option<Cow<'a, str>>,
    },
    /// `NODE.node…` (a node name may contain dots).
    Node(Cow<'a, str>),
    /// `HEX.addr…`.
    Addr(IpAddr),
    /// Inside the zone, but not a name we serve: NXDOMAIN.
    NotFound,
}

impl Zone {
    /// Validates `config`: `domain` must be a DNS name (the trailing dot is optional) and
    /// `datacenter` one label. The SOA serial is 1; see [`Zone::with_soa_serial`].
    pub fn new(config: &DnsConfig) -> Result<Self, Error> {
        let invalid_domain = |reason: String| Error::InvalidDomain {
            domain: config.domain.clone(),
            reason,
        };
        let domain = Name::from_ascii(&config.domain)
            .map_err(|e| invalid_domain(e.to_string()))?
            .to_lowercase();
        if domain.is_root() || domain.iter().len() == 0 {
            return Err(invalid_domain("the root zone cannot be served".to_owned()));
        }
        let domain = domain
            .append_domain(&Name::root())
            .map_err(|e| invalid_domain(e.to_string()))?;

        let datacenter = config.datacenter.to_ascii_lowercase();
        let valid_label = !datacenter.is_empty()
            && datacenter.len() <= 63
            && datacenter
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let suffix = |kind: &str| {
            Name::from_ascii(kind)
                .and_then(|n| n.append_label(datacenter.as_str()))
                .and_then(|n| n.append_domain(&domain))
        };
        let (Some(node_suffix), Some(addr_suffix)) = (
            suffix("node").ok().filter(|_| valid_label),
            suffix("addr").ok().filter(|_| valid_label),
        ) else {
            return Err(Error::InvalidDatacenter {
                datacenter: config.datacenter.clone(),
            });
        };

        let soa_name = |label: &str| {
            Name::from_ascii(label)
                .and_then(|n| n.append_domain(&domain))
                .map_err(|e| invalid_domain(e.to_string()))
        };
        let soa = SOA::new(
            soa_name("ns")?,
            soa_name("hostmaster")?,
            1,
            SOA_REFRESH,
            SOA_RETRY,
            SOA_EXPIRE,
            config.ttl,
        );
        Ok(Self {
            domain_labels: domain.iter().len(),
            soa: Record::from_rdata(domain.clone(), config.ttl, RData::SOA(soa)),
            domain,
            datacenter,
            ttl: config.ttl,
            node_suffix,
            addr_suffix,
        })
    }

    /// Sets the SOA serial. [`DnsServer`](crate::DnsServer) uses its start time in Unix
    /// seconds (Consul serves the current time); nothing transfers this zone, so it only
    /// has to be plausible.
    pub fn with_soa_serial(mut self, serial: u32) -> Self {
        if let RData::SOA(soa) = &mut self.soa.data {
            soa.serial = serial;
        }
        self
    }

    /// The domain, lowercased and fully qualified (`consul.`).
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// The datacenter, lowercased.
    pub fn datacenter(&self) -> &str {
        &self.datacenter
    }

    /// The TTL of every record.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// The zone's SOA record, for the authority section of negative answers.
    pub(crate) fn soa(&self) -> &Record {
        &self.soa
    }

    /// `NODE.node.DC.DOMAIN.`, the SRV target of an instance without its own address.
    pub(crate) fn node_target(&self, node: &str) -> Option<Name> {
        Name::from_ascii(node)
            .ok()?
            .append_domain(&self.node_suffix)
            .ok()
    }

    /// `HEX.addr.DC.DOMAIN.`, the SRV target of an instance with its own address.
    pub(crate) fn addr_target(&self, ip: IpAddr) -> Option<Name> {
        let mut hex = [0u8; 32];
        let digits = match ip {
            IpAddr::V4(v4) => encode_hex(&v4.octets(), &mut hex),
            IpAddr::V6(v6) => encode_hex(&v6.octets(), &mut hex),
        };
        Name::from_labels([digits])
            .ok()?
            .append_domain(&self.addr_suffix)
            .ok()
    }

    /// Reads a lowercased question name (Consul's `dispatch`): the rightmost of `service`,
    /// `node` or `addr` gives the kind, the labels before it the subject and the labels after
    /// it (up to the domain) the datacenter, as `DC` or `DC.dc`. For SRV questions the
    /// `service` label may be left out of RFC 2782 names (`_web._tcp.consul`).
    pub(crate) fn lookup<'a>(&self, lower: &'a Name, qtype: RecordType) -> Lookup<'a> {
        if !self.domain.zone_of(lower) {
            return Lookup::OutOfZone;
        }
        let total = lower.iter().len();
        let Some(n) = total.checked_sub(self.domain_labels) else {
            return Lookup::OutOfZone;
        };
        if n == 0 {
            return Lookup::Apex;
        }
        let mut labels = Vec::with_capacity(n);
        for label in lower.iter().take(n) {
            match std::str::from_utf8(label) {
                Ok(label) => labels.push(label),
                Err(_) => return Lookup::NotFound,
            }
        }

        // (kind, end of the subject labels, start of the locality labels)
        let mut kind = None;
        for (i, label) in labels.iter().enumerate().rev() {
            match *label {
                "service" | "node" | "addr" | "connect" | "virtual" | "ingress" | "query" => {
                    kind = Some((*label, i, i + 1));
                    break;
                }
                _ if qtype == RecordType::SRV && label.starts_with('_') => {
                    kind = Some(("service", i + 1, i + 1));
                    break;
                }
                _ => {}
            }
        }
        let Some((kind, end, suffix)) = kind else {
            return Lookup::NotFound;
        };
        let (parts, suffixes) = (&labels[..end], &labels[suffix..]);
        match kind {
            "addr" => match parts {
                // Consul ignores the datacenter of addr names: the address is the answer.
                [hex] => decode_addr(hex).map_or(Lookup::NotFound, Lookup::Addr),
                _ => Lookup::NotFound,
            },
            "service" if !parts.is_empty() && self.is_local(suffixes) => service_lookup(parts),
            "node" if !parts.is_empty() && self.is_local(suffixes) => Lookup::Node(join(parts)),
            _ => Lookup::NotFound,
        }
    }

    /// Whether the labels between the kind and the domain name this datacenter: none,
    /// `DC`, or `DC.dc`. Other datacenters are not reachable from here: NXDOMAIN, as in
    /// Consul when there is no path to a datacenter.
    fn is_local(&self, suffixes: &[&str]) -> bool {
        match suffixes {
            [] => true,
            [dc] | [dc, "dc"] => *dc == self.datacenter,
            _ => false,
        }
    }
}

/// `_NAME._TAG` (RFC 2782; `_tcp` means any tag) or `[TAG.]NAME` (a tag may hold dots).
fn service_lookup<'a>(parts: &[&'a str]) -> Lookup<'a> {
    let (service, tag) = match parts {
        [name, tag] if name.starts_with('_') && tag.starts_with('_') => {
            let tag = &tag[1..];
            (&name[1..], (tag != "tcp").then_some(Cow::Borrowed(tag)))
        }
        [tags @ .., name] => (*name, (!tags.is_empty()).then(|| join(tags))),
        [] => return Lookup::NotFound,
    };
    if service.is_empty() || tag.as_deref() == Some("") {
        return Lookup::NotFound;
    }
    Lookup::Service { service, tag }
}

fn join<'a>(parts: &[&'a str]) -> Cow<'a, str> {
    match parts {
        [one] => Cow::Borrowed(one),
        _ => Cow::Owned(parts.join(".")),
    }
}

fn encode_hex<'b>(bytes: &[u8], out: &'b mut [u8; 32]) -> &'b [u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(byte >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
    }
    &out[..2 * bytes.len()]
}

/// 8 hex digits are an IPv4 address, 32 an IPv6 one.
fn decode_addr(hex: &str) -> Option<IpAddr> {
    fn decode<const N: usize>(hex: &str) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        if hex.len() != 2 * N {
            return None;
        }
        for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(out)
    }
    match hex.len() {
        8 => decode::<4>(hex).map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        32 => decode::<16>(hex).map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        Zone::new(&DnsConfig::default()).expect("default config is valid")
    }

    fn lookup(name: &str, qtype: RecordType) -> String {
        let name = Name::from_ascii(name).expect("test name").to_lowercase();
        format!("{:?}", zone().lookup(&name, qtype))
    }

    #[test]
    fn reads_names_like_consul() {
        use RecordType::{A, SRV};
        let cases = [
            ("consul.", A, "Apex"),
            ("example.com.", A, "OutOfZone"),
            ("consul.com.", A, "OutOfZone"),
            (
                "web.service.consul.",
                A,
                r#"Service { service: "web", tag: None }"#,
            ),
            (
                "WEB.Service.CONSUL.",
                A,
                r#"Service { service: "web", tag: None }"#,
            ),
            (
                "web.service.dc1.consul.",
                A,
                r#"Service { service: "web", tag: None }"#,
            ),
            (
                "web.service.dc1.dc.consul.",
                A,
                r#"Service { service: "web", tag: None }"#,
            ),
            ("web.service.dc2.consul.", A, "NotFound"),
            ("web.service.dc1.x.consul.", A, "NotFound"),
            (
                "v1.web.service.consul.",
                A,
                r#"Service { service: "web", tag: Some("v1") }"#,
            ),
            (
                "a.b.web.service.consul.",
                A,
                r#"Service { service: "web", tag: Some("a.b") }"#,
            ),
            (
                "_web._tcp.service.consul.",
                SRV,
                r#"Service { service: "web", tag: None }"#,
            ),
            (
                "_web._tcp.service.consul.",
                A,
                r#"Service { service: "web", tag: None }"#,
            ),
            (
                "_web._v1.service.consul.",
                SRV,
                r#"Service { service: "web", tag: Some("v1") }"#,
            ),
            (
                "_web._tcp.consul.",
                SRV,
                r#"Service { service: "web", tag: None }"#,
            ),
            (
                "_web._tcp.dc1.consul.",
                SRV,
                r#"Service { service: "web", tag: None }"#,
            ),
            ("_web._tcp.consul.", A, "NotFound"),
            ("service.consul.", A, "NotFound"),
            ("_._tcp.service.consul.", SRV, "NotFound"),
            ("n1.node.consul.", A, r#"Node("n1")"#),
            ("n1.node.dc1.consul.", A, r#"Node("n1")"#),
            ("n1.example.node.consul.", A, r#"Node("n1.example")"#),
            ("node.consul.", A, "NotFound"),
            ("7f000001.addr.dc1.consul.", A, "Addr(127.0.0.1)"),
            ("7F000001.addr.consul.", A, "Addr(127.0.0.1)"),
            (
                "20010db800010002cafe000000001337.addr.consul.",
                A,
                "Addr(2001:db8:1:2:cafe::1337)",
            ),
            ("7f00001.addr.consul.", A, "NotFound"),
            ("7f00000g.addr.consul.", A, "NotFound"),
            ("web.connect.consul.", A, "NotFound"),
            ("web.query.consul.", A, "NotFound"),
            ("something.consul.", A, "NotFound"),
        ];
        for (name, qtype, expected) in cases {
            assert_eq!(lookup(name, qtype), expected, "{name} {qtype}");
        }
    }

    #[test]
    fn srv_targets_follow_consul() {
        let zone = zone();
        let v4 = zone.addr_target("192.0.2.10".parse().expect("ip"));
        assert_eq!(
            v4.map(|n| n.to_ascii()).as_deref(),
            Some("c000020a.addr.dc1.consul.")
        );
        let v6 = zone.addr_target("2001:db8:1:2:cafe::1337".parse().expect("ip"));
        assert_eq!(
            v6.map(|n| n.to_ascii()).as_deref(),
            Some("20010db800010002cafe000000001337.addr.dc1.consul.")
        );
        let node = zone.node_target("web-1");
        assert_eq!(
            node.map(|n| n.to_ascii()).as_deref(),
            Some("web-1.node.dc1.consul.")
        );
        assert!(zone.node_target(&"x".repeat(64)).is_none());
    }

    #[test]
    fn config_is_validated() {
        let zone = |domain: &str, dc: &str| {
            Zone::new(&DnsConfig {
                domain: domain.to_owned(),
                datacenter: dc.to_owned(),
                ..DnsConfig::default()
            })
        };
        let ok = zone("Tern.Internal", "DC-2").expect("valid");
        assert_eq!(ok.domain().to_ascii(), "tern.internal.");
        assert_eq!(ok.datacenter(), "dc-2");
        assert!(matches!(zone(".", "dc1"), Err(Error::InvalidDomain { .. })));
        assert!(matches!(
            zone("a..b", "dc1"),
            Err(Error::InvalidDomain { .. })
        ));
        assert!(matches!(
            zone("consul", "dc.1"),
            Err(Error::InvalidDatacenter { .. })
        ));
        assert!(matches!(
            zone("consul", ""),
            Err(Error::InvalidDatacenter { .. })
        ));
        let message = zone("consul", "").err().map(|e| e.to_string());
        assert_eq!(
            message.as_deref(),
            Some(
                "invalid datacenter \"\" for DNS: expected one label of letters, digits and '-', \
                 like \"dc1\""
            )
        );
    }
}
