//! Retraining inside the server: the background loop and `POST /v1/admin/retrain`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, QueryArgs};
use crate::state::AppState;
use tastebud_lifecycle::retrain::{self, RetrainConfig, RetrainReport};

/// Runs one retraining on the server's store (blocking); swaps in a promoted model.
pub fn retrain_now(state: &AppState, path: &Path, force: bool) -> Result<RetrainReport, String> {
    let cfg = RetrainConfig::load(path).map_err(|e| e.to_string())?;
    let report = retrain::run_with_index(
        &cfg,
        state.storage.events.as_ref(),
        state.storage.users.as_ref(),
        state.registry_index(),
        !force,
        crate::now_unix(),
        &tastebud_models::NoProgress,
    )
    .map_err(|e| e.to_string())?;
    if report.promoted {
        let current = state
            .registry(&cfg.registry)
            .map_err(|e| e.to_string())?
            .current_path();
        state.reload(Some(&current)).map_err(|e| e.to_string())?;
    }
    Ok(report)
}

/// The background loop (`[retrain] enabled = true`).
pub async fn retrain_loop(state: Arc<AppState>) {
    let (Some(path), every) = (
        state.config.retrain.config.clone(),
        state.config.retrain.every_secs.max(1),
    ) else {
        return;
    };
    loop {
        tokio::time::sleep(Duration::from_secs(every)).await;
        let _guard = state.reload_lock.lock().await;
        let (st, p) = (state.clone(), path.clone());
        match tokio::task::spawn_blocking(move || retrain_now(&st, &p, false)).await {
            Ok(Ok(r)) if r.skipped => tracing::debug!("retrain: no trigger fired"),
            Ok(Ok(r)) => tracing::info!(
                "retrain: {} {:?} ({})",
                if r.promoted { "promoted" } else { "rejected" },
                r.candidate_version,
                r.reason
            ),
            Ok(Err(e)) => tracing::warn!("retrain failed: {e}"),
            Err(e) => tracing::warn!("retrain task failed: {e}"),
        }
    }
}

/// Query of `POST /v1/admin/retrain`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RetrainQuery {
    /// Retrain even when no trigger fires (default false).
    pub force: Option<bool>,
}

/// Checks the triggers and retrains when one fires (or always with `force=true`), with the gate; a
/// promoted model is served at once. Needs `[retrain] config` in the server configuration.
#[utoipa::path(post, path = "/v1/admin/retrain", tag = "admin", params(RetrainQuery),
    responses((status = 200, description = "The retraining report", body = Object),
              (status = 401, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)),
    security(("admin_key" = [])))]
pub async fn admin_retrain(
    _: Admin,
    State(state): State<Arc<AppState>>,
    QueryArgs(q): QueryArgs<RetrainQuery>,
) -> ApiResult<Json<RetrainReport>> {
    let Some(path) = state.config.retrain.config.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "not_configured",
            "set [retrain] config = \"retrain.toml\" in the server configuration",
        ));
    };
    let _guard = state.reload_lock.lock().await;
    let st = state.clone();
    let force = q.force.unwrap_or(false);
    tokio::task::spawn_blocking(move || retrain_now(&st, &path, force))
        .await
        .map_err(|e| ApiError::internal(format!("retrain task failed: {e}")))?
        .map(Json)
        .map_err(ApiError::invalid)
}
