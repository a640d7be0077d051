//! When to retrain: triggers computed from the event log and the model being served.
//!
//! - **CTR drop**: clicks / items shown over the last `recent_days` fell by at least `drop` (relative)
//!   against the `baseline_days` before them (event timestamps, not arrival order);
//! - **revenue drop**: revenue (purchase amounts) per item shown over the last `recent_days` fell by at
//!   least `drop` (relative) against the `baseline_days` before them; per item shown, so that less
//!   traffic alone does not fire it;
//! - **drift**: the population stability index (PSI) of item popularity, recent window against baseline
//!   (the `top_items` most popular items of both windows plus one "other" bucket), above `psi`
//!   (0.1 is a moderate shift, 0.25 a large one by the usual rule of thumb);
//! - **new users / new items**: the share of recent positive events by users, or on items, the model does
//!   not know, above a threshold;
//! - **new categories**: the base data names item categories the model has never seen;
//! - **schedule**: the model is older than `every_hours`.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tastebud_core::FeatureValues;
use tastebud_models::file::ModelFile;
use tastebud_store::{EventType, Stored};

/// CTR-drop trigger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CtrDrop {
    /// Relative drop that fires (0.2 = the recent CTR is 20% below the baseline).
    pub drop: f64,
    /// Recent window, days.
    pub recent_days: f64,
    /// Baseline window before it, days.
    pub baseline_days: f64,
    /// Fewer items shown than this in either window: not enough evidence, never fires.
    pub min_impressions: u64,
}

impl Default for CtrDrop {
    fn default() -> Self {
        CtrDrop {
            drop: 0.2,
            recent_days: 1.0,
            baseline_days: 7.0,
            min_impressions: 1000,
        }
    }
}

/// Revenue-drop trigger: revenue per item shown, recent window against the baseline before it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevenueDrop {
    /// Relative drop that fires (0.2 = the recent revenue per item shown is 20% below the baseline).
    pub drop: f64,
    /// Recent window, days.
    pub recent_days: f64,
    /// Baseline window before it, days.
    pub baseline_days: f64,
    /// Fewer items shown than this in either window: not enough evidence, never fires.
    pub min_impressions: u64,
    /// Fewer purchases with an amount than this in the baseline window: never fires.
    pub min_purchases: u64,
}

impl Default for RevenueDrop {
    fn default() -> Self {
        RevenueDrop {
            drop: 0.2,
            recent_days: 1.0,
            baseline_days: 7.0,
            min_impressions: 1000,
            min_purchases: 30,
        }
    }
}

/// Items shown, purchases with an amount and their revenue in `[from, to)`.
fn revenue(events: &[Stored], from: i64, to: i64) -> (u64, u64, f64) {
    let (mut shown, mut purchases, mut total) = (0, 0, 0.0);
    for s in window(events, from, to) {
        match (s.event.kind, s.event.amount) {
            (EventType::Impression, _) => shown += s.event.items.len() as u64,
            (EventType::Purchase, Some(a)) => {
                purchases += 1;
                total += a;
            }
            _ => {}
        }
    }
    (shown, purchases, total)
}

/// The revenue-drop verdict at `now`.
pub fn revenue_drop(c: &RevenueDrop, events: &[Stored], now: i64) -> Verdict {
    let day = 86_400.0;
    let split = now - (c.recent_days * day) as i64;
    let start = split - (c.baseline_days * day) as i64;
    let (bs, bp, bt) = revenue(events, start, split);
    let (rs, rp, rt) = revenue(events, split, now + 1);
    let (b, r) = (bt / bs.max(1) as f64, rt / rs.max(1) as f64);
    let enough =
        bs >= c.min_impressions && rs >= c.min_impressions && bp >= c.min_purchases && b > 0.0;
    let drop = if enough { 1.0 - r / b } else { f64::NAN };
    Verdict {
        name: "revenue_drop".into(),
        fired: enough && drop >= c.drop,
        value: drop,
        threshold: c.drop,
        detail: format!(
            "revenue per 1,000 items shown {:.2} over the last {} days ({rt:.2} from {rp} purchases, {rs} shown) \
             vs {:.2} over the {} days before ({bt:.2} from {bp} purchases, {bs} shown)",
            1000.0 * r,
            c.recent_days,
            1000.0 * b,
            c.baseline_days
        ),
    }
}

