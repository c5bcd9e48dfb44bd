//! Errors as the API answers them: a 4xx (or 5xx) status and a JSON body
//! `{"error": MESSAGE, "status": CODE}` saying what was wrong with the request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A request the server cannot answer with a prediction, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        // Whatever a client sent and is echoed back stays printable in a log or a terminal.
        ApiError { status, message: crate::error::escape_control(&message.into()) }
    }
    /// 400: the request is malformed (bad JSON, a bad multipart body, a bad query).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    /// 422: well-formed, but not something a digit can be read from (no ink, wrong length, NaN).
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    /// 413: more than the limits allow (body size, picture size, images per batch).
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
    /// 415: a body of a kind the route does not read.
    pub fn unsupported(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message)
    }
    /// 500: the server failed (never the client's fault).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "status": self.status.as_u16() });
        (self.status, axum::Json(body)).into_response()
    }
}
