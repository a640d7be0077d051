//! Administration (admin key): reload the model, read the configuration, flag items, off-policy
//! evaluation.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use tastebud_store::ItemFlags;

use crate::dto::{FlagsRequest, FlagsResponse, ReloadRequest, ReloadResponse};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Admin, JsonObject, PathArg, RawBody, blocking};
use crate::state::AppState;

type AppRef = State<Arc<AppState>>;

/// Loads a model file (the current path again, or `path`) and swaps it in while requests keep flowing.
///
/// The file's checksum and structure are verified before the swap. A file that fails (unreadable, not a
/// model file, checksum mismatch, inconsistent content, or larger than the memory budget's model slot) is
/// answered 422 with a JSON error naming the file and the reason; nothing is swapped, the previous model
/// keeps serving and `/readyz` stays ready. 422, not 409: the request is well formed and nothing
/// conflicts with the server's state; the file it names cannot be processed.
#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin", request_body = Option<ReloadRequest>,
    responses((status = 200, body = ReloadResponse), (status = 401, body = ErrorBody),
              (status = 422, description = "the model file was refused (unreadable, corrupt, inconsistent or too large for the memory budget); the previous model keeps serving", body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn admin_reload(
    _: Admin,
    State(state): AppRef,
    RawBody(body): RawBody,
) -> ApiResult<Json<ReloadResponse>> {
    // No body, or `null`: reload the current path.
    let req: ReloadRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReloadRequest::default()
    } else {
        serde_json::from_slice::<Option<ReloadRequest>>(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid reload request: {e}")))?
            .unwrap_or_default()
    };
    let _guard = state.reload_lock.lock().await;
    let st = state.clone();
    let (previous_version, model_version) = blocking(move || {
        st.reload(req.path.as_deref().map(std::path::Path::new))
            .map_err(ApiError::from)
    })
    .await?;
    Ok(Json(ReloadResponse {
        previous_version,
        model_version,
    }))
}

/// Off-policy evaluation of a candidate model's top-slot CTR from explored, propensity-logged slates (see
/// the `ope` module).
#[utoipa::path(post, path = "/v1/admin/ope", tag = "admin",
    request_body = Option<tastebud_serve::ope::OpeRequest>,
    responses((status = 200, body = tastebud_serve::ope::OpeResponse), (status = 401, body = ErrorBody),
              (status = 422, body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn admin_ope(
    _: Admin,
    State(state): AppRef,
    RawBody(body): RawBody,
) -> ApiResult<Json<tastebud_serve::ope::OpeResponse>> {
    let req: tastebud_serve::ope::OpeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        tastebud_serve::ope::OpeRequest::default()
    } else {
        serde_json::from_slice::<Option<tastebud_serve::ope::OpeRequest>>(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid OPE request: {e}")))?
            .unwrap_or_default()
    };
    let st = state.clone();
    Ok(Json(
        blocking(move || {
            let (flags, _) = st.flags();
            Ok(tastebud_serve::ope::evaluate(
                &st.pipeline,
                &st.serving(),
                st.storage.users.as_ref(),
                &flags,
                &req,
            )?)
        })
        .await?,
    ))
}

/// The configuration in force (the keys redacted).
#[utoipa::path(get, path = "/v1/admin/config", tag = "admin",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn admin_config(_: Admin, State(state): AppRef) -> ApiResult<Json<serde_json::Value>> {
    let mut c = state.config.clone();
    c.admin.api_key = c.admin.api_key.map(|_| "<redacted>".into());
    c.auth.service_key = c.auth.service_key.map(|_| "<redacted>".into());
    c.store.url = c.store.url.as_deref().map(crate::config::redact_url);
    c.cache.redis_url = c.cache.redis_url.as_deref().map(crate::config::redact_url);
    serde_json::to_value(&c)
        .map(Json)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Hides an item or sets its time to live: it leaves every list at once (cached and precomputed too).
#[utoipa::path(put, path = "/v1/admin/items/{id}", tag = "admin", request_body = FlagsRequest,
    params(("id" = String, Path, description = "External item id")),
    responses((status = 200, body = FlagsResponse), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)),
    security(("admin_key" = [])))]
pub async fn admin_item_flags(
    _: Admin,
    State(state): AppRef,
    PathArg(item): PathArg<String>,
    JsonObject(req): JsonObject<FlagsRequest>,
) -> ApiResult<Json<FlagsResponse>> {
    if state.serving().item(&item).is_none() {
        return Err(ApiError::not_found(format!("unknown item `{item}`")));
    }
    let store = state.storage.flags.clone();
    let (id, flags) = (
        item.clone(),
        ItemFlags {
            hidden: req.hidden,
            expires_at: req.expires_at,
        },
    );
    blocking(move || store.set_item_flags(&id, flags).map_err(ApiError::from)).await?;
    state.refresh_flags()?;
    Ok(Json(FlagsResponse {
        item,
        hidden: req.hidden,
        expires_at: req.expires_at,
    }))
}