/// Popularity-drift trigger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Drift {
    /// PSI that fires.
    pub psi: f64,
    /// Recent window, days.
    pub recent_days: f64,
    /// Baseline window before it, days.
    pub baseline_days: f64,
    /// Items compared one by one (the rest share one bucket).
    pub top_items: usize,
    /// Fewer positive events than this in either window: never fires.
    pub min_events: u64,
}

impl Default for Drift {
    fn default() -> Self {
        Drift {
            psi: 0.2,
            recent_days: 1.0,
            baseline_days: 7.0,
            top_items: 50,
            min_events: 500,
        }
    }
}

/// Which triggers are on (`[triggers]` in `retrain.toml`); an absent one never fires.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriggerConfig {
    /// CTR drop.
    pub ctr_drop: Option<CtrDrop>,
    /// Revenue drop (revenue per item shown).
    pub revenue_drop: Option<RevenueDrop>,
    /// Popularity drift.
    pub drift: Option<Drift>,
    /// Share of recent positive events by users the model does not know.
    pub new_users_share: Option<f64>,
    /// Share of recent positive events on items the model does not know.
    pub new_items_share: Option<f64>,
    /// Window of the new-user/new-item shares, days (default 1).
    pub new_window_days: Option<f64>,
    /// Fire when the base data has item categories the model has not seen.
    pub new_categories: bool,
    /// Fire when the model is older than this many hours.
    pub every_hours: Option<f64>,
}

/// One trigger's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// Trigger name.
    pub name: String,
    /// Whether it fired.
    pub fired: bool,
    /// The measured value (NaN when there was not enough data).
    pub value: f64,
    /// The threshold it was compared with.
    pub threshold: f64,
    /// A sentence with the numbers.
    pub detail: String,
}

fn window(events: &[Stored], from: i64, to: i64) -> impl Iterator<Item = &Stored> {
    events
        .iter()
        .filter(move |s| s.event.timestamp >= from && s.event.timestamp < to)
}

fn ctr(events: &[Stored], from: i64, to: i64) -> (u64, u64) {
    let (mut shown, mut clicks) = (0, 0);
    for s in window(events, from, to) {
        match s.event.kind {
            EventType::Impression => shown += s.event.items.len() as u64,
            EventType::Click => clicks += 1,
            _ => {}
        }
    }
    (shown, clicks)
}

fn positive(s: &Stored) -> bool {
    !matches!(s.event.kind, EventType::Impression | EventType::Dislike)
}

/// Population stability index between two count distributions over the same buckets (each bucket's share
/// floored at 1e-4 so an empty bucket does not make it infinite).
pub fn psi(baseline: &[f64], recent: &[f64]) -> f64 {
    let (tb, tr): (f64, f64) = (baseline.iter().sum(), recent.iter().sum());
    if tb <= 0.0 || tr <= 0.0 {
        return f64::NAN;
    }
    baseline
        .iter()
        .zip(recent)
        .map(|(&b, &r)| {
            let (p, q) = ((b / tb).max(1e-4), (r / tr).max(1e-4));
            (q - p) * (q / p).ln()
        })
        .sum()
}

