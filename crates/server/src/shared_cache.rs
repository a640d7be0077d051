//! The response cache shared by replicas, in Redis (`[cache] redis_url`), behind the in-process one.
//!
//! A list is filed in the user's hash under a field made of everything it depends on: the model's
//! version (a content hash, the same in every replica, unlike the in-process generation number), the
//! shared store's flags generation, the user's newest event and consent version, and the request's
//! shape. So no replica serves a list made before an event, a swap or a flag change anywhere. Redis
//! errors are not the request's: a failed read is a miss, a failed write is skipped (`/readyz` reports
//! Redis down as degraded).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tastebud_core::ItemIdx;
use tastebud_serve::{Recommended, RecommendedItem, Strategy};

use crate::cache_key::CacheKey;
use crate::state::AppState;

#[derive(Serialize, Deserialize)]
struct Entry {
    items_json: String,
    idx: Vec<u32>,
    strategy: Strategy,
    fallback: Option<String>,
    ann: bool,
}

/// The fallbacks a list can name (`Recommended::fallback` is `&'static str`).
const FALLBACKS: &[&str] = &["popularity", "model"];

fn field(key: &CacheKey, model_version: &str, flags_gen: u64) -> String {
    format!(
        "{model_version}|{flags_gen}|{}|{}|{}",
        key.user_seq, key.user_gen, key.shape
    )
}

/// The list cached in Redis for `key`, if any (and Redis answers).
pub fn get(state: &AppState, key: &CacheKey, model_version: &str) -> Option<Recommended> {
    let redis = state.storage.shared.as_ref()?.redis.as_ref()?;
    let f = field(key, model_version, state.shared_flags_gen());
    let bytes = redis.cache_get(&key.user, &f).ok()??;
    let e: Entry = serde_json::from_slice(&bytes).ok()?;
    let items: Vec<RecommendedItem> = serde_json::from_str(&e.items_json).ok()?;
    let fallback = match e.fallback {
        Some(f) => Some(*FALLBACKS.iter().find(|x| **x == f)?),
        None => None,
    };
    Some(Recommended {
        items,
        strategy: e.strategy,
        fallback,
        ann: e.ann,
        idx: e.idx.into_iter().map(ItemIdx).collect(),
        items_json: e.items_json,
        knowledge: None,
    })
}

/// Files a computed list in Redis (skipped when Redis does not answer).
pub fn put(state: &AppState, key: &CacheKey, model_version: &str, list: &Arc<Recommended>) {
    let Some(redis) = state.storage.shared.as_ref().and_then(|s| s.redis.as_ref()) else {
        return;
    };
    if list.fallback.is_some_and(|f| !FALLBACKS.contains(&f)) {
        return;
    }
    let e = Entry {
        items_json: list.items_json.clone(),
        idx: list.idx.iter().map(|i| i.0).collect(),
        strategy: list.strategy,
        fallback: list.fallback.map(str::to_string),
        ann: list.ann,
    };
    if let Ok(bytes) = serde_json::to_vec(&e) {
        let f = field(key, model_version, state.shared_flags_gen());
        let _ = redis.cache_put(&key.user, &f, bytes);
    }
}
