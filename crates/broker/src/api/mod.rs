//! Requests in, responses out: header parsing, version checks, decoding with
//! kafka-protocol, the per-API handlers, and response encoding (header version by API
//! and version; ApiVersions always answers with header v0).
//!
//! A handler runs the request's in-order stage and returns an [`Out`]: a response now,
//! a future of one (deferred: fsync, long poll, group rendezvous), no response (Produce
//! acks=0), or "close the connection".

mod admin;
mod fetch;
mod groups;
mod metadata;
mod produce;

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::FutureExt;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::codes;
use crate::connection::{Conn, Queued};
use crate::state::BrokerState;
use crate::versions;

/// What the connection does after a request's in-order stage.
pub(crate) enum Reply {
    Send(Queued),
    /// No response (Produce with acks=0).
    Nothing,
    /// Close the connection (already logged).
    Close,
}

/// A handler's answer, before encoding.
pub(crate) enum Out<R> {
    Now(R),
    Later(BoxFuture<'static, R>),
    /// No response (Produce with acks=0).
    Silent,
    /// Close the connection, with the reason to log.
    Close(String),
}

/// Where a response goes: correlation id, API and version (for the header version).
#[derive(Clone, Copy)]
struct Target {
    key: ApiKey,
    version: i16,
    correlation_id: i32,
}

/// The fixed start of every request header: api key, version, correlation id.
fn prefix(frame: &[u8]) -> Option<(i16, i16, i32)> {
    let b = frame.get(..8)?;
    Some((
        i16::from_be_bytes([b[0], b[1]]),
        i16::from_be_bytes([b[2], b[3]]),
        i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    ))
}

pub(crate) async fn dispatch(state: &Arc<BrokerState>, conn: &mut Conn, frame: Bytes) -> Reply {
    let Some((raw_key, version, correlation_id)) = prefix(&frame) else {
        tracing::warn!(peer = %conn.peer, "closing connection: frame shorter than a request header");
        return Reply::Close;
    };
    let Ok(key) = ApiKey::try_from(raw_key) else {
        tracing::warn!(peer = %conn.peer, client_id = %conn.client_id, api_key = raw_key, api_version = version, "closing connection: unknown API key");
        return Reply::Close;
    };
    let target = Target {
        key,
        version,
        correlation_id,
    };
    if key == ApiKey::ApiVersions {
        if let Some(error) = versions::api_versions_fallback(version) {
            // KIP-511: a v0 body the client can read whatever version it speaks, with
            // the versions we do serve, so it can retry with one of them.
            tracing::debug!(peer = %conn.peer, api_version = version, "ApiVersions version unsupported; answering v0");
            let body = versions::api_versions_response(error);
            return encode_now(
                Target {
                    version: 0,
                    ..target
                },
                &body,
                conn,
            );
        }
    }
    if !versions::is_supported(key, version) {
        tracing::info!(peer = %conn.peer, client_id = %conn.client_id, api_key = ?key, api_version = version, "unsupported API or version");
        return match unsupported_answer(key, version) {
            Some(frame) => encode_frame(target, frame),
            None => {
                tracing::warn!(peer = %conn.peer, api_key = ?key, api_version = version, "closing connection: no error answer exists for this API version");
                Reply::Close
            }
        };
    }
    let mut body = frame;
    let header = match RequestHeader::decode(&mut body, key.request_header_version(version)) {
        Ok(header) => header,
        Err(error) => {
            tracing::warn!(peer = %conn.peer, api_key = ?key, api_version = version, %error, "closing connection: undecodable request header");
            return Reply::Close;
        }
    };
    if let Some(client_id) = &header.client_id {
        if conn.client_id.as_str() != client_id.as_str() {
            conn.client_id = client_id.to_string();
        }
    }
    tracing::trace!(peer = %conn.peer, client_id = %conn.client_id, api_key = ?key, api_version = version, correlation_id, "request");

    // Counts the frame cannot hold never reach the decoder (it would allocate them).
    if let Err(error) = crate::guard::check(key, version, &body) {
        tracing::warn!(peer = %conn.peer, client_id = %conn.client_id, api_key = ?key, api_version = version, %error, "closing connection: malformed request");
        return Reply::Close;
    }

    macro_rules! serve {
        ($request:ty, $handler:expr) => {{
            match <$request>::decode(&mut body, version) {
                Ok(request) => {
                    let out = $handler(state, conn, request, version).await;
                    finish(target, out, conn)
                }
                Err(error) => {
                    tracing::warn!(peer = %conn.peer, client_id = %conn.client_id, api_key = ?key, api_version = version, %error, "closing connection: undecodable request");
                    Reply::Close
                }
            }
        }};
    }

    match key {
        ApiKey::ApiVersions => serve!(ApiVersionsRequest, api_versions),
        ApiKey::Metadata => serve!(MetadataRequest, metadata::metadata),
        ApiKey::Produce => serve!(ProduceRequest, produce::produce),
        ApiKey::Fetch => serve!(FetchRequest, fetch::fetch),
        ApiKey::ListOffsets => serve!(ListOffsetsRequest, fetch::list_offsets),
        ApiKey::InitProducerId => serve!(InitProducerIdRequest, produce::init_producer_id),
        ApiKey::CreateTopics => serve!(CreateTopicsRequest, admin::create_topics),
        ApiKey::DeleteTopics => serve!(DeleteTopicsRequest, admin::delete_topics),
        ApiKey::CreatePartitions => serve!(CreatePartitionsRequest, admin::create_partitions),
        ApiKey::DescribeConfigs => serve!(DescribeConfigsRequest, admin::describe_configs),
        ApiKey::FindCoordinator => serve!(FindCoordinatorRequest, groups::find_coordinator),
        ApiKey::JoinGroup => serve!(JoinGroupRequest, groups::join_group),
        ApiKey::SyncGroup => serve!(SyncGroupRequest, groups::sync_group),
        ApiKey::Heartbeat => serve!(HeartbeatRequest, groups::heartbeat),
        ApiKey::LeaveGroup => serve!(LeaveGroupRequest, groups::leave_group),
        ApiKey::OffsetCommit => serve!(OffsetCommitRequest, groups::offset_commit),
        ApiKey::OffsetFetch => serve!(OffsetFetchRequest, groups::offset_fetch),
        ApiKey::DescribeGroups => serve!(DescribeGroupsRequest, groups::describe_groups),
        ApiKey::ListGroups => serve!(ListGroupsRequest, groups::list_groups),
        // `versions::SUPPORTED` lists exactly the keys above.
        _ => {
            tracing::error!(api_key = ?key, "advertised API without a handler");
            Reply::Close
        }
    }
}

async fn api_versions(
    _state: &Arc<BrokerState>,
    _conn: &mut Conn,
    _request: ApiVersionsRequest,
    _version: i16,
) -> Out<ApiVersionsResponse> {
    Out::Now(versions::api_versions_response(codes::NONE))
}

fn finish<R: Encodable + Send + 'static>(target: Target, out: Out<R>, conn: &Conn) -> Reply {
    match out {
        Out::Now(body) => encode_now(target, &body, conn),
        Out::Later(future) => {
            let peer = conn.peer;
            Reply::Send(Queued::Deferred(
                future
                    .map(move |body| match encode(target, &body) {
                        Ok(frame) => Some(frame),
                        Err(error) => {
                            tracing::error!(%peer, api_key = ?target.key, api_version = target.version, %error, "closing connection: response does not encode");
                            None
                        }
                    })
                    .boxed(),
            ))
        }
        Out::Silent => Reply::Nothing,
        Out::Close(reason) => {
            tracing::warn!(peer = %conn.peer, client_id = %conn.client_id, api_key = ?target.key, api_version = target.version, %reason, "closing connection");
            Reply::Close
        }
    }
}

