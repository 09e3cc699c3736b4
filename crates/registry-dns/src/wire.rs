//! Bytes in, bytes out: decoding, malformed input, and fitting the answer to the transport.

use std::collections::HashMap;

use hickory_proto::op::{emit_message_parts, Header, Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_proto::ProtoError;
use rand::Rng;

use crate::answer::{answer, MAX_UDP_PAYLOAD};
use crate::{ServiceCatalog, Zone};

/// The transport a query came over, which sets how large the response may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// 512 bytes, or the query's EDNS0 UDP payload size if larger (up to 65467).
    Udp,
    /// 65535 bytes, the DNS message limit.
    Tcp,
}

/// Answers the DNS message in `query`, writing the encoded response into `out` (cleared
/// first). Returns `false` when nothing is to be sent: input shorter than a DNS header, or a
/// response rather than a query (answering those invites loops).
///
/// Input that is not a valid message gets FORMERR with the query's ID. A response too large
/// for `transport` keeps as many answers as fit, with their additional records, drops the
/// authority section and sets TC, so the client can retry over TCP.
pub fn respond<R: Rng + ?Sized>(
    query: &[u8],
    transport: Transport,
    catalog: &dyn ServiceCatalog,
    zone: &Zone,
    rng: &mut R,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let Ok(header) = Header::read(&mut BinDecoder::new(query)) else {
        return false;
    };
    if header.metadata.message_type == MessageType::Response {
        return false;
    }
    let response = match Message::from_vec(query) {
        Ok(request) => {
            let limit = match transport {
                Transport::Udp => request.max_payload().min(MAX_UDP_PAYLOAD),
                Transport::Tcp => u16::MAX,
            };
            let response = answer(&request, catalog, zone, rng);
            match encode_within(&response, usize::from(limit), out) {
                Ok(()) => return true,
                Err(error) => {
                    tracing::warn!(%error, "cannot encode a DNS response: SERVFAIL");
                    let mut failure =
                        Message::error_msg(response.id, response.op_code, ResponseCode::ServFail);
                    failure.metadata.recursion_desired = response.recursion_desired;
                    failure.queries = response.queries;
                    failure
                }
            }
        }
        Err(error) => {
            tracing::debug!(%error, id = header.metadata.id, "malformed DNS query: FORMERR");
            let mut failure = Message::error_msg(
                header.metadata.id,
                header.metadata.op_code,
                ResponseCode::FormErr,
            );
            failure.metadata.recursion_desired = header.metadata.recursion_desired;
            failure
        }
    };
    match encode_within(&response, 512, out) {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, "cannot encode a DNS error response");
            false
        }
    }
}

/// Encodes `message` into `out` in at most `limit` bytes, trimming answers (and the
/// additional records only they refer to) and setting TC if it does not fit whole.
pub(crate) fn encode_within(
    message: &Message,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    let all = message.answers.len();
    if emit(message, all, &|_| true, false, out)? && out.len() <= limit {
        return Ok(());
    }

    // The additional records are SRV glue: keep one while an answer that names it is kept.
    let mut first_use: HashMap<&Name, usize> = HashMap::with_capacity(all);
    for (i, record) in message.answers.iter().enumerate() {
        if let RData::SRV(srv) = &record.data {
            first_use.entry(&srv.target).or_insert(i);
        }
    }
    let glue_of: Vec<usize> = message
        .additionals
        .iter()
        .map(|extra| first_use.get(&extra.name).copied().unwrap_or(usize::MAX))
        .collect();

    // Largest answer count that fits: `fits` holds for `low`, fails for `high`.
    let (mut low, mut high) = (0, all);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        let keep = |i: usize| glue_of[i] < mid;
        if emit(message, mid, &keep, true, out)? && out.len() <= limit {
            low = mid;
        } else {
            high = mid;
        }
    }
    let keep = |i: usize| glue_of[i] < low;
    emit(message, low, &keep, true, out)?;
    Ok(())
}

