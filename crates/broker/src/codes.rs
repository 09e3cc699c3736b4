//! The one place where storage, topic and group errors become Kafka error codes.

use kafka_protocol::ResponseError as E;
use tern_broker_log::{AppendError, ReadError};

use crate::topics::TopicError;

pub(crate) const NONE: i16 = 0;
pub(crate) const UNSUPPORTED_VERSION: i16 = E::UnsupportedVersion.code();
pub(crate) const UNKNOWN_TOPIC_OR_PARTITION: i16 = E::UnknownTopicOrPartition.code();
pub(crate) const UNKNOWN_TOPIC_ID: i16 = E::UnknownTopicId.code();
pub(crate) const INVALID_TOPIC: i16 = E::InvalidTopicException.code();
pub(crate) const INVALID_REQUIRED_ACKS: i16 = E::InvalidRequiredAcks.code();
pub(crate) const INVALID_REQUEST: i16 = E::InvalidRequest.code();
pub(crate) const INVALID_REPLICATION_FACTOR: i16 = E::InvalidReplicationFactor.code();
pub(crate) const INVALID_REPLICA_ASSIGNMENT: i16 = E::InvalidReplicaAssignment.code();
pub(crate) const INVALID_CONFIG: i16 = E::InvalidConfig.code();
pub(crate) const CORRUPT_MESSAGE: i16 = E::CorruptMessage.code();
pub(crate) const INVALID_RECORD: i16 = E::InvalidRecord.code();
pub(crate) const STORAGE_ERROR: i16 = E::KafkaStorageError.code();
pub(crate) const COORDINATOR_NOT_AVAILABLE: i16 = E::CoordinatorNotAvailable.code();
pub(crate) const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 =
    E::TransactionalIdAuthorizationFailed.code();
pub(crate) const INVALID_GROUP_ID: i16 = E::InvalidGroupId.code();

/// An append refused or failed by the partition log.
pub(crate) fn append(error: &AppendError) -> i16 {
    match error {
        AppendError::CorruptMessage(_) => CORRUPT_MESSAGE,
        AppendError::InvalidRecord(_) => INVALID_RECORD,
        AppendError::RecordTooLarge { .. } => E::MessageTooLarge.code(),
        AppendError::UnsupportedMagic(_) => E::UnsupportedForMessageFormat.code(),
        AppendError::OutOfOrderSequence { .. } => E::OutOfOrderSequenceNumber.code(),
        AppendError::InvalidProducerEpoch { .. } => E::InvalidProducerEpoch.code(),
        AppendError::Io(_) => STORAGE_ERROR,
        // Deleted under the request, or shutting down: a retriable code that makes the
        // client refresh its metadata.
        AppendError::Closed => E::NotLeaderOrFollower.code(),
    }
}

/// A read refused or failed by the partition log.
pub(crate) fn read(error: &ReadError) -> i16 {
    match error {
        ReadError::OffsetOutOfRange { .. } => E::OffsetOutOfRange.code(),
        ReadError::Io(_) => STORAGE_ERROR,
    }
}

/// A topic create, grow or delete that failed.
pub(crate) fn topic(error: &TopicError) -> i16 {
    match error {
        TopicError::InvalidName(_) => INVALID_TOPIC,
        TopicError::AlreadyExists(_) => E::TopicAlreadyExists.code(),
        TopicError::Unknown(_) => UNKNOWN_TOPIC_OR_PARTITION,
        TopicError::InvalidPartitions(_) => E::InvalidPartitions.code(),
        TopicError::Storage(_) => STORAGE_ERROR,
    }
}

/// A committed-offset store failure: retriable, and makes the client look up the
/// coordinator again.
pub(crate) fn offsets(_error: &tern_broker_groups::Error) -> i16 {
    COORDINATOR_NOT_AVAILABLE
}

/// A code from the group coordinator.
pub(crate) fn group(error: tern_broker_groups::ErrorCode) -> i16 {
    error.code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(append(&AppendError::CorruptMessage(String::new())), 2);
        assert_eq!(append(&AppendError::RecordTooLarge { size: 2, max: 1 }), 10);
        assert_eq!(append(&AppendError::InvalidRecord(String::new())), 87);
        let sequence = AppendError::OutOfOrderSequence {
            producer_id: 1,
            expected: 1,
            got: 3,
        };
        assert_eq!(append(&sequence), 45);
        let epoch = AppendError::InvalidProducerEpoch {
            producer_id: 1,
            epoch: 0,
            current: 1,
        };
        assert_eq!(append(&epoch), 47);
        assert_eq!(append(&AppendError::Io(String::new())), 56);
        let range = ReadError::OffsetOutOfRange {
            offset: 9,
            log_start: 0,
            high_watermark: 1,
        };
        assert_eq!(read(&range), 1);
        assert_eq!(UNSUPPORTED_VERSION, 35);
        assert_eq!(INVALID_REQUEST, 42);
        assert_eq!(UNKNOWN_TOPIC_OR_PARTITION, 3);
        assert_eq!(INVALID_TOPIC, 17);
    }
}