fn encode_now<R: Encodable>(target: Target, body: &R, conn: &Conn) -> Reply {
    match encode(target, body) {
        Ok(frame) => Reply::Send(Queued::Ready(frame)),
        Err(error) => {
            tracing::error!(peer = %conn.peer, api_key = ?target.key, api_version = target.version, %error, "closing connection: response does not encode");
            Reply::Close
        }
    }
}

fn encode_frame(target: Target, frame: ErrorAnswer) -> Reply {
    match frame(target) {
        Ok(frame) => Reply::Send(Queued::Ready(frame)),
        Err(error) => {
            tracing::error!(api_key = ?target.key, api_version = target.version, %error, "closing connection: error answer does not encode");
            Reply::Close
        }
    }
}

/// Length prefix, response header (v0, or v1 with tagged fields for flexible versions;
/// ApiVersions is always v0), body.
fn encode<R: Encodable>(target: Target, body: &R) -> Result<Bytes, String> {
    let header_version = target.key.response_header_version(target.version);
    let header = ResponseHeader::default().with_correlation_id(target.correlation_id);
    let size = header
        .compute_size(header_version)
        .and_then(|h| Ok(h + body.compute_size(target.version)?))
        .map_err(|e| e.to_string())?;
    let len = i32::try_from(size).map_err(|_| format!("response of {size} bytes is too large"))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(len);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| e.to_string())?;
    body.encode(&mut buf, target.version)
        .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// Encodes an error answer for one API (see `unsupported_answer`).
