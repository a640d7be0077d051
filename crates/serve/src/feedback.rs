//! Feedback rules: how events become training signal, the same rules for a user's real-time history and
//! for retraining. Each event adds a weight to its (user, item) pair:
//!
//! - a weight per event type (`purchase = 5`, `like = 3`, `click = 1`, `dislike = -5` ...); a `rating`
//!   sets the value to the rating instead;
//! - a view counts only from `min_dwell_ms` on (shorter is a bounce); with `dwell_unit_ms > 0` its weight is
//!   scaled by `dwell / dwell_unit_ms`, capped at `dwell_cap`;
//! - an event older than its type's time to live (`ttl_days`) counts for nothing;
//! - with `half_life_days`, an event's weight halves every half-life (recency decay);
//! - a pair whose value ends at or below zero (a dislike) is dropped.
//!
//! [`EventRules::fold`] applies one event to its pair: the one rule the user's history at request time
//! (`history::UserView`) and the retraining set (`tastebud_lifecycle`) both use.
//!
//! ```
//! use tastebud_serve::feedback::EventRules;
//! use tastebud_store::{Event, EventType};
//! let rules: EventRules = toml::from_str("half_life_days = 7\n[weights]\npurchase = 5.0").unwrap();
//! let now = 1_700_000_000;
//! let mut e: Event = serde_json::from_value(serde_json::json!(
//!     {"user": "u", "item": "i", "type": "purchase", "timestamp": now - 7 * 86400})).unwrap();
//! assert!((rules.weight(&e, now).unwrap() - 2.5).abs() < 1e-4); // one half-life old
//! e.kind = EventType::Impression;
//! assert_eq!(rules.weight(&e, now), Some(0.0)); // impressions are not feedback
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tastebud_store::{Event, EventType};

/// The feedback rules (`[events]` in the server config, and in `retrain.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventRules {
    /// Weight of each event type (`rating` uses the event's value instead; a type not listed weighs 0).
    pub weights: BTreeMap<EventType, f32>,
    /// Views shorter than this are bounces and add nothing.
    pub min_dwell_ms: u64,
    /// When positive, a view's weight is multiplied by `dwell_ms / dwell_unit_ms` (capped at `dwell_cap`).
    pub dwell_unit_ms: u64,
    /// Cap of the dwell multiplier.
    pub dwell_cap: f32,
    /// Time to live per event type, days: older events count for nothing.
    pub ttl_days: BTreeMap<EventType, f64>,
    /// Recency decay: an event's weight halves every this many days. None: no decay.
    pub half_life_days: Option<f64>,
}

impl Default for EventRules {
    fn default() -> Self {
        let weights = [
            (EventType::Click, 1.0),
            (EventType::View, 1.0),
            (EventType::Like, 3.0),
            (EventType::Dislike, -5.0),
            (EventType::AddToCart, 2.0),
            (EventType::Purchase, 5.0),
        ]
        .into_iter()
        .collect();
        EventRules {
            weights,
            min_dwell_ms: 0,
            dwell_unit_ms: 0,
            dwell_cap: 3.0,
            ttl_days: BTreeMap::new(),
            half_life_days: None,
        }
    }
}

impl EventRules {
    /// Checks the numbers.
    pub fn validate(&self) -> Result<(), String> {
        for (t, w) in &self.weights {
            if !w.is_finite() {
                return Err(format!("weights.{t} must be finite"));
            }
        }
        for (t, d) in &self.ttl_days {
            if !(d.is_finite() && *d > 0.0) {
                return Err(format!("ttl_days.{t} must be positive"));
            }
        }
        if let Some(h) = self.half_life_days
            && !(h.is_finite() && h > 0.0)
        {
            return Err("half_life_days must be positive".into());
        }
        if !(self.dwell_cap.is_finite() && self.dwell_cap > 0.0) {
            return Err("dwell_cap must be positive".into());
        }
        Ok(())
    }

    /// What `e` adds to its pair at unix time `now`: `Some(w)` to add, `None` for a rating (its value
    /// replaces the pair's), `Some(0.0)` when it counts for nothing (impressions, bounces, expired).
    pub fn weight(&self, e: &Event, now: i64) -> Option<f32> {
        let age_days = (now - e.timestamp).max(0) as f64 / 86_400.0;
        if self
            .ttl_days
            .get(&e.kind)
            .is_some_and(|&ttl| age_days > ttl)
        {
            return Some(0.0);
        }
        let decay = self
            .half_life_days
            .map_or(1.0, |h| 0.5f64.powf(age_days / h)) as f32;
        match e.kind {
            EventType::Impression => Some(0.0),
            EventType::Rating => None,
            EventType::View => {
                let dwell = e.dwell_ms.unwrap_or(u64::MAX);
                if dwell < self.min_dwell_ms {
                    return Some(0.0);
                }
                let mut w = self.weights.get(&EventType::View).copied().unwrap_or(0.0);
                if self.dwell_unit_ms > 0 && dwell != u64::MAX {
                    w *= (dwell as f32 / self.dwell_unit_ms as f32).min(self.dwell_cap);
                }
                Some(w * decay)
            }
            k => Some(self.weights.get(&k).copied().unwrap_or(0.0) * decay),
        }
    }

