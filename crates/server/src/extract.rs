//! Request extractors and checks shared by every route: JSON, query and path extractors whose
//! rejections are JSON errors, the key checks (run before any body is read), id and `k` rules, and the
//! blocking-pool helper.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `Json` whose rejections are JSON errors (4xx) naming the problem.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(t)| JsonBody(t))
            .map_err(ApiError::from)
    }
}

/// `Query` whose rejections are JSON errors.
pub struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| QueryArgs(t))
            .map_err(ApiError::from)
    }
}

/// `Path` whose rejections are JSON errors.
pub struct PathArg<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathArg<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| PathArg(t))
            .map_err(ApiError::from)
    }
}

/// A raw body whose rejections (too large, unreadable) are JSON errors.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(bytes_rejection)
    }
}

fn bytes_rejection(r: BytesRejection) -> ApiError {
    let status = r.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "payload_too_large", r.body_text())
    } else {
        ApiError::bad_request(r.body_text())
    }
}

/// Proof that the request carries the admin key. As an extractor it runs before the body is read,
/// so a request without the key is refused before any of its body is looked at.
pub struct Admin;

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        check_admin(state, &parts.headers).map(|()| Admin)
    }
}

/// Checks the admin API key of a request.
pub fn check_admin(state: &AppState, headers: &axum::http::HeaderMap) -> ApiResult<()> {
    let Some(key) = &state.admin_key else {
        return Err(ApiError::forbidden(
            "admin endpoints are disabled: set admin.api_key in the config or TASTEBUD_ADMIN_KEY",
        ));
    };
    let given = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), key.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::unauthorized("wrong API key")),
        None => Err(ApiError::unauthorized(
            "admin endpoints need `X-Api-Key: KEY` or `Authorization: Bearer KEY`",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs blocking work (store reads and writes, model scoring) on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

/// `k` within `1..=limits.max_k` (default `limits.default_k`).
pub fn check_k(state: &AppState, k: Option<u64>) -> ApiResult<usize> {
    let l = &state.config.limits;
    let k = k.unwrap_or(l.default_k as u64);
    if k == 0 || k > l.max_k as u64 {
        return Err(ApiError::bad_request(format!(
            "k must be between 1 and {} (got {k})",
            l.max_k
        )));
    }
    Ok(k as usize)
}

/// A user id: 1 to 256 bytes without control characters.
pub fn check_user_id(id: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "user id must be 1 to 256 bytes without control characters",
        ));
    }
    Ok(())
}

/// Parses a JSON body with `serde_path_to_error`, so the message names the field at fault.
pub fn parse_json<T: DeserializeOwned>(v: serde_json::Value, prefix: &str) -> ApiResult<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        ApiError::invalid(format!("{prefix}{at}{}", e.into_inner()))
    })
}