/// Encodes the first `answers` answers and the additional records `keep` selects. When
/// `truncated`, TC is set and the authority section left out. Returns whether everything
/// was written (the encoder stops at 65535 bytes).
fn emit(
    message: &Message,
    answers: usize,
    keep: &dyn Fn(usize) -> bool,
    truncated: bool,
    out: &mut Vec<u8>,
) -> Result<bool, ProtoError> {
    out.clear();
    let mut metadata = message.metadata;
    metadata.truncation = truncated;
    let authorities: &[Record] = if truncated { &[] } else { &message.authorities };
    let mut encoder = BinEncoder::new(out);
    let header = emit_message_parts(
        &metadata,
        &mut message.queries.iter(),
        &mut message.answers[..answers].iter(),
        &mut authorities.iter(),
        &mut message
            .additionals
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, record)| record),
        message.edns.as_ref(),
        None,
        &mut encoder,
    )?;
    Ok(header.metadata.truncation == truncated)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::Query;
    use hickory_proto::rr::rdata::{A, SRV};
    use hickory_proto::rr::RecordType;

    use super::*;

    fn srv_response(n: u8) -> Message {
        let name = Name::from_ascii("web.service.consul.").expect("name");
        let mut message = Message::response(1, hickory_proto::op::OpCode::Query);
        message.add_query(Query::query(name.clone(), RecordType::SRV));
        for i in 0..n {
            let target = Name::from_ascii(format!("node-{i}.node.dc1.consul.")).expect("name");
            message.add_answer(Record::from_rdata(
                name.clone(),
                0,
                RData::SRV(SRV::new(1, 1, 80, target.clone())),
            ));
            // Listed in reverse to check that glue follows its answer, not its position.
            message.additionals.insert(
                0,
                Record::from_rdata(target, 0, RData::A(A(Ipv4Addr::new(10, 0, 0, i)))),
            );
        }
        message
    }

    #[test]
    fn small_responses_are_untouched() {
        let message = srv_response(2);
        let mut out = Vec::new();
        encode_within(&message, 512, &mut out).expect("encodes");
        let decoded = Message::from_vec(&out).expect("decodes");
        assert!(!decoded.truncation);
        assert_eq!((decoded.answers.len(), decoded.additionals.len()), (2, 2));
    }

    #[test]
    fn large_responses_are_trimmed_with_their_glue() {
        let message = srv_response(40);
        let mut out = Vec::new();
        for limit in [512, 700, 1232] {
            encode_within(&message, limit, &mut out).expect("encodes");
            assert!(out.len() <= limit, "{} > {limit}", out.len());
            let decoded = Message::from_vec(&out).expect("decodes");
            assert!(decoded.truncation);
            assert!(!decoded.answers.is_empty() && decoded.answers.len() < 40);
            let targets: Vec<Name> = decoded
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(srv) => Some(srv.target.clone()),
                    _ => None,
                })
                .collect();
            let glue: Vec<Name> = decoded.additionals.iter().map(|r| r.name.clone()).collect();
            assert_eq!(targets.len(), glue.len(), "one glue record per kept answer");
            assert!(targets.iter().all(|t| glue.contains(t)));
            // One more answer would not have fit.
            let mut bigger = message.clone();
            bigger.answers.truncate(decoded.answers.len() + 1);
            let mut full = Vec::new();
            encode_within(&bigger, usize::from(u16::MAX), &mut full).expect("encodes");
            assert!(full.len() > limit);
        }
    }

    #[test]
    fn a_limit_below_the_question_keeps_no_answer() {
        let mut out = Vec::new();
        encode_within(&srv_response(3), 12, &mut out).expect("encodes");
        let decoded = Message::from_vec(&out).expect("decodes");
        assert!(decoded.truncation && decoded.answers.is_empty());
        assert!(decoded.additionals.is_empty());
    }
}
