//! API errors: every failure is a status code and a JSON body `{"error": {"code": ..., "message": ...}}`.
//! Bad input is a 4xx naming the problem; a 5xx means the server failed (store I/O, a timeout).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tastebud_serve::ServeError;
use utoipa::ToSchema;

/// The error body of every failed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `bad_request`, `not_found`, `payload_too_large`.
    pub code: String,
    /// A sentence for a person, naming the field or id at fault.
    pub message: String,
}

/// An error answered as JSON.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// Message.
    pub message: String,
}

impl ApiError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 422: well-formed JSON that fails validation.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 401: no key or a wrong key (answered with `WWW-Authenticate`).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 500: the server failed (never bad input).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    /// Any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"tastebud\""),
            );
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            _ => "bad_request",
        };
        let message = match &r {
            JsonRejection::JsonDataError(e) => format!("invalid JSON body: {}", e.body_text()),
            JsonRejection::JsonSyntaxError(e) => format!("malformed JSON: {}", e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                "expected a JSON body with `Content-Type: application/json`".to_string()
            }
            other => other.body_text(),
        };
        // Axum answers a data error with 422 and a syntax error with 400: keep its choice, but never 5xx.
        let status = if status.is_server_error() {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        ApiError::new(status, code, message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(format!("invalid query string: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(format!("invalid path: {}", r.body_text()))
    }
}

impl From<tastebud_store::StoreError> for ApiError {
    fn from(e: tastebud_store::StoreError) -> Self {
        ApiError::from(ServeError::Store(e))
    }
}

/// Live experiment failures.
impl From<tastebud_experiment::live::LiveError> for ApiError {
    fn from(e: tastebud_experiment::live::LiveError) -> Self {
        use tastebud_experiment::live::LiveError;
        let message = e.to_string();
        match e {
            LiveError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            LiveError::NotFound(_) => ApiError::not_found(message),
            LiveError::Invalid(_) => ApiError::invalid(message),
            LiveError::Store(tastebud_store::StoreError::Unavailable(_)) => {
                ApiError::unavailable(message)
            }
            LiveError::Store(_) => ApiError::internal(message),
        }
    }
}

/// The one mapping from pipeline failures to HTTP statuses.
impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> Self {
        let message = e.to_string();
        match e {
            ServeError::BadRequest(_) => ApiError::bad_request(message),
            ServeError::Invalid(_) => ApiError::invalid(message),
            // A model offered by a client (reload, OPE, experiment arm) that does not load.
            ServeError::Model(_) | ServeError::ModelRejected { .. } => ApiError::invalid(message),
            // The shared store is down or slow: a 503, retry (an append was not acknowledged).
            ServeError::Store(tastebud_store::StoreError::Unavailable(_)) => {
                ApiError::unavailable(message)
            }
            ServeError::Store(_) | ServeError::Internal(_) => ApiError::internal(message),
        }
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
