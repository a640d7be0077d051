//! The server's memory budget (`[server] memory_budget_mb`): what each part of the process may hold, fixed
//! at startup, so that no sequence of requests (with or without a key) grows resident memory past it.
//!
//! [`MemoryPlan::new`] splits the budget into:
//!
//! - `base`: the runtime, the allocator's arenas, code and the store's open tables ([`BASE_BYTES`]);
//! - `models`: one model slot (`[server] model_mb`, by default the larger of the served model plus a
//!   quarter and [`MODEL_SHARE`] of the budget; a reload needing more is refused) twice, for a hot swap
//!   (the old model serves in-flight requests while the new one loads), plus the shadow model and the
//!   experiment arms loaded at startup ([`model_bytes`] estimates each from its file);
//! - `connections`: `max_connections` x (`max_header_bytes` + [`CONNECTION_OVERHEAD`]), what hyper may
//!   buffer per open connection before a request's head is complete;
//! - `in_flight`: `max_in_flight` x one request's working memory ([`request_bytes`]: its body parsed as
//!   JSON, its list, the model's score buffer);
//! - `user_seq`: the in-memory map of each user's newest event ([`USER_SEQ_SHARE`] of the budget; a miss
//!   reads the store);
//! - `store`: the embedded store's page cache ([`STORE_SHARE`] of the budget, 4 to 256 MiB);
//! - `cache`: the response cache's byte cap, `[cache] max_mb` or everything left, never above the budget.
//!
//! Not covered: the experiments' running
//! aggregates (they grow with the users who send events in an experiment, not with requests) and the
//! shadow model's recent pairs (`[shadow]`, an operator's choice). The server refuses to start when the
//! model alone exceeds the budget, when `[cache] max_mb` does, or when the fixed parts leave nothing.

use std::sync::Arc;

use tastebud_serve::{Recommended, Serving};

use crate::cache_key::CacheKey;
use crate::config::Config;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// The process before any request: the tokio runtime and its threads, the allocator's arenas, the mapped
/// code, the store's open tables and the metrics registry. `bench-limits` measured 17-28 MiB resident
/// after startup on ML-100K, model included; the rest is room for the allocator's fragmentation.
pub const BASE_BYTES: u64 = 48 * MIB;

/// Per open connection besides its header buffer: hyper's write buffer and connection state, the task.
pub const CONNECTION_OVERHEAD: u64 = 16 * 1024;

/// A JSON body is parsed into a `serde_json::Value`, then into the typed request: a short string or number
/// in the body becomes a 32-byte value plus its own allocation, so a body takes up to this many times its
/// size while it is parsed.
pub const JSON_EXPANSION: u64 = 8;

/// One item of a response while it is built: the item with its title, reason and contributing items, the
/// same as JSON, the kernel's candidate (`k` at most [`crate::config::Limits::max_k`]).
pub const ITEM_BYTES: u64 = 1024;

/// The least share of the budget one model slot gets (1/8), so that a retrained model somewhat larger
/// than the one the server started with (or of another family) can be swapped in.
pub const MODEL_SHARE: u64 = 8;

/// The share of the budget the newest-event-per-user map may hold (1/32).
pub const USER_SEQ_SHARE: u64 = 32;

/// The share of the budget requests in flight may hold when `[server] max_in_flight` is 0 (1/8).
pub const IN_FLIGHT_SHARE: u64 = 8;

/// The share of the budget the embedded store's page cache may hold (1/16, between 4 and 256 MiB;
/// redb's own default would be 1 GiB whatever the budget).
pub const STORE_SHARE: u64 = 16;

/// The embedded store's page cache under `config`'s budget (see [`STORE_SHARE`]).
pub fn store_cache_bytes(config: &Config) -> u64 {
    (config.server.memory_budget_mb.saturating_mul(MIB) / STORE_SHARE).clamp(4 * MIB, 256 * MIB)
}

