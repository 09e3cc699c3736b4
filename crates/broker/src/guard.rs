//! A pre-decoding check of every request's array counts.
//!
//! kafka-protocol (0.18) sizes a `Vec` by an array's count before decoding a single
//! element, so an 18-byte request declaring two billion topics makes it allocate
//! hundreds of GiB, and the process aborts. This walks the request body along its
//! layout (`schemas`) without allocating and refuses any array, string or byte count
//! larger than what is left of the frame (every array element takes at least one byte),
//! so the decoder only ever sees counts the frame can hold. It checks nothing else:
//! the decoder does the rest.

mod schemas;

use kafka_protocol::messages::ApiKey;

/// How one field is encoded.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    /// A fixed-size value (ints, bool, uuid).
    Fixed(usize),
    /// int16 length (-1: null) + bytes.
    Str,
    /// unsigned varint length + 1 (0: null) + bytes.
    CompactStr,
    /// int32 length (-1: null) + bytes.
    Bytes,
    CompactBytes,
    /// int32 count (-1: null) + structs.
    Array(&'static Schema),
    /// unsigned varint count + 1 (0: null) + structs.
    CompactArray(&'static Schema),
    /// An array of fixed-size values.
    ArrayOf(usize),
    CompactArrayOf(usize),
    /// An array of strings (compact strings in a compact array).
    ArrayOfStr,
    CompactArrayOfStr,
    /// A nested struct (not in an array).
    #[allow(dead_code)] // none in the requests served today
    Struct(&'static Schema),
}

pub(crate) struct Field {
    min: i16,
    max: i16,
    kind: Kind,
}

const fn f(min: i16, max: i16, kind: Kind) -> Field {
    Field { min, max, kind }
}

pub(crate) struct Schema {
    name: &'static str,
    flexible_from: i16,
    fields: &'static [Field],
}

/// The layout of a served request, `None` for an API without one here.
fn request_schema(key: ApiKey) -> Option<&'static Schema> {
    use schemas::*;
    Some(match key {
        ApiKey::Produce => &PRODUCE_REQUEST,
        ApiKey::Fetch => &FETCH_REQUEST,
        ApiKey::ListOffsets => &LIST_OFFSETS_REQUEST,
        ApiKey::Metadata => &METADATA_REQUEST,
        ApiKey::OffsetCommit => &OFFSET_COMMIT_REQUEST,
        ApiKey::OffsetFetch => &OFFSET_FETCH_REQUEST,
        ApiKey::FindCoordinator => &FIND_COORDINATOR_REQUEST,
        ApiKey::JoinGroup => &JOIN_GROUP_REQUEST,
        ApiKey::Heartbeat => &HEARTBEAT_REQUEST,
        ApiKey::LeaveGroup => &LEAVE_GROUP_REQUEST,
        ApiKey::SyncGroup => &SYNC_GROUP_REQUEST,
        ApiKey::DescribeGroups => &DESCRIBE_GROUPS_REQUEST,
        ApiKey::ListGroups => &LIST_GROUPS_REQUEST,
        ApiKey::ApiVersions => &API_VERSIONS_REQUEST,
        ApiKey::CreateTopics => &CREATE_TOPICS_REQUEST,
        ApiKey::DeleteTopics => &DELETE_TOPICS_REQUEST,
        ApiKey::InitProducerId => &INIT_PRODUCER_ID_REQUEST,
        ApiKey::DescribeConfigs => &DESCRIBE_CONFIGS_REQUEST,
        ApiKey::CreatePartitions => &CREATE_PARTITIONS_REQUEST,
        _ => return None,
    })
}

/// Checks the counts in a request body (after the header). An API without a layout
/// here is refused: only what is listed is decoded.
pub(crate) fn check(key: ApiKey, version: i16, body: &[u8]) -> Result<(), String> {
    let schema = request_schema(key).ok_or_else(|| format!("no request layout for {key:?}"))?;
    let mut reader = Reader { buf: body };
    walk(schema, version, &mut reader, 0)
}

/// Nesting deeper than any request's.
const MAX_DEPTH: usize = 8;

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if n > self.buf.len() {
            return Err(format!("{n} bytes declared, {} left", self.buf.len()));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn uvarint(&mut self) -> Result<u32, String> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let byte = self.take(1)?[0];
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 5 bytes".into())
    }

    /// A count that must fit in what is left, each item taking at least `min_size`.
    fn count(&mut self, count: usize, min_size: usize) -> Result<usize, String> {
        if count.saturating_mul(min_size.max(1)) > self.buf.len() {
            return Err(format!(
                "{count} items declared, {} bytes left",
                self.buf.len()
            ));
        }
        Ok(count)
    }

    /// int32 count; -1 (null) and other negatives read as 0 (the decoder judges them).
    fn array_len(&mut self, compact: bool, min_size: usize) -> Result<usize, String> {
        let count = if compact {
            (self.uvarint()? as usize).saturating_sub(1)
        } else {
            usize::try_from(self.i32()?).unwrap_or(0)
        };
        self.count(count, min_size)
    }

    fn skip_str(&mut self, compact: bool) -> Result<(), String> {
        let len = if compact {
            (self.uvarint()? as usize).saturating_sub(1)
        } else {
            usize::try_from(self.i16()?).unwrap_or(0)
        };
        self.take(len).map(|_| ())
    }

    fn skip_bytes(&mut self, compact: bool) -> Result<(), String> {
        let len = if compact {
            (self.uvarint()? as usize).saturating_sub(1)
        } else {
            usize::try_from(self.i32()?).unwrap_or(0)
        };
        self.take(len).map(|_| ())
    }
}

fn walk(schema: &Schema, version: i16, r: &mut Reader<'_>, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    let flexible = version >= schema.flexible_from;
    let within = |e: String| format!("{}: {e}", schema.name);
    for field in schema
        .fields
        .iter()
        .filter(|f| (f.min..=f.max).contains(&version))
    {
        match field.kind {
            Kind::Fixed(n) => r.take(n).map(|_| ()),
            Kind::Str => r.skip_str(false),
            Kind::CompactStr => r.skip_str(true),
            Kind::Bytes => r.skip_bytes(false),
            Kind::CompactBytes => r.skip_bytes(true),
            Kind::Array(element) | Kind::CompactArray(element) => {
                let compact = matches!(field.kind, Kind::CompactArray(_));
                let count = r.array_len(compact, 1).map_err(within)?;
                for _ in 0..count {
                    walk(element, version, r, depth + 1)?;
                }
                Ok(())
            }
            Kind::ArrayOf(size) | Kind::CompactArrayOf(size) => {
                let compact = matches!(field.kind, Kind::CompactArrayOf(_));
                let count = r.array_len(compact, size).map_err(within)?;
                r.take(count * size).map(|_| ())
            }
            Kind::ArrayOfStr | Kind::CompactArrayOfStr => {
                let compact = matches!(field.kind, Kind::CompactArrayOfStr);
                let count = r.array_len(compact, 1).map_err(within)?;
                (0..count).try_for_each(|_| r.skip_str(compact))
            }
            Kind::Struct(inner) => walk(inner, version, r, depth + 1),
        }
        .map_err(within)?;
    }
    if flexible {
        let tags = r.uvarint().map_err(within)? as usize;
        let tags = r.count(tags, 2).map_err(within)?;
        for _ in 0..tags {
            r.uvarint().map_err(within)?;
            let size = r.uvarint().map_err(within)? as usize;
            r.take(size).map_err(within)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
