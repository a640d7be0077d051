//! A user's record and consent: `GET /v1/users/{id}` and `PUT /v1/users/{id}/consent`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use tastebud_store::Consent;

use crate::dto::{ConsentRequest, ConsentState, UserInfo};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonObject, PathArg, ServiceKey, blocking, check_user_id};
use crate::state::AppState;

type AppRef = State<Arc<AppState>>;

/// What the server holds about a user: consent (with the time it was set), events, whether the
/// served model knows them, whether they asked to be forgotten.
///
/// Needs the service key (or the admin key).
#[utoipa::path(get, path = "/v1/users/{id}", tag = "privacy",
    params(crate::dto::UserPath),
    responses((status = 200, body = UserInfo), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security(("service_key" = []), ("admin_key" = [])))]
pub async fn user_info(
    _: ServiceKey,
    State(state): AppRef,
    PathArg(user): PathArg<String>,
) -> ApiResult<Json<UserInfo>> {
    check_user_id(&user)?;
    let st = state.clone();
    let u = user.clone();
    let info = blocking(move || {
        let data = &st.storage.users;
        let recorded = data.consent(&u)?;
        let events = data.user_events(&u)?;
        let forgotten_unix = data.forgotten_at(&u)?;
        let in_model = forgotten_unix.is_none() && st.serving().user(&u).is_some();
        Ok(UserInfo {
            consent: consent_state(recorded, st.config.privacy.consent_required),
            events: events.len() as u64,
            last_event_seq: events.last().map(|e| e.seq),
            in_model,
            forgotten_unix,
            has_batch_list: data.get_list(&u)?.is_some(),
            user: u,
        })
    })
    .await?;
    Ok(Json(info))
}

/// Sets a user's consent to personalisation and to training (a field left out keeps its value).
/// Without consent to personalisation the user gets what a new user gets (the cold-start chain), at
/// once; without consent to training the next retraining leaves their data out. Events are still
/// recorded either way.
///
/// Needs the service key (or the admin key).
#[utoipa::path(put, path = "/v1/users/{id}/consent", tag = "privacy", request_body = ConsentRequest,
    params(crate::dto::UserPath),
    responses((status = 200, body = ConsentState), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("service_key" = []), ("admin_key" = [])))]
pub async fn set_consent(
    _: ServiceKey,
    State(state): AppRef,
    PathArg(user): PathArg<String>,
    JsonObject(req): JsonObject<ConsentRequest>,
) -> ApiResult<Json<ConsentState>> {
    check_user_id(&user)?;
    let st = state.clone();
    let u = user.clone();
    let consent = blocking(move || {
        let data = &st.storage.users;
        let required = st.config.privacy.consent_required;
        let old = data.consent(&u)?.unwrap_or(Consent::implied(required));
        let new = Consent {
            personalisation: req.personalisation.unwrap_or(old.personalisation),
            training: req.training.unwrap_or(old.training),
            updated_unix: crate::now_unix(),
        };
        data.set_consent(&u, &new)?;
        Ok(new)
    })
    .await?;
    state.drop_cached(&user);
    Ok(Json(consent_state(
        Some(consent),
        state.config.privacy.consent_required,
    )))
}

fn consent_state(recorded: Option<Consent>, required: bool) -> ConsentState {
    match recorded {
        Some(c) => ConsentState {
            personalisation: c.personalisation,
            training: c.training,
            source: "recorded".into(),
            updated_unix: Some(c.updated_unix),
        },
        None => {
            let c = Consent::implied(required);
            ConsentState {
                personalisation: c.personalisation,
                training: c.training,
                source: "implied".into(),
                updated_unix: None,
            }
        }
    }
}