/// A loaded model over the size of its file: ids are held twice (a vector and a hash map), the training
/// histories by user and by item, the popularity order and counts, and the file's bytes while it is
/// decoded. EASE on ML-100K: a 12.4 MB file, 28 MiB resident for the whole process after startup.
pub const MODEL_EXPANSION: u64 = 2;

/// Bytes a model may hold in memory, estimated from its file's size (and its ANN graph's own count).
pub fn model_file_bytes(file_len: u64) -> u64 {
    file_len.saturating_mul(MODEL_EXPANSION) + MIB
}

/// Bytes a loaded model holds: [`model_file_bytes`] of its file plus its ANN index (the index's
/// vectors are a copy of the item factors).
pub fn model_bytes(s: &Serving) -> u64 {
    let file = std::fs::metadata(&s.path).map_or(0, |m| m.len());
    let index = match &s.index {
        Some(tastebud_index::AnyIndex::Hnsw(h)) => h.memory_usage() as u64,
        Some(tastebud_index::AnyIndex::Exact(e)) => std::mem::size_of_val(e.vectors()) as u64,
        None => 0,
    };
    model_file_bytes(file) + index
}

/// Heap bytes of a string (its capacity plus the allocator's header).
fn string_bytes(s: &str, capacity: usize) -> u64 {
    if capacity == 0 {
        0
    } else {
        debug_assert!(capacity >= s.len());
        capacity as u64 + 16
    }
}

/// What one cache entry holds: the key, the list (items with titles, reasons and contributing items), the
/// item indices, the serialised JSON, and moka's own bookkeeping (entry, hash-table slot, deque and timer
/// nodes, about 200 bytes).
pub fn entry_bytes(key: &CacheKey, value: &Recommended) -> u64 {
    const MOKA_ENTRY: u64 = 200;
    const ARC: u64 = 16 + 16;
    let key_bytes = std::mem::size_of::<CacheKey>() as u64
        + string_bytes(&key.user, key.user.capacity())
        + string_bytes(&key.shape, key.shape.capacity());
    let items = value.items.capacity() as u64
        * std::mem::size_of::<tastebud_serve::RecommendedItem>() as u64
        + 16;
    let item_heap: u64 = value
        .items
        .iter()
        .map(|i| {
            string_bytes(&i.item, i.item.capacity())
                + i.title
                    .as_ref()
                    .map_or(0, |t| string_bytes(t, t.capacity()))
                + i.reason
                    .as_ref()
                    .map_or(0, |r| string_bytes(r, r.capacity()))
                + if i.because.capacity() == 0 {
                    0
                } else {
                    i.because.capacity() as u64
                        * std::mem::size_of::<tastebud_serve::pipeline::Because>() as u64
                        + 16
                }
                + i.because
                    .iter()
                    .map(|b| {
                        string_bytes(&b.item, b.item.capacity())
                            + b.title
                                .as_ref()
                                .map_or(0, |t| string_bytes(t, t.capacity()))
                    })
                    .sum::<u64>()
        })
        .sum();
    let idx =
        value.idx.capacity() as u64 * std::mem::size_of::<tastebud_core::ItemIdx>() as u64 + 16;
    let json = string_bytes(&value.items_json, value.items_json.capacity());
    MOKA_ENTRY
        + ARC
        + key_bytes
        + std::mem::size_of::<Recommended>() as u64
        + items
        + item_heap
        + idx
        + json
}

/// The weight moka counts for an entry: its bytes, and at least `floor` (the byte cap over
/// `[cache] max_entries`, so that the entry count stays within that too), saturated at `u32::MAX`.
pub fn entry_weight(key: &CacheKey, value: &Arc<Recommended>, floor: u64) -> u32 {
    entry_bytes(key, value).max(floor).min(u64::from(u32::MAX)) as u32
}

/// The weight of one user's newest-event entry: the id, the number, moka's bookkeeping.
pub fn user_seq_weight(user: &str) -> u32 {
    (user.len() as u64 + 16 + 8 + 200).min(u64::from(u32::MAX)) as u32
}

