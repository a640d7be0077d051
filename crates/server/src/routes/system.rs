//! Operations: liveness, readiness, the model being served, Prometheus metrics, the OpenAPI document.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

use crate::dto::{Health, ModelInfo, Ready};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

type AppRef = State<Arc<AppState>>;

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: a model is loaded and the store answers.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Ready), (status = 503, body = ErrorBody)))]
pub async fn readyz(State(state): AppRef) -> ApiResult<Json<Ready>> {
    let st = state.clone();
    // On a shared store: PostgreSQL must answer (else 503); Redis down is `degraded` (recommendations
    // are computed in process, lists and the shared cache skipped).
    let (events, redis_ok) = crate::extract::blocking(move || {
        let redis_ok = match &st.storage.shared {
            Some(s) => s
                .check()
                .map_err(|e| ApiError::unavailable(format!("store: {e}")))?,
            None => true,
        };
        let events = st
            .storage
            .events
            .event_count()
            .map_err(|e| ApiError::unavailable(format!("store: {e}")))?;
        Ok((events, redis_ok))
    })
    .await?;
    Ok(Json(Ready {
        status: if redis_ok { "ready" } else { "degraded" }.into(),
        model_version: state.serving().version.clone(),
        events,
    }))
}

/// The model being served.
#[utoipa::path(get, path = "/v1/model", tag = "ops", responses((status = 200, body = ModelInfo)))]
pub async fn model_info(State(state): AppRef) -> Json<ModelInfo> {
    Json(state.model_info())
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): AppRef) -> ApiResult<impl IntoResponse> {
    let serving = state.serving();
    let head = state.storage.events.last_seq()?;
    let batch = state.storage.lists.batch_meta()?.map(|m| m.event_seq);
    let text = state.metrics.render(
        crate::now_unix(),
        serving.model().n_items(),
        head,
        serving.event_seq(),
        batch,
    );
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

/// `/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi_json(),
    )
}