/// Checks every configured trigger at unix time `now`. `base_categories` are the categorical labels of
/// the base data's item features (`column:label`), for the new-categories trigger.
pub fn check(
    cfg: &TriggerConfig,
    events: &[Stored],
    model: &ModelFile,
    base_categories: &HashSet<String>,
    now: i64,
) -> Vec<Verdict> {
    let day = 86_400.0;
    let mut out = Vec::new();
    if let Some(c) = &cfg.ctr_drop {
        let split = now - (c.recent_days * day) as i64;
        let start = split - (c.baseline_days * day) as i64;
        let (bs, bc) = ctr(events, start, split);
        let (rs, rc) = ctr(events, split, now + 1);
        let (b, r) = (bc as f64 / bs.max(1) as f64, rc as f64 / rs.max(1) as f64);
        let enough = bs >= c.min_impressions && rs >= c.min_impressions && b > 0.0;
        let drop = if enough { 1.0 - r / b } else { f64::NAN };
        out.push(Verdict {
            name: "ctr_drop".into(),
            fired: enough && drop >= c.drop,
            value: drop,
            threshold: c.drop,
            detail: format!(
                "CTR {r:.4} over the last {} days ({rc}/{rs}) vs {b:.4} over the {} days before ({bc}/{bs})",
                c.recent_days, c.baseline_days
            ),
        });
    }
    if let Some(c) = &cfg.revenue_drop {
        out.push(revenue_drop(c, events, now));
    }
    if let Some(d) = &cfg.drift {
        let split = now - (d.recent_days * day) as i64;
        let start = split - (d.baseline_days * day) as i64;
        let count = |from, to| {
            let mut m: HashMap<&str, f64> = HashMap::new();
            for s in window(events, from, to).filter(|s| positive(s)) {
                if let Some(i) = &s.event.item {
                    *m.entry(i.as_str()).or_insert(0.0) += 1.0;
                }
            }
            m
        };
        let (b, r) = (count(start, split), count(split, now + 1));
        let mut all: Vec<(&str, f64)> = b
            .iter()
            .map(|(k, v)| (*k, v + r.get(k).copied().unwrap_or(0.0)))
            .chain(
                r.iter()
                    .filter(|(k, _)| !b.contains_key(*k))
                    .map(|(k, v)| (*k, *v)),
            )
            .collect();
        all.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(y.0)));
        let top: Vec<&str> = all.iter().take(d.top_items).map(|x| x.0).collect();
        let dist = |m: &HashMap<&str, f64>| {
            let mut v: Vec<f64> = top
                .iter()
                .map(|k| m.get(k).copied().unwrap_or(0.0))
                .collect();
            let rest: f64 = m
                .iter()
                .filter(|(k, _)| !top.contains(k))
                .map(|(_, v)| v)
                .sum();
            v.push(rest);
            v
        };
        let (nb, nr): (f64, f64) = (b.values().sum(), r.values().sum());
        let enough = nb >= d.min_events as f64 && nr >= d.min_events as f64;
        let value = if enough {
            psi(&dist(&b), &dist(&r))
        } else {
            f64::NAN
        };
        out.push(Verdict {
            name: "popularity_drift".into(),
            fired: enough && value >= d.psi,
            value,
            threshold: d.psi,
            detail: format!(
                "PSI of item popularity, last {} days ({nr} events) vs the {} days before ({nb} events)",
                d.recent_days, d.baseline_days
            ),
        });
    }
    let from = now - (cfg.new_window_days.unwrap_or(1.0) * day) as i64;
    let recent: Vec<&Stored> = window(events, from, now + 1)
        .filter(|s| positive(s))
        .collect();
    let share = |f: &dyn Fn(&Stored) -> bool| {
        if recent.is_empty() {
            f64::NAN
        } else {
            recent.iter().filter(|s| f(s)).count() as f64 / recent.len() as f64
        }
    };
    if let Some(t) = cfg.new_users_share {
        let v = share(&|s| model.context.users.get(&s.event.user).is_none());
        out.push(Verdict {
            name: "new_users".into(),
            fired: v >= t,
            value: v,
            threshold: t,
            detail: format!(
                "share of {} recent positive events by unknown users",
                recent.len()
            ),
        });
    }
    if let Some(t) = cfg.new_items_share {
        let v = share(&|s| {
            s.event
                .item
                .as_deref()
                .is_some_and(|i| model.context.items.get(i).is_none())
        });
        out.push(Verdict {
            name: "new_items".into(),
            fired: v >= t,
            value: v,
            threshold: t,
            detail: format!(
                "share of {} recent positive events on unknown items",
                recent.len()
            ),
        });
    }
    if cfg.new_categories {
        let known = categories(model.context.item_features.as_ref());
        let mut new: Vec<&String> = base_categories.difference(&known).collect();
        new.sort();
        out.push(Verdict {
            name: "new_categories".into(),
            fired: !new.is_empty(),
            value: new.len() as f64,
            threshold: 1.0,
            detail: if new.is_empty() {
                "no item category the model has not seen".into()
            } else {
                format!(
                    "categories the model has not seen: {}",
                    new.iter()
                        .take(10)
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        });
    }
    if let Some(h) = cfg.every_hours {
        let age = (now - model.header.created_unix as i64) as f64 / 3600.0;
        out.push(Verdict {
            name: "schedule".into(),
            fired: age >= h,
            value: age,
            threshold: h,
            detail: format!("the model is {age:.1} hours old"),
        });
    }
    out
}

/// The categorical labels of item features, as `column:label`.
pub fn categories(f: Option<&tastebud_core::FeatureTable>) -> HashSet<String> {
    let mut out = HashSet::new();
    if let Some(f) = f {
        for c in f.columns() {
            if let FeatureValues::Categorical { vocab, .. } = &c.values {
                out.extend(vocab.ids().map(|l| format!("{}:{l}", c.name)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One day of traffic: 100 impressions of 10 items each and `buyers` purchases of `amount`.
    fn day(t: i64, buyers: usize, amount: f64, seq: &mut u64) -> Vec<Stored> {
        let mut out = Vec::new();
        let mut push = |v: serde_json::Value| {
            *seq += 1;
            out.push(Stored {
                seq: *seq,
                received_ms: 0,
                event: serde_json::from_value(v).unwrap(),
            });
        };
        for u in 0..100 {
            let items: Vec<String> = (0..10).map(|i| format!("i{i}")).collect();
            push(
                serde_json::json!({"user": format!("u{u}"), "type": "impression", "items": items, "timestamp": t}),
            );
        }
        for u in 0..buyers {
            push(
                serde_json::json!({"user": format!("u{u}"), "item": "i1", "type": "purchase", "amount": amount, "timestamp": t + 1}),
            );
        }
        out
    }

    #[test]
    fn revenue_drop_fires_on_less_revenue_per_item_shown_only() {
        let now = 1_800_000_000;
        let cfg = RevenueDrop::default();
        for (recent_amount, fires) in [(6.0, true), (9.0, false), (12.0, false)] {
            let mut seq = 0;
            let mut events = Vec::new();
            for d in 1..=7 {
                events.extend(day(now - d * 86_400 - 3_600, 10, 10.0, &mut seq));
            }
            events.extend(day(now - 3_600, 10, recent_amount, &mut seq));
            let v = revenue_drop(&cfg, &events, now);
            assert_eq!(v.fired, fires, "{v:?}");
            assert!(
                (v.value - (1.0 - recent_amount / 10.0)).abs() < 1e-9,
                "{v:?}"
            );
        }
        // Half the traffic and half the revenue: the same revenue per item shown, no drop.
        let mut seq = 0;
        let mut events = Vec::new();
        for d in 1..=7 {
            events.extend(day(now - d * 86_400 - 3_600, 10, 10.0, &mut seq));
        }
        let mut recent = day(now - 3_600, 10, 5.0, &mut seq);
        recent.retain(|s| s.event.kind != EventType::Impression || s.seq % 2 == 0);
        events.extend(recent);
        let lenient = RevenueDrop {
            min_impressions: 100,
            ..RevenueDrop::default()
        };
        let v = revenue_drop(&lenient, &events, now);
        assert!(!v.fired && v.value.abs() < 1e-9, "{v:?}");
        // Too few purchases in the baseline: not evidence.
        let few = RevenueDrop {
            min_purchases: 1_000,
            ..RevenueDrop::default()
        };
        let v = revenue_drop(&few, &events, now);
        assert!(!v.fired && v.value.is_nan());
    }

    #[test]
    fn psi_is_zero_for_equal_shares_and_grows_with_shift() {
        assert!(psi(&[10.0, 20.0, 30.0], &[1.0, 2.0, 3.0]).abs() < 1e-12);
        let small = psi(&[50.0, 50.0], &[55.0, 45.0]);
        let large = psi(&[50.0, 50.0], &[90.0, 10.0]);
        assert!(small > 0.0 && small < 0.05, "{small}");
        assert!(large > 0.5, "{large}");
        // Reference: sum (q - p) ln(q / p) for p = (.5, .5), q = (.9, .1).
        let want = 0.4 * (0.9f64 / 0.5).ln() + (-0.4) * (0.1f64 / 0.5).ln();
        assert!((large - want).abs() < 1e-12);
    }
}