/// One request's working memory: its body parsed as JSON, a list of `max_k` items, the model's score
/// buffer over `n_items`.
pub fn request_bytes(config: &Config, n_items: usize) -> u64 {
    config.limits.max_body_bytes as u64 * JSON_EXPANSION
        + config.limits.max_k as u64 * ITEM_BYTES
        + n_items as u64 * 8
}

/// The budget, split (bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// `[server] memory_budget_mb`.
    pub budget: u64,
    /// The process before any request ([`BASE_BYTES`]).
    pub base: u64,
    /// One model slot: what a served model may need (a reload of a model needing more is refused).
    pub model: u64,
    /// Every model: the served model's share twice (a swap), the shadow model, the experiment arms.
    pub models: u64,
    /// Open connections' buffers.
    pub connections: u64,
    /// Requests in flight.
    pub in_flight: u64,
    /// Requests handled at once (`[server] max_in_flight`, or what the in-flight share allows).
    pub max_in_flight: usize,
    /// The newest-event-per-user map.
    pub user_seq: u64,
    /// The embedded store's page cache ([`store_cache_bytes`]).
    pub store: u64,
    /// The response cache's byte cap (0 when the cache is off).
    pub cache: u64,
}

impl MemoryPlan {
    /// Splits `config`'s budget given the served model's estimate (`served`), the other models' (`others`:
    /// shadow, experiment arms) and the served catalogue's size. Errors say which part does not fit and
    /// which key to change.
    pub fn new(config: &Config, served: u64, others: u64, n_items: usize) -> Result<Self, String> {
        let s = &config.server;
        let budget = s.memory_budget_mb.saturating_mul(MIB);
        let mb = |b: u64| b.div_ceil(MIB);
        if served > budget {
            return Err(format!(
                "the model needs about {} MiB in memory, more than [server] memory_budget_mb = {}; \
                 raise the budget or serve a smaller model",
                mb(served),
                s.memory_budget_mb
            ));
        }
        if let Some(c) = config.cache.max_mb
            && config.cache.enabled
            && c > s.memory_budget_mb
        {
            return Err(format!(
                "[cache] max_mb = {c} is above [server] memory_budget_mb = {}",
                s.memory_budget_mb
            ));
        }
        let model = match s.model_mb {
            Some(m) if m.saturating_mul(MIB) < served => {
                return Err(format!(
                    "the model needs about {} MiB in memory, more than [server] model_mb = {m}",
                    mb(served)
                ));
            }
            Some(m) => m.saturating_mul(MIB),
            None => (served + served / 4).max(budget / MODEL_SHARE),
        };
        let models = 2 * model + others;
        let connections =
            s.max_connections as u64 * (s.max_header_bytes as u64 + CONNECTION_OVERHEAD);
        let per_request = request_bytes(config, n_items).max(1);
        let max_in_flight = if s.max_in_flight > 0 {
            s.max_in_flight
        } else {
            ((budget / IN_FLIGHT_SHARE) / per_request).clamp(2, 1024) as usize
        };
        let in_flight = max_in_flight as u64 * per_request;
        let user_seq = budget / USER_SEQ_SHARE;
        let store = store_cache_bytes(config);
        let fixed = BASE_BYTES + models + connections + in_flight + user_seq + store;
        let parts = || {
            format!(
                "base {} MiB + models {} MiB (a model slot of {} MiB, [server] model_mb, twice for a \
                 swap, plus shadow and arms) + connections {} MiB ([server] max_connections x max_header_bytes) + requests in \
                 flight {} MiB ({max_in_flight} x {} MiB: [server] max_in_flight, [limits] \
                 max_body_bytes, max_k) + per-user map {} MiB + store page cache {} MiB",
                mb(BASE_BYTES),
                mb(models),
                mb(model),
                mb(connections),
                mb(in_flight),
                mb(per_request),
                mb(user_seq),
                mb(store)
            )
        };
        if fixed >= budget {
            return Err(format!(
                "[server] memory_budget_mb = {} is too small: {} = {} MiB before any cache",
                s.memory_budget_mb,
                parts(),
                mb(fixed)
            ));
        }
        let left = budget - fixed;
        let cache = if !config.cache.enabled {
            0
        } else if let Some(c) = config.cache.max_mb {
            let c = c.saturating_mul(MIB);
            if c > left {
                return Err(format!(
                    "[cache] max_mb = {} does not fit in [server] memory_budget_mb = {}: {} leave {} MiB",
                    mb(c),
                    s.memory_budget_mb,
                    parts(),
                    left / MIB
                ));
            }
            c
        } else {
            left
        };
        Ok(MemoryPlan {
            budget,
            base: BASE_BYTES,
            model,
            models,
            connections,
            in_flight,
            max_in_flight,
            user_seq,
            store,
            cache,
        })
    }

