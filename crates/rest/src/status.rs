//! gRPC status → HTTP status and the `google.rpc.Status`-shaped JSON error body (pure); the
//! one place REST errors are shaped.

use serde_json::json;

/// google.rpc.Code → HTTP status, as documented in `google/rpc/code.proto` (and used by
/// grpc-gateway and Envoy).
pub fn http_status(code: i32) -> http::StatusCode {
    use http::StatusCode as S;
    match code {
        0 => S::OK,
        1 => S::from_u16(499).unwrap_or(S::BAD_REQUEST), // CANCELLED: "Client Closed Request"
        2 => S::INTERNAL_SERVER_ERROR,                   // UNKNOWN
        3 => S::BAD_REQUEST,                             // INVALID_ARGUMENT
        4 => S::GATEWAY_TIMEOUT,                         // DEADLINE_EXCEEDED
        5 => S::NOT_FOUND,                               // NOT_FOUND
        6 => S::CONFLICT,                                // ALREADY_EXISTS
        7 => S::FORBIDDEN,                               // PERMISSION_DENIED
        8 => S::TOO_MANY_REQUESTS,                       // RESOURCE_EXHAUSTED
        9 => S::BAD_REQUEST,                             // FAILED_PRECONDITION
        10 => S::CONFLICT,                               // ABORTED
        11 => S::BAD_REQUEST,                            // OUT_OF_RANGE
        12 => S::NOT_IMPLEMENTED,                        // UNIMPLEMENTED
        13 => S::INTERNAL_SERVER_ERROR,                  // INTERNAL
        14 => S::SERVICE_UNAVAILABLE,                    // UNAVAILABLE
        15 => S::INTERNAL_SERVER_ERROR,                  // DATA_LOSS
        16 => S::UNAUTHORIZED,                           // UNAUTHENTICATED
        _ => S::INTERNAL_SERVER_ERROR,
    }
}

/// Every HTTP status [`http_status`] can give for an error, ascending.
pub fn error_statuses() -> Vec<u16> {
    let mut statuses: Vec<u16> = (1..=16).map(|c| http_status(c).as_u16()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// An error answer: the HTTP status of `code` and a body
/// `{"code": 3, "message": "...", "details": []}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RestError {
    pub code: i32,
    pub message: String,
}

impl RestError {
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self {
            code: 3,
            message: message.into(),
        }
    }

    pub fn body(&self) -> Vec<u8> {
        json!({"code": self.code, "message": self.message, "details": []})
            .to_string()
            .into_bytes()
    }

    pub fn into_response(self) -> axum::response::Response {
        let mut response = axum::response::Response::new(axum::body::Body::from(self.body()));
        *response.status_mut() = http_status(self.code);
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// The error body's JSON Schema (`#/components/schemas/google.rpc.Status`).
pub fn status_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "description": "The error model of google.rpc.Status: `code` is the gRPC status code, `message` says what is wrong.",
        "properties": {
            "code": {"type": "integer", "format": "int32", "description": "google.rpc.Code value"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object", "properties": {"@type": {"type": "string"}}}}
        },
        "required": ["code", "message", "details"]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_as_google_rpc_code_documents() {
        let pairs: Vec<(i32, u16)> = (0..=17).map(|c| (c, http_status(c).as_u16())).collect();
        assert_eq!(
            pairs,
            [
                (0, 200),
                (1, 499),
                (2, 500),
                (3, 400),
                (4, 504),
                (5, 404),
                (6, 409),
                (7, 403),
                (8, 429),
                (9, 400),
                (10, 409),
                (11, 400),
                (12, 501),
                (13, 500),
                (14, 503),
                (15, 500),
                (16, 401),
                (17, 500)
            ]
        );
        assert_eq!(
            error_statuses(),
            [400, 401, 403, 404, 409, 429, 499, 500, 501, 503, 504]
        );
    }

    #[test]
    fn error_body_is_google_rpc_status_shaped() {
        let e = RestError {
            code: 5,
            message: "no user 7".into(),
        };
        assert_eq!(
            String::from_utf8(e.body()).unwrap(),
            r#"{"code":5,"details":[],"message":"no user 7"}"#
        );
        assert_eq!(e.into_response().status(), 404);
    }
}