type ErrorAnswer = Box<dyn FnOnce(Target) -> Result<Bytes, String>>;

/// For an API or version we do not serve, the API's own response with a top-level
/// `error_code` of UNSUPPORTED_VERSION, when that response type has one at `version`.
/// (Most APIs clients might try without asking ApiVersions first do.)
fn unsupported_answer(key: ApiKey, version: i16) -> Option<ErrorAnswer> {
    macro_rules! with_error_code {
        ($($api:ident => $response:ty, $min:expr, $max:expr;)*) => {
            match key {
                $(ApiKey::$api if ($min..=$max).contains(&version) => {
                    Some(Box::new(|target| {
                        let body = <$response>::default().with_error_code(codes::UNSUPPORTED_VERSION);
                        encode(target, &body)
                    }))
                })*
                _ => None,
            }
        };
    }
    with_error_code! {
        Fetch => FetchResponse, 7, 18;
        FindCoordinator => FindCoordinatorResponse, 0, 3;
        JoinGroup => JoinGroupResponse, 0, 9;
        Heartbeat => HeartbeatResponse, 0, 4;
        LeaveGroup => LeaveGroupResponse, 0, 5;
        SyncGroup => SyncGroupResponse, 0, 5;
        ListGroups => ListGroupsResponse, 0, 5;
        OffsetFetch => OffsetFetchResponse, 2, 7;
        InitProducerId => InitProducerIdResponse, 0, 6;
        SaslHandshake => SaslHandshakeResponse, 0, 1;
        SaslAuthenticate => SaslAuthenticateResponse, 0, 2;
        AddOffsetsToTxn => AddOffsetsToTxnResponse, 0, 4;
        EndTxn => EndTxnResponse, 0, 5;
        DescribeAcls => DescribeAclsResponse, 1, 3;
        DescribeClientQuotas => DescribeClientQuotasResponse, 0, 1;
        DescribeLogDirs => DescribeLogDirsResponse, 3, 4;
        ElectLeaders => ElectLeadersResponse, 1, 2;
        DescribeCluster => DescribeClusterResponse, 0, 2;
        ListTransactions => ListTransactionsResponse, 0, 2;
        UpdateFeatures => UpdateFeaturesResponse, 0, 2;
        DescribeDelegationToken => DescribeDelegationTokenResponse, 1, 3;
        AlterPartitionReassignments => AlterPartitionReassignmentsResponse, 0, 1;
        ListPartitionReassignments => ListPartitionReassignmentsResponse, 0, 0;
        OffsetDelete => OffsetDeleteResponse, 0, 0;
        DescribeUserScramCredentials => DescribeUserScramCredentialsResponse, 0, 0;
        ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse, 0, 1;
        GetTelemetrySubscriptions => GetTelemetrySubscriptionsResponse, 0, 0;
        PushTelemetry => PushTelemetryResponse, 0, 0;
    }
}
