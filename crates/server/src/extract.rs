//! Request extractors and checks shared by every route: JSON, query and path extractors whose
//! rejections are JSON errors, the key checks (run before any body is read), id and `k` rules, and the
//! blocking-pool helper.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use tastebud_store::MAX_ID_BYTES;

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

/// A JSON object body parsed into `T`: like [`JsonBody`], but anything other than an object is refused
/// (serde would read a struct from an array of its fields in order, e.g. `[true, null]`), and the message
/// names the field at fault.
pub struct JsonObject<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonObject<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Syntax errors stay 400 (read as any value first); a well-formed non-object is 422.
        let JsonBody(value) = JsonBody::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ApiError::invalid("the body must be a JSON object"));
        }
        parse_json(value, "").map(JsonObject)
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

/// Proof that the request carries the admin key. As an extractor it runs from the request's head, before
/// the body is read or anything else is validated, so a request without the key is refused (401, or 403
/// when admin endpoints are disabled or the key is the service key) before any of its body is looked at.
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

/// Proof that the request carries the service key or the admin key (the user-data routes: a user's
/// events, erasure, consent). Runs from the request's head, before any body is read or validated: 401
/// (with `WWW-Authenticate`) without a key or with a wrong one, 403 when neither key is configured.
pub struct ServiceKey;

impl FromRequestParts<Arc<AppState>> for ServiceKey {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        check_service(state, &parts.headers).map(|()| ServiceKey)
    }
}

/// A switch of `[auth]` that puts a group of routes behind the service key.
pub trait KeySwitch {
    /// Whether the switch is on.
    fn on(auth: &crate::config::Auth) -> bool;
}

/// `[auth] require_key_for_events`: `POST /v1/events`.
pub struct EventsSwitch;

impl KeySwitch for EventsSwitch {
    fn on(auth: &crate::config::Auth) -> bool {
        auth.require_key_for_events
    }
}

/// `[auth] require_key_for_recommendations`: the recommendation routes.
pub struct RecommendationsSwitch;

impl KeySwitch for RecommendationsSwitch {
    fn on(auth: &crate::config::Auth) -> bool {
        auth.require_key_for_recommendations
    }
}

/// [`ServiceKey`] when the switch `S` is on, nothing otherwise (the key, if any, is then not looked at).
/// Runs before the body is read, like [`ServiceKey`].
pub struct ServiceKeyWhen<S>(std::marker::PhantomData<S>);

/// The service key when `[auth] require_key_for_events` is on.
pub type EventsKey = ServiceKeyWhen<EventsSwitch>;

/// The service key when `[auth] require_key_for_recommendations` is on.
pub type RecommendationsKey = ServiceKeyWhen<RecommendationsSwitch>;

impl<S: KeySwitch> FromRequestParts<Arc<AppState>> for ServiceKeyWhen<S> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if S::on(&state.config.auth) {
            check_service(state, &parts.headers)?;
        }
        Ok(ServiceKeyWhen(std::marker::PhantomData))
    }
}

/// The key a request presents: `X-Api-Key: KEY`, else `Authorization: Bearer KEY`.
fn presented_key(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get("x-api-key").map(|v| v.as_bytes()).or_else(|| {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    })
}

/// Whether `given` is `expected`, in a time that depends on neither their contents nor their lengths:
/// the SHA-256 digests of both (always 32 bytes) are compared in constant time (`subtle`).
fn key_eq(given: &[u8], expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected.as_bytes()));
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

const KEY_HEADERS: &str = "`X-Api-Key: KEY` or `Authorization: Bearer KEY`";

/// Checks the admin key of a request: 403 when admin endpoints are disabled (no admin key configured)
/// or the key is the service key, 401 without a key or with a wrong one.
pub fn check_admin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if state.admin_key.is_none() {
        return Err(ApiError::forbidden(
            "admin endpoints are disabled: set admin.api_key in the config or TASTEBUD_ADMIN_KEY",
        ));
    }
    let Some(given) = presented_key(headers) else {
        return Err(ApiError::unauthorized(format!(
            "admin endpoints need the admin key: {KEY_HEADERS}"
        )));
    };
    // Both comparisons always run: the time does not say which key came close.
    let admin = key_eq(given, state.admin_key.as_deref());
    let service = key_eq(given, state.service_key.as_deref());
    if admin {
        Ok(())
    } else if service {
        Err(ApiError::forbidden(
            "the service key does not open admin endpoints: use the admin key",
        ))
    } else {
        Err(ApiError::unauthorized("wrong API key"))
    }
}

/// Checks that a request carries the service key or the admin key: 403 when neither is configured, 401
/// without a key or with a wrong one.
pub fn check_service(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if state.service_key.is_none() && state.admin_key.is_none() {
        return Err(ApiError::forbidden(
            "user-data endpoints are disabled: set auth.service_key in the config or \
             TASTEBUD_SERVICE_KEY (the admin key is accepted too)",
        ));
    }
    let Some(given) = presented_key(headers) else {
        return Err(ApiError::unauthorized(format!(
            "this route needs the service key (or the admin key): {KEY_HEADERS}"
        )));
    };
    let service = key_eq(given, state.service_key.as_deref());
    let admin = key_eq(given, state.admin_key.as_deref());
    if service | admin {
        Ok(())
    } else {
        Err(ApiError::unauthorized("wrong API key"))
    }
}

/// Whether a request carries the admin key (never an error: for answers that show more to admins).
pub fn is_admin(state: &AppState, headers: &HeaderMap) -> bool {
    presented_key(headers).is_some_and(|g| key_eq(g, state.admin_key.as_deref()))
}

/// Runs blocking work (store reads and writes, model scoring) on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

/// Runs store reads a handler makes inline: on a shared store (PostgreSQL and Redis round trips) inside
/// `block_in_place`, so that the runtime moves its other tasks to another worker while this one waits;
/// directly on the embedded store (memory and page-cache reads).
pub fn store_io<T>(state: &AppState, f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if state.is_shared() && multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
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

/// An id in a path (user, item, experiment): 1 to 256 bytes without control characters.
pub fn check_id(what: &str, id: &str) -> ApiResult<()> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} id must be 1 to {MAX_ID_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// A user id: 1 to 256 bytes without control characters.
pub fn check_user_id(id: &str) -> ApiResult<()> {
    check_id("user", id)
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
