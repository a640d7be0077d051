//! Events and user data: record events, read a user's events, forget a user.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use tastebud_store::Event;

use crate::dto::{DeleteResponse, EventsQuery, EventsResponse, UserEventsResponse};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{
    EventsKey, JsonBody, PathArg, QueryArgs, ServiceKey, blocking, check_user_id, parse_json,
};
use crate::state::AppState;

type AppRef = State<Arc<AppState>>;

/// Records one event or a batch (a JSON object or an array). Answers only once every event is durably
/// written; an event whose `event_id` was stored before is acknowledged without being written again.
///
/// A purchase or add-to-cart may carry an `amount` (finite, >= 0) and its `currency` (ISO 4217; the
/// deployment's, `[revenue] currency`, when absent). An amount in another currency is converted with
/// `[revenue] rates` and stored in the deployment's currency; a currency without a rate is refused (422).
///
/// Needs the service key when `[auth] require_key_for_events` is set.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = Object, content_type = "application/json",
                 description = "One event or an array of 1 to `limits.max_batch_events` events"),
    responses((status = 200, body = EventsResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security((), ("service_key" = []), ("admin_key" = [])))]
pub async fn post_events(
    _: EventsKey,
    State(state): AppRef,
    JsonBody(value): JsonBody<serde_json::Value>,
) -> ApiResult<Json<EventsResponse>> {
    let now = crate::now_unix();
    let parse = |v: serde_json::Value, at: Option<usize>| -> ApiResult<Event> {
        let where_ = at.map_or_else(String::new, |i| format!("events[{i}]: "));
        // The path names the field at fault (`timestamp: invalid type ...`).
        let mut e: Event = parse_json(v, &where_)?;
        e.validate(now)
            .map_err(|m| ApiError::invalid(format!("{where_}{m}")))?;
        // Amounts are stored in the deployment's currency: converted by `[revenue] rates`, or refused.
        if let Some(amount) = e.amount {
            let (amount, code) = state
                .config
                .revenue
                .convert(amount, e.currency.as_deref())
                .map_err(|m| ApiError::invalid(format!("{where_}{m}")))?;
            e.amount = Some(amount);
            e.currency = Some(code);
        }
        Ok(e)
    };
    let events: Vec<Event> = match value {
        serde_json::Value::Array(items) => {
            if items.is_empty() {
                return Err(ApiError::bad_request("empty event batch"));
            }
            if items.len() > state.config.limits.max_batch_events {
                return Err(ApiError::bad_request(format!(
                    "{} events in one batch; at most {}",
                    items.len(),
                    state.config.limits.max_batch_events
                )));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| parse(v, Some(i)))
                .collect::<ApiResult<_>>()?
        }
        v @ serde_json::Value::Object(_) => vec![parse(v, None)?],
        _ => {
            return Err(ApiError::bad_request(
                "expected an event object or an array of events",
            ));
        }
    };
    let log = state.storage.events.clone();
    let (events, appended) = blocking(move || {
        let appended = log.append(events.clone()).map_err(ApiError::from)?;
        Ok((events, appended))
    })
    .await?;
    for (e, a) in events.iter().zip(&appended) {
        state.note_event(&e.user, a.seq);
    }
    let fresh: Vec<Event> = events
        .into_iter()
        .zip(&appended)
        .filter(|(_, a)| !a.duplicate)
        .map(|(e, _)| e)
        .collect();
    state.metrics.events(&fresh, now);
    // A replica of a shared store counts the bandits' events from the log, every replica's alike
    // (AppState::apply), not from what it received.
    if !state.is_shared() {
        state.experiments.observe(&fresh);
    }
    if let Some(sh) = &state.shadow {
        sh.observe(&fresh);
    }
    let duplicates = appended.iter().filter(|a| a.duplicate).count();
    Ok(Json(EventsResponse {
        accepted: appended.len() - duplicates,
        duplicates,
        seqs: appended.iter().map(|a| a.seq).collect(),
    }))
}

/// A user's stored events, oldest first (what the server knows about them).
///
/// Needs the service key (or the admin key).
#[utoipa::path(get, path = "/v1/users/{id}/events", tag = "events",
    params(crate::dto::UserPath, EventsQuery),
    responses((status = 200, body = UserEventsResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security(("service_key" = []), ("admin_key" = [])))]
pub async fn user_events(
    _: ServiceKey,
    State(state): AppRef,
    PathArg(user): PathArg<String>,
    QueryArgs(q): QueryArgs<EventsQuery>,
) -> ApiResult<Json<UserEventsResponse>> {
    check_user_id(&user)?;
    let log = state.storage.events.clone();
    let u = user.clone();
    let mut events = blocking(move || Ok(log.user_events(&u)?)).await?;
    if let Some(l) = q.limit {
        let skip = events.len().saturating_sub(l as usize);
        events.drain(..skip);
    }
    Ok(Json(UserEventsResponse { user, events }))
}

/// Forgets a user: their events, precomputed list and cached lists; their training history is no longer
/// used. Says how many records were removed.
///
/// Needs the service key (or the admin key).
#[utoipa::path(delete, path = "/v1/users/{id}", tag = "privacy",
    params(crate::dto::UserPath),
    responses((status = 200, body = DeleteResponse), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 503, body = ErrorBody)),
    security(("service_key" = []), ("admin_key" = [])))]
pub async fn delete_user(
    _: ServiceKey,
    State(state): AppRef,
    PathArg(user): PathArg<String>,
) -> ApiResult<Json<DeleteResponse>> {
    check_user_id(&user)?;
    let data = state.storage.users.clone();
    let u = user.clone();
    let suppress = state.serving().user(&user).is_some();
    let deleted = blocking(move || {
        let d = data.erase_user(&u)?;
        if suppress {
            data.forget_user(&u, crate::now_unix())?;
        }
        Ok(d)
    })
    .await?;
    let cache_entries = state.forget(&user);
    Ok(Json(DeleteResponse {
        removed: deleted.events + deleted.lists + cache_entries,
        user,
        events: deleted.events,
        lists: deleted.lists,
        cache_entries,
        training_history_suppressed: suppress,
    }))
}
