//! The APIs and versions this broker implements, and the ApiVersions answer built from
//! them. Only what is really implemented is advertised: a client picks, per API, the
//! highest version both sides know, so every version here must work end to end.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use crate::codes;

/// (API, lowest, highest) version served. The lowest is also kafka-protocol's lowest
/// (it was generated from Kafka 4.1, which dropped older versions).
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 5),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
];

/// The versions of `key` served, if it is served at all.
pub(crate) fn supported(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

pub(crate) fn is_supported(key: ApiKey, version: i16) -> bool {
    supported(key).is_some_and(|(min, max)| (min..=max).contains(&version))
}

/// The ApiVersions body: every served API with its range, and `error_code` (0, or
/// UNSUPPORTED_VERSION when the client asked for an ApiVersions version above ours;
/// KIP-511: that answer is encoded as v0 so any client can read it).
pub(crate) fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

/// Whether an ApiVersions request of `version` gets the KIP-511 fallback answer.
pub(crate) fn api_versions_fallback(version: i16) -> Option<i16> {
    let (_, max) = supported(ApiKey::ApiVersions)?;
    (version > max).then_some(codes::UNSUPPORTED_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_within_the_codec() {
        for &(key, min, max) in SUPPORTED {
            let codec = key.valid_versions();
            assert!(
                min >= codec.min && max <= codec.max && min <= max,
                "{key:?} {min}..={max} outside kafka-protocol's {codec}"
            );
        }
    }
}
