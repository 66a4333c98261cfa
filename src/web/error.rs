//! The one error type of the web layer: every core error maps to a status and a stable
//! snake_case code; details of server-side failures go to the log, never to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Error;

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// `{"error": {"code": "...", "message": "...", "field": "..."}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// A client error built directly by the web layer (malformed body, bad header...).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError(Error::Invalid { code, field: None, message: message.into() })
    }

    pub fn parts(&self) -> (StatusCode, &str, String, Option<String>) {
        match &self.0 {
            Error::Invalid { code, field, message } => {
                let status = if BAD_REQUEST_CODES.contains(code) {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                (status, code, message.clone(), field.clone())
            }
            Error::NotFound { what } => (StatusCode::NOT_FOUND, "not_found", format!("{what} not found"), None),
            Error::Conflict { code, message } => (StatusCode::CONFLICT, code, message.clone(), None),
            Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "authentication required".into(), None),
            Error::Forbidden => {
                (StatusCode::FORBIDDEN, "forbidden", "your role does not allow this action".into(), None)
            }
            Error::StepUpRequired => (
                StatusCode::FORBIDDEN,
                "step_up_required",
                "this action requires a stronger login: sign in again at /auth/login?step_up=1".into(),
                None,
            ),
            Error::TooLarge { message } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", message.clone(), None),
            Error::UnsupportedType { message } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_type", message.clone(), None)
            }
            Error::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests, try again later".into(), None)
            }
            Error::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the service is unavailable".into(), None)
            }
            Error::Store(_) | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into(), None)
            }
        }
    }
}

/// Codes of malformed input (400) as opposed to well-formed but unacceptable input (422).
const BAD_REQUEST_CODES: &[&str] = &[
    "csrf",
    "malformed_json",
    "malformed_body",
    "malformed_query",
    "invalid_id",
    "invalid_cursor",
    "malformed_multipart",
];

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, field) = self.parts();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "request failed");
        }
        let body = ErrorBody { error: ErrorDetail { code: code.to_owned(), message, field } };
        let mut response = (status, Json(body)).into_response();
        match &self.0 {
            Error::RateLimited { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            Error::Unauthorized => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
