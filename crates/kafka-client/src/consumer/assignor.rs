//! The "range" assignor and the standard ConsumerProtocol encodings (a big-endian i16
//! version, then the message), so a group can mix this client with the Java client or
//! librdkafka. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The assignor's name in JoinGroup (`partition.assignment.strategy=range`).
pub(crate) const RANGE: &str = "range";

/// The version this client writes (v0: topics and user data; every client reads it).
const VERSION: i16 = 0;
/// The newest version kafka-protocol decodes; newer ones only append fields.
const NEWEST: i16 = 3;

pub(crate) fn encode_subscription(topics: &[String]) -> Bytes {
    let subscription = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    encode_versioned(&subscription)
}

/// The topics a member subscribed to (empty when its metadata does not decode).
pub(crate) fn decode_subscription(metadata: &Bytes) -> Vec<String> {
    decode_versioned::<ConsumerProtocolSubscription>(metadata)
        .map(|s| s.topics.iter().map(|t| t.as_str().to_string()).collect())
        .unwrap_or_default()
}

pub(crate) fn encode_assignment(partitions: &BTreeMap<String, Vec<i32>>) -> Bytes {
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        partitions
            .iter()
            .map(|(topic, list)| {
                AssignedTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(list.clone())
            })
            .collect(),
    );
    encode_versioned(&assignment)
}

/// The partitions of an assignment; an empty one (no bytes) assigns nothing.
pub(crate) fn decode_assignment(bytes: &Bytes) -> Result<Vec<(String, i32)>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let assignment = decode_versioned::<ConsumerProtocolAssignment>(bytes)?;
    let mut partitions: Vec<(String, i32)> = assignment
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.topic.0.as_str().to_string(), *p))
        })
        .collect();
    partitions.sort();
    Ok(partitions)
}

fn encode_versioned<M: Encodable>(message: &M) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(VERSION);
    // Encoding plain strings and arrays at v0 cannot fail.
    if let Err(e) = message.encode(&mut buf, VERSION) {
        tracing::error!(error = %e, "encoding consumer protocol metadata");
    }
    buf.freeze()
}

fn decode_versioned<M: Decodable>(bytes: &Bytes) -> Result<M, String> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err("consumer protocol data shorter than its version".into());
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("consumer protocol version {version}"));
    }
    M::decode(&mut buf, version.min(NEWEST)).map_err(|e| e.to_string())
}

/// Kafka's `RangeAssignor`: per topic, the members subscribed to it in member id order
/// each get a contiguous range; the first `partitions % members` get one more.
/// `members`: member id → subscribed topics; `partitions`: topic → partition count
/// (topics missing here are skipped). Every member gets an entry.
pub(crate) fn range_assign(
    members: &BTreeMap<String, Vec<String>>,
    partitions: &BTreeMap<String, usize>,
) -> BTreeMap<String, BTreeMap<String, Vec<i32>>> {
    let mut result: BTreeMap<String, BTreeMap<String, Vec<i32>>> = members
        .keys()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    let topics: BTreeSet<&String> = members.values().flatten().collect();
    for topic in topics {
        let Some(&count) = partitions.get(topic) else {
            continue;
        };
        let subscribed: Vec<&String> = members
            .iter()
            .filter(|(_, t)| t.contains(topic))
            .map(|(m, _)| m)
            .collect();
        let n = subscribed.len();
        let (per, extra) = (count / n, count % n);
        for (i, member) in subscribed.into_iter().enumerate() {
            let start = i * per + i.min(extra);
            let len = per + usize::from(i < extra);
            if len == 0 {
                continue;
            }
            let list = (start..start + len).map(|p| p as i32).collect();
            if let Some(assigned) = result.get_mut(member) {
                assigned.insert(topic.clone(), list);
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(m, t)| (m.to_string(), t.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    #[test]
    fn range_splits_like_kafka() {
        let members = members(&[("b", &["t", "u"]), ("a", &["t"]), ("c", &["t"])]);
        let partitions = BTreeMap::from([("t".to_string(), 7), ("u".to_string(), 2)]);
        let assigned = range_assign(&members, &partitions);
        assert_eq!(assigned["a"]["t"], vec![0, 1, 2]);
        assert_eq!(assigned["b"]["t"], vec![3, 4]);
        assert_eq!(assigned["c"]["t"], vec![5, 6]);
        assert_eq!(assigned["b"]["u"], vec![0, 1]);
        assert!(!assigned["a"].contains_key("u"));
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let members = members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let partitions = BTreeMap::from([("t".to_string(), 2)]);
        let assigned = range_assign(&members, &partitions);
        assert_eq!(assigned["a"]["t"], vec![0]);
        assert_eq!(assigned["b"]["t"], vec![1]);
        assert!(assigned["c"].is_empty());
    }

    #[test]
    fn protocol_encodings_round_trip() {
        let topics = vec!["orders".to_string(), "users".to_string()];
        assert_eq!(decode_subscription(&encode_subscription(&topics)), topics);
        let assignment = BTreeMap::from([("orders".to_string(), vec![2, 0])]);
        let decoded = decode_assignment(&encode_assignment(&assignment)).unwrap();
        assert_eq!(
            decoded,
            vec![("orders".to_string(), 0), ("orders".to_string(), 2)]
        );
        assert_eq!(decode_assignment(&Bytes::new()).unwrap(), vec![]);
        assert!(decode_assignment(&Bytes::from_static(&[0])).is_err());
    }

    /// The bytes the Java client writes for a v0 subscription to "t" (no user data).
    #[test]
    fn subscription_bytes_are_the_standard_ones() {
        let bytes = encode_subscription(&["t".to_string()]);
        assert_eq!(
            &bytes[..],
            &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]
        );
    }
}
