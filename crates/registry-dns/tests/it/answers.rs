//! The pure core against the fake catalog: what each name and type answers.
//! Snapshots update with `UPDATE_EXPECT=1`.

use expect_test::{expect, Expect};
use tern_registry_dns::proto::op::{Message, OpCode, ResponseCode};
use tern_registry_dns::proto::rr::{RData, RecordType};
use tern_registry_dns::{answer, Transport};

use crate::support::*;

fn check(name: &str, qtype: RecordType, expected: Expect) {
    expected.assert_eq(&render(&ask(name, qtype)));
}

#[test]
fn a_records_of_passing_instances() {
    // node-a's node address, node-b's service address; node-c is critical.
    check(
        "search-service.service.consul.",
        RecordType::A,
        expect![[r#"
            NOERROR aa rd
            question: search-service.service.consul. IN A
            answer:
              search-service.service.consul. 0 IN A 10.0.0.1
              search-service.service.consul. 0 IN A 192.0.2.10
        "#]],
    );
}

#[test]
fn srv_records_with_targets_in_additional() {
    check(
        "search-service.service.consul.",
        RecordType::SRV,
        expect![[r#"
            NOERROR aa rd
            question: search-service.service.consul. IN SRV
            answer:
              search-service.service.consul. 0 IN SRV 1 1 50051 node-a.node.dc1.consul.
              search-service.service.consul. 0 IN SRV 1 1 50052 c000020a.addr.dc1.consul.
            additional:
              c000020a.addr.dc1.consul. 0 IN A 192.0.2.10
              node-a.node.dc1.consul. 0 IN A 10.0.0.1
        "#]],
    );
}

#[test]
fn datacenter_forms_answer_the_same() {
    let addresses = |name: &str| {
        let mut ips: Vec<_> = ask(name, RecordType::A)
            .answers
            .iter()
            .filter_map(|r| r.data.ip_addr())
            .collect();
        ips.sort();
        ips
    };
    for name in [
        "search-service.service.dc1.consul.",
        "search-service.service.dc1.dc.consul.",
        "Search-Service.SERVICE.Consul.",
    ] {
        assert_eq!(
            addresses(name),
            [ip("10.0.0.1"), ip("192.0.2.10")],
            "{name}"
        );
    }
    // Another datacenter is not reachable from here.
    let other = ask("search-service.service.dc2.consul.", RecordType::A);
    assert_eq!(other.response_code, ResponseCode::NXDomain);
}

#[test]
fn names_keep_the_askers_case() {
    check(
        "Search-Service.Service.CONSUL.",
        RecordType::A,
        expect![[r#"
            NOERROR aa rd
            question: Search-Service.Service.CONSUL. IN A
            answer:
              Search-Service.Service.CONSUL. 0 IN A 10.0.0.1
              Search-Service.Service.CONSUL. 0 IN A 192.0.2.10
        "#]],
    );
}

#[test]
fn tag_filter() {
    check(
        "primary.search-service.service.consul.",
        RecordType::SRV,
        expect![[r#"
            NOERROR aa rd
            question: primary.search-service.service.consul. IN SRV
            answer:
              primary.search-service.service.consul. 0 IN SRV 1 1 50051 node-a.node.dc1.consul.
            additional:
              node-a.node.dc1.consul. 0 IN A 10.0.0.1
        "#]],
    );
    check(
        "nope.search-service.service.consul.",
        RecordType::A,
        expect![[r#"
            NXDOMAIN aa rd
            question: nope.search-service.service.consul. IN A
            authority:
              consul. 0 IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0
        "#]],
    );
}

#[test]
fn rfc_2782_form() {
    // `_tcp` means any tag; another protocol label is a tag; `service` is optional for SRV.
    let any = render(&ask(
        "_search-service._tcp.service.consul.",
        RecordType::SRV,
    ));
    assert!(any.contains("50051") && any.contains("50052"), "{any}");
    check(
        "_search-service._primary.service.consul.",
        RecordType::SRV,
        expect![[r#"
            NOERROR aa rd
            question: _search-service._primary.service.consul. IN SRV
            answer:
              _search-service._primary.service.consul. 0 IN SRV 1 1 50051 node-a.node.dc1.consul.
            additional:
              node-a.node.dc1.consul. 0 IN A 10.0.0.1
        "#]],
    );
    let short = render(&ask("_search-service._tcp.consul.", RecordType::SRV));
    assert!(
        short.contains("50051") && short.contains("50052"),
        "{short}"
    );
}

#[test]
fn node_and_addr_lookups() {
    check(
        "node-a.node.consul.",
        RecordType::A,
        expect![[r#"
            NOERROR aa rd
            question: node-a.node.consul. IN A
            answer:
              node-a.node.consul. 0 IN A 10.0.0.1
        "#]],
    );
    check(
        "node-v6.node.dc1.consul.",
        RecordType::AAAA,
        expect![[r#"
            NOERROR aa rd
            question: node-v6.node.dc1.consul. IN AAAA
            answer:
              node-v6.node.dc1.consul. 0 IN AAAA 2001:db8::2
        "#]],
    );
    check(
        "c000020a.addr.dc1.consul.",
        RecordType::A,
        expect![[r#"
            NOERROR aa rd
            question: c000020a.addr.dc1.consul. IN A
            answer:
              c000020a.addr.dc1.consul. 0 IN A 192.0.2.10
        "#]],
    );
    check(
        "20010db8000000000000000000000001.addr.consul.",
        RecordType::AAAA,
        expect![[r#"
            NOERROR aa rd
            question: 20010db8000000000000000000000001.addr.consul. IN AAAA
            answer:
              20010db8000000000000000000000001.addr.consul. 0 IN AAAA 2001:db8::1
        "#]],
    );
}

#[test]
fn ipv6_service_srv_target_is_an_addr_name() {
    check(
        "v6.service.consul.",
        RecordType::SRV,
        expect![[r#"
            NOERROR aa rd
            question: v6.service.consul. IN SRV
            answer:
              v6.service.consul. 0 IN SRV 1 1 8080 20010db8000000000000000000000001.addr.dc1.consul.
            additional:
              20010db8000000000000000000000001.addr.dc1.consul. 0 IN AAAA 2001:db8::1
        "#]],
    );
}

#[test]
fn any_gives_addresses_not_srv() {
    check(
        "search-service.service.consul.",
        RecordType::ANY,
        expect![[r#"
            NOERROR aa rd
            question: search-service.service.consul. IN ANY
            answer:
              search-service.service.consul. 0 IN A 10.0.0.1
              search-service.service.consul. 0 IN A 192.0.2.10
        "#]],
    );
}

#[test]
fn nodata_for_an_existing_name_of_another_type() {
    check(
        "search-service.service.consul.",
        RecordType::TXT,
        expect![[r#"
            NOERROR aa rd
            question: search-service.service.consul. IN TXT
            authority:
              consul. 0 IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0
        "#]],
    );
    check(
        "node-a.node.consul.",
        RecordType::AAAA,
        expect![[r#"
            NOERROR aa rd
            question: node-a.node.consul. IN AAAA
            authority:
              consul. 0 IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0
        "#]],
    );
}

#[test]
fn nxdomain_with_soa() {
    check(
        "missing.service.consul.",
        RecordType::A,
        expect![[r#"
            NXDOMAIN aa rd
            question: missing.service.consul. IN A
            authority:
              consul. 0 IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0
        "#]],
    );
    // Only failing instances: the name does not exist, as in Consul.
    check(
        "down.service.consul.",
        RecordType::SRV,
        expect![[r#"
            NXDOMAIN aa rd
            question: down.service.consul. IN SRV
            authority:
              consul. 0 IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0
        "#]],
    );
    for name in [
        "missing.node.consul.",
        "consul.service.consul.",
        "whatever.consul.",
        "web.connect.consul.",
        "zzzz.addr.consul.",
    ] {
        let response = ask(name, RecordType::A);
        assert_eq!(response.response_code, ResponseCode::NXDomain, "{name}");
        assert_eq!(response.authorities.len(), 1, "{name}: SOA in authority");
        assert!(response.authoritative, "{name}");
    }
}

#[test]
fn apex_soa() {
    check(
        "consul.",
        RecordType::SOA,
        expect![[r#"
            NOERROR aa rd
            question: consul. IN SOA
            answer:
              consul. 0 IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0
        "#]],
    );
}

#[test]
fn other_domains_are_refused() {
    check(
        "example.com.",
        RecordType::A,
        expect![[r#"
            REFUSED rd
            question: example.com. IN A
        "#]],
    );
    check(
        "consul.example.com.",
        RecordType::A,
        expect![[r#"
            REFUSED rd
            question: consul.example.com. IN A
        "#]],
    );
}

#[test]
fn unsupported_operations() {
    let axfr = ask("consul.", RecordType::AXFR);
    assert_eq!(axfr.response_code, ResponseCode::NotImp);

    let mut notify = query("consul.", RecordType::SOA, None);
    notify.metadata.op_code = OpCode::Notify;
    let response = answer(&notify, &*catalog(), &zone(), &mut rand::rng());
    assert_eq!(response.response_code, ResponseCode::NotImp);

    let mut two = query("consul.", RecordType::SOA, None);
    two.queries.push(two.queries[0].clone());
    let response = answer(&two, &*catalog(), &zone(), &mut rand::rng());
    assert_eq!(response.response_code, ResponseCode::FormErr);

    let mut future = query("consul.", RecordType::SOA, Some(1232));
    if let Some(edns) = future.edns.as_mut() {
        edns.set_version(1);
    }
    let (_, response) = ask_wire(&future, Transport::Udp);
    // BADVERS (16, its high bits in the OPT record) shares its number with BADSIG.
    assert_eq!(u16::from(response.response_code), 16);
    assert_eq!(response.edns.map(|e| e.version()), Some(0));
}

#[test]
fn shuffled_per_query() {
    let first = |rng: &mut rand::rngs::ThreadRng| {
        let response = answer(
            &query("big.service.consul.", RecordType::SRV, None),
            &*catalog(),
            &zone(),
            rng,
        );
        match response.answers.first().map(|r| &r.data) {
            Some(RData::SRV(srv)) => srv.port,
            other => panic!("expected SRV, got {other:?}"),
        }
    };
    let mut rng = rand::rng();
    let firsts: std::collections::HashSet<u16> = (0..50).map(|_| first(&mut rng)).collect();
    assert!(
        firsts.len() > 1,
        "the first answer never changed in 50 queries"
    );
}

#[test]
fn edns_payload_is_echoed() {
    let (_, response) = ask_wire(
        &query("consul.", RecordType::SOA, Some(4096)),
        Transport::Udp,
    );
    assert_eq!(response.edns.map(|e| e.max_payload()), Some(4096));
    let (_, response) = ask_wire(&query("consul.", RecordType::SOA, None), Transport::Udp);
    assert!(response.edns.is_none());
}

/// Responses are replies to their query: same ID, same question, RD copied, RA never set.
#[test]
fn header_mirrors_the_query() {
    let request: Message = query("node-a.node.consul.", RecordType::A, None);
    let response = ask("node-a.node.consul.", RecordType::A);
    assert_eq!(response.queries, request.queries);
    assert!(response.recursion_desired && !response.recursion_available);
    let (_, wire) = ask_wire(&request, Transport::Udp);
    assert_eq!(wire.id, request.id);
}