    /// One line for the log: each part in MiB.
    pub fn summary(&self) -> String {
        format!(
            "memory budget {} MiB: base {}, models {}, connections {}, {} requests in flight {}, \
             per-user map {}, store page cache {}, cache {}",
            self.budget / MIB,
            self.base / MIB,
            self.models.div_ceil(MIB),
            self.connections.div_ceil(MIB),
            self.max_in_flight,
            self.in_flight.div_ceil(MIB),
            self.user_seq / MIB,
            self.store / MIB,
            self.cache / MIB
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_never_exceed_the_budget() {
        let mut c = Config::default();
        c.server.memory_budget_mb = 256;
        c.server.max_connections = 1024;
        let p = MemoryPlan::new(&c, 20 * MIB, 0, 1682).unwrap();
        let sum = p.base + p.models + p.connections + p.in_flight + p.user_seq + p.store + p.cache;
        assert_eq!(sum, p.budget, "{p:?}");
        assert!(p.cache > 0 && p.max_in_flight >= 2);
    }

    #[test]
    fn a_model_above_the_budget_is_refused_by_name() {
        let mut c = Config::default();
        c.server.memory_budget_mb = 64;
        let e = MemoryPlan::new(&c, 100 * MIB, 0, 10).unwrap_err();
        assert!(
            e.contains("model needs about 100 MiB") && e.contains("memory_budget_mb = 64"),
            "{e}"
        );
    }

    #[test]
    fn a_cache_cap_above_the_budget_or_what_is_left_is_refused() {
        let mut c = Config::default();
        c.server.memory_budget_mb = 256;
        c.server.max_connections = 256;
        c.cache.max_mb = Some(300);
        let e = MemoryPlan::new(&c, MIB, 0, 10).unwrap_err();
        assert!(e.contains("max_mb = 300 is above"), "{e}");
        c.cache.max_mb = Some(250);
        let e = MemoryPlan::new(&c, MIB, 0, 10).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
        c.cache.max_mb = Some(16);
        assert_eq!(MemoryPlan::new(&c, MIB, 0, 10).unwrap().cache, 16 * MIB);
    }

    #[test]
    fn a_model_slot_holds_the_served_model_and_at_least_an_eighth_of_the_budget() {
        let mut c = Config::default();
        let p = MemoryPlan::new(&c, 10 * MIB, 0, 10).unwrap();
        assert_eq!(p.model, 128 * MIB);
        let p = MemoryPlan::new(&c, 200 * MIB, 0, 10).unwrap();
        assert_eq!(p.model, 250 * MIB);
        assert_eq!(p.models, 500 * MIB);
        c.server.model_mb = Some(50);
        let e = MemoryPlan::new(&c, 60 * MIB, 0, 10).unwrap_err();
        assert!(e.contains("model_mb = 50"), "{e}");
        assert_eq!(
            MemoryPlan::new(&c, 40 * MIB, 0, 10).unwrap().model,
            50 * MIB
        );
    }

    #[test]
    fn fixed_parts_over_the_budget_name_the_keys() {
        let mut c = Config::default();
        c.server.memory_budget_mb = 128;
        c.server.max_connections = 100_000;
        let e = MemoryPlan::new(&c, MIB, 0, 10).unwrap_err();
        assert!(
            e.contains("max_connections") && e.contains("too small"),
            "{e}"
        );
    }
}
