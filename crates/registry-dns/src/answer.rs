//! The pure core: a decoded query in, a complete (untrimmed) response out.

use std::collections::HashSet;
use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::zone::{Lookup, Zone};
use crate::{Instance, ServiceCatalog};

/// SRV priority, as Consul serves it (`1 WEIGHT PORT TARGET`): every instance is equal in
/// priority, its weight is the instance's, and the per-query shuffle spreads the load.
const SRV_PRIORITY: u16 = 1;

/// The largest UDP payload advertised back in EDNS0 (Consul's cap: 64 KiB less IP and UDP
/// headers).
pub(crate) const MAX_UDP_PAYLOAD: u16 = u16::MAX - 68;

/// Answers `request` from `catalog` the way Consul's DNS interface does (see the crate
/// documentation for the names and rules). The response is complete: fitting it into a UDP
/// datagram is [`respond`](crate::respond)'s job. `rng` shuffles instances.
///
/// Every request gets an answer: a response message or one without exactly one question is
/// FORMERR, an opcode other than QUERY is NOTIMP, an EDNS version above 0 is BADVERS.
pub fn answer<R: Rng + ?Sized>(
    request: &Message,
    catalog: &dyn ServiceCatalog,
    zone: &Zone,
    rng: &mut R,
) -> Message {
    let mut response = Message::response(request.id, request.op_code);
    response.metadata.recursion_desired = request.recursion_desired;
    response.metadata.checking_disabled = request.checking_disabled;
    response.queries.clone_from(&request.queries);

    if let Some(edns) = &request.edns {
        let mut reply = Edns::new();
        reply.set_max_payload(edns.max_payload().min(MAX_UDP_PAYLOAD));
        response.set_edns(reply);
        if edns.version() > 0 {
            return with_code(response, ResponseCode::BADVERS);
        }
    }
    if request.message_type != MessageType::Query {
        return with_code(response, ResponseCode::FormErr);
    }
    if request.op_code != OpCode::Query {
        return with_code(response, ResponseCode::NotImp);
    }
    let [query] = request.queries.as_slice() else {
        return with_code(response, ResponseCode::FormErr);
    };

    let qtype = query.query_type();
    let lower = query.name().to_lowercase();
    let lookup = zone.lookup(&lower, qtype);
    if lookup == Lookup::OutOfZone || !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
        // Not our zone and no recursion: REFUSED, not authoritative.
        return with_code(response, ResponseCode::Refused);
    }
    response.metadata.authoritative = true;
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        return with_code(response, ResponseCode::NotImp);
    }

    let ttl = zone.ttl();
    let found = match lookup {
        Lookup::OutOfZone | Lookup::NotFound => false,
        Lookup::Apex => {
            if matches!(qtype, RecordType::SOA | RecordType::ANY) {
                let mut soa = zone.soa().clone();
                soa.name = query.name().clone();
                response.answers.push(soa);
            }
            true
        }
        Lookup::Node(node) => match catalog.node_address(&node) {
            Some(ip) => {
                push_address(&mut response.answers, query.name(), ip, qtype, ttl);
                true
            }
            None => false,
        },
        Lookup::Addr(ip) => {
            push_address(&mut response.answers, query.name(), ip, qtype, ttl);
            true
        }
        Lookup::Service { service, tag } => {
            let mut instances = catalog.passing_instances(service, tag.as_deref());
            instances.shuffle(rng);
            if qtype == RecordType::SRV {
                srv_records(&mut response, query, &instances, zone);
            } else {
                address_records(&mut response.answers, query, &instances, ttl);
            }
            // No passing instance: the name does not exist (Consul's errNameNotFound).
            !instances.is_empty()
        }
    };

    if !found {
        response.metadata.response_code = ResponseCode::NXDomain;
    }
    if response.answers.is_empty() {
        // NXDOMAIN, or NODATA (RFC 2308 type 2): the SOA tells resolvers how long to cache it.
        response.authorities.push(zone.soa().clone());
    }
    response
}

fn with_code(mut response: Message, code: ResponseCode) -> Message {
    response.metadata.response_code = code;
    response
}

/// Whether an address answers a question of type `qtype`.
fn wanted(qtype: RecordType, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => matches!(qtype, RecordType::A | RecordType::ANY),
        IpAddr::V6(_) => matches!(qtype, RecordType::AAAA | RecordType::ANY),
    }
}