    /// Folds `e` into its pair's running value at unix time `now`: a rating sets the value, any other
    /// event adds its weight. Returns `false`, leaving the value alone, when the event counts for
    /// nothing (impressions, bounces, expired events, types without a weight).
    ///
    /// ```
    /// use tastebud_serve::feedback::EventRules;
    /// use tastebud_store::Event;
    /// let rules = EventRules::default();
    /// let e: Event = serde_json::from_str(
    ///     r#"{"user": "u", "item": "i", "type": "purchase", "timestamp": 1700000000}"#).unwrap();
    /// let mut v = 1.0;
    /// assert!(rules.fold(&mut v, &e, 1_700_000_000));
    /// assert_eq!(v, 6.0);
    /// ```
    pub fn fold(&self, value: &mut f32, e: &Event, now: i64) -> bool {
        match self.weight(e, now) {
            Some(0.0) => false,
            Some(w) => {
                *value += w;
                true
            }
            None => {
                *value = e.value.unwrap_or(0.0) as f32;
                true
            }
        }
    }

    /// Whether the event is a positive signal (used to define the held-out relevant items of retraining
    /// and to clear unclicked impressions).
    pub fn is_positive(&self, e: &Event, now: i64) -> bool {
        match self.weight(e, now) {
            None => e.value.is_some_and(|v| v > 0.0),
            Some(w) => w > 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, age_days: f64, dwell: Option<u64>, value: Option<f64>) -> (Event, i64) {
        let now = 1_800_000_000;
        let mut j = serde_json::json!({"user": "u", "item": "i", "type": kind,
            "timestamp": now - (age_days * 86400.0) as i64});
        if let Some(d) = dwell {
            j["dwell_ms"] = d.into();
        }
        if let Some(v) = value {
            j["value"] = v.into();
        }
        (serde_json::from_value(j).unwrap(), now)
    }

    #[test]
    fn weights_dwell_ttl_and_decay() {
        let mut r = EventRules {
            min_dwell_ms: 2000,
            dwell_unit_ms: 10_000,
            dwell_cap: 3.0,
            ..EventRules::default()
        };
        r.ttl_days.insert(EventType::Click, 30.0);
        let w = |k, a, d, v| {
            let (e, now) = ev(k, a, d, v);
            r.weight(&e, now)
        };
        assert_eq!(w("purchase", 0.0, None, None), Some(5.0));
        assert_eq!(w("dislike", 0.0, None, None), Some(-5.0));
        assert_eq!(w("rating", 0.0, None, Some(4.0)), None);
        assert_eq!(w("impression", 0.0, None, None), Some(0.0));
        // views: a bounce, scaled by dwell, capped
        assert_eq!(w("view", 0.0, Some(1000), None), Some(0.0));
        assert_eq!(w("view", 0.0, Some(5000), None), Some(0.5));
        assert_eq!(w("view", 0.0, Some(600_000), None), Some(3.0));
        // time to live per type
        assert_eq!(w("click", 29.0, None, None), Some(1.0));
        assert_eq!(w("click", 31.0, None, None), Some(0.0));
        assert_eq!(w("like", 365.0, None, None), Some(3.0));
        // recency decay
        r.half_life_days = Some(10.0);
        let (e, now) = ev("like", 20.0, None, None);
        assert!((r.weight(&e, now).unwrap() - 0.75).abs() < 1e-5);
        assert!(r.is_positive(&e, now));
        let (e, now) = ev("rating", 0.0, None, Some(0.0));
        assert!(!r.is_positive(&e, now));
    }

    #[test]
    fn bad_rules_are_named() {
        let r = EventRules {
            half_life_days: Some(0.0),
            ..EventRules::default()
        };
        assert!(r.validate().unwrap_err().contains("half_life_days"));
        let mut r = EventRules::default();
        r.ttl_days.insert(EventType::View, -1.0);
        assert!(r.validate().unwrap_err().contains("ttl_days.view"));
    }
}