fn address_record(name: Name, ip: IpAddr, ttl: u32) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(name, ttl, data)
}

fn push_address(out: &mut Vec<Record>, name: &Name, ip: IpAddr, qtype: RecordType, ttl: u32) {
    let ip = ip.to_canonical();
    if wanted(qtype, ip) {
        out.push(address_record(name.clone(), ip, ttl));
    }
}

/// The address an instance is reached at: its own, else its node's.
fn instance_ip(instance: &Instance) -> IpAddr {
    instance
        .address
        .unwrap_or(instance.node_address)
        .to_canonical()
}

/// A/AAAA answers, one per distinct address, in the (shuffled) instance order.
fn address_records(out: &mut Vec<Record>, query: &Query, instances: &[Instance], ttl: u32) {
    let mut seen = HashSet::with_capacity(instances.len());
    for instance in instances {
        let ip = instance_ip(instance);
        if wanted(query.query_type(), ip) && seen.insert(ip) {
            out.push(address_record(query.name().clone(), ip, ttl));
        }
    }
}

/// SRV answers, one per distinct (target, port), each target's address in the additional
/// section once.
fn srv_records(response: &mut Message, query: &Query, instances: &[Instance], zone: &Zone) {
    let mut seen = HashSet::with_capacity(instances.len());
    let mut glued = HashSet::with_capacity(instances.len());
    for instance in instances {
        let ip = instance_ip(instance);
        let target = match instance.address {
            Some(_) => zone.addr_target(ip),
            None => zone.node_target(&instance.node),
        };
        let Some(target) = target else {
            tracing::debug!(
                node = %instance.node,
                "node name is not a DNS name: instance left out of SRV answers"
            );
            continue;
        };
        if !seen.insert((target.clone(), instance.port)) {
            continue;
        }
        let srv = SRV::new(SRV_PRIORITY, instance.weight, instance.port, target.clone());
        response.answers.push(Record::from_rdata(
            query.name().clone(),
            zone.ttl(),
            RData::SRV(srv),
        ));
        if glued.insert(target.clone()) {
            response
                .additionals
                .push(address_record(target, ip, zone.ttl()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;
    use crate::DnsConfig;

    struct OneService;

    impl ServiceCatalog for OneService {
        fn passing_instances(&self, service: &str, _tag: Option<&str>) -> Vec<Instance> {
            if service != "web" {
                return Vec::new();
            }
            let node = |n: u8, address: Option<IpAddr>, port| Instance {
                node: format!("n{n}"),
                node_address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
                address,
                port,
                weight: u16::from(n) * 5,
            };
            vec![
                node(1, None, 80),
                node(1, None, 80), // duplicate: one SRV
                node(1, None, 81), // same node, other port: one more SRV, same glue
                node(2, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))), 80), // same IP as n1
            ]
        }

        fn node_address(&self, _node: &str) -> Option<IpAddr> {
            None
        }
    }

    fn ask(name: &str, qtype: RecordType) -> Message {
        let zone = Zone::new(&DnsConfig::default()).expect("zone");
        let mut request = Message::query();
        request.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
        answer(
            &request,
            &OneService,
            &zone,
            &mut SmallRng::seed_from_u64(7),
        )
    }

    #[test]
    fn duplicates_are_folded() {
        let a = ask("web.service.consul.", RecordType::A);
        assert_eq!(a.answers.len(), 1, "one distinct address: {a:?}");
        let srv = ask("web.service.consul.", RecordType::SRV);
        assert_eq!(srv.answers.len(), 3, "n1:80, n1:81, addr:80: {srv:?}");
        assert_eq!(srv.additionals.len(), 2, "n1 and the addr target: {srv:?}");
    }

    #[test]
    fn srv_weights_are_the_instances() {
        let srv = ask("web.service.consul.", RecordType::SRV);
        let mut weights: Vec<(u16, u16)> = srv
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(srv) => Some((srv.port, srv.weight)),
                _ => None,
            })
            .collect();
        weights.sort_unstable();
        assert_eq!(weights, [(80, 5), (80, 10), (81, 5)]);
    }

    #[test]
    fn ipv4_only_service_has_no_aaaa() {
        let aaaa = ask("web.service.consul.", RecordType::AAAA);
        assert_eq!(aaaa.response_code, ResponseCode::NoError);
        assert!(aaaa.answers.is_empty());
        assert_eq!(aaaa.authorities.len(), 1);
    }
}
