//! Shadow deployment: a candidate model answers a sample of live requests beside the served model,
//! off the request path, without changing any response. The report (`GET /v1/shadow/report`) compares
//! the two lists (Jaccard@K and rank-biased overlap), their compute latencies, and, on the clicks and
//! conversions that arrive later, how many each list had placed (hit rate@K and MRR@K, with the
//! paired difference's interval).
//!
//! Attribution: the last compared pair of each user is kept for `attribution_secs`; a click or
//! conversion on an item within that time counts for the pair (once per item and pair).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use tastebud_store::{Event, EventType};

use crate::model::Serving;

/// `[shadow]`: the candidate model and how much traffic it sees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowConfig {
    /// The candidate's model file.
    pub model: PathBuf,
    /// Share of recommendation requests mirrored to the shadow, in `(0, 1]`.
    pub sample: f64,
    /// How long after a compared request its clicks are attributed to it.
    pub attribution_secs: u64,
    /// Rank-biased overlap persistence `p` in `(0, 1)` (0.9: the top 10 carry ~86% of the weight).
    pub rbo_p: f64,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::new(),
            sample: 1.0,
            attribution_secs: 3600,
            rbo_p: 0.9,
        }
    }
}

impl ShadowConfig {
    /// Checks the ranges.
    ///
    /// # Errors
    ///
    /// A message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.model.as_os_str().is_empty() {
            return Err("shadow.model: a model file is required".into());
        }
        if !(self.sample > 0.0 && self.sample <= 1.0) {
            return Err(format!(
                "shadow.sample must be in (0, 1], got {}",
                self.sample
            ));
        }
        if !(self.rbo_p > 0.0 && self.rbo_p < 1.0) {
            return Err(format!(
                "shadow.rbo_p must be in (0, 1), got {}",
                self.rbo_p
            ));
        }
        Ok(())
    }
}

/// Jaccard similarity of two lists as sets (1 for two empty lists).
pub fn jaccard(a: &[String], b: &[String]) -> f64 {
    let sa: HashSet<&String> = a.iter().collect();
    let sb: HashSet<&String> = b.iter().collect();
    let union = sa.union(&sb).count();
    if union == 0 {
        1.0
    } else {
        sa.intersection(&sb).count() as f64 / union as f64
    }
}

/// Rank-biased overlap (Webber, Moffat & Zobel 2010), extrapolated form for two lists of depth `k`:
/// `RBO_ext = (1-p)/p · Σ_{d≤k} p^d · A_d/d + p^k · A_k/k`, with `A_d` the overlap of the two top-`d`
/// prefixes. 1 for identical lists, 0 for disjoint ones; agreement at the top weighs more.
pub fn rbo(a: &[String], b: &[String], p: f64) -> f64 {
    let k = a.len().max(b.len());
    if k == 0 {
        return 1.0;
    }
    let mut seen_a: HashSet<&String> = HashSet::new();
    let mut seen_b: HashSet<&String> = HashSet::new();
    let mut overlap = 0usize;
    let mut sum = 0.0;
    for d in 1..=k {
        let (x, y) = (a.get(d - 1), b.get(d - 1));
        match (x, y) {
            (Some(x), Some(y)) if x == y => overlap += 1,
            _ => {
                overlap += usize::from(x.is_some_and(|x| seen_b.contains(x)));
                overlap += usize::from(y.is_some_and(|y| seen_a.contains(y)));
            }
        }
        if let Some(x) = x {
            seen_a.insert(x);
        }
        if let Some(y) = y {
            seen_b.insert(y);
        }
        sum += p.powi(d as i32) * overlap as f64 / d as f64;
    }
    let ext = overlap as f64 / k as f64 * p.powi(k as i32);
    (1.0 - p) / p * sum + ext
}

/// A bounded sample of latencies (the newest `CAP`).
#[derive(Default)]
struct Reservoir {
    v: Vec<f64>,
    next: usize,
}

const CAP: usize = 10_000;

impl Reservoir {
    fn push(&mut self, x: f64) {
        if self.v.len() < CAP {
            self.v.push(x);
        } else {
            self.v[self.next] = x;
            self.next = (self.next + 1) % CAP;
        }
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        if self.v.is_empty() {
            return None;
        }
        let mut s = self.v.clone();
        s.sort_by(f64::total_cmp);
        let i = ((s.len() - 1) as f64 * q).round() as usize;
        Some(s[i])
    }
}

#[derive(Default)]
struct Stats {
    compared: u64,
    errors: u64,
    jaccard_sum: f64,
    rbo_sum: f64,
    production_ms: Reservoir,
    shadow_ms: Reservoir,
    clicks: u64,
    production_hits: u64,
    shadow_hits: u64,
    production_rr: f64,
    shadow_rr: f64,
    /// Sums of the paired difference (shadow hit − production hit) and its square.
    diff_sum: f64,
    diff_sq: f64,
}

struct Pair {
    at: i64,
    production: Vec<String>,
    shadow: Vec<String>,
    credited: Mutex<HashSet<String>>,
}

/// The running shadow: its model and what it has measured.
pub struct Shadow {
    /// The candidate model.
    pub serving: Arc<Serving>,
    config: ShadowConfig,
    stats: Mutex<Stats>,
    recent: Cache<String, Arc<Pair>>,
}

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Latency {
    /// Median.
    pub p50_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

/// One list's record on the attributed clicks.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClickMetrics {
    /// Share of attributed clicks on an item the list held.
    pub hit_rate: Option<f64>,
    /// Mean reciprocal rank of the clicked item in the list (0 when absent).
    pub mrr: Option<f64>,
}

/// `GET /v1/shadow/report`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ShadowReport {
    /// Production model name and version.
    pub production: String,
    /// Shadow model name and version.
    pub shadow: String,
    /// Requests compared.
    pub compared: u64,
    /// Shadow computations that failed (the response is never affected).
    pub errors: u64,
    /// Mean Jaccard@K of the two lists.
    pub jaccard: Option<f64>,
    /// Mean rank-biased overlap.
    pub rbo: Option<f64>,
    /// Persistence of the RBO.
    pub rbo_p: f64,
    /// Production compute latency (requests computed, not answered from the cache).
    pub production_latency: Latency,
    /// Shadow compute latency.
    pub shadow_latency: Latency,
    /// Shadow p50 minus production p50, ms.
    pub p50_diff_ms: Option<f64>,
    /// Clicks and conversions attributed to compared requests.
    pub clicks: u64,
    /// Production list on those clicks.
    pub production_clicks: ClickMetrics,
    /// Shadow list on those clicks.
    pub shadow_clicks: ClickMetrics,
    /// Shadow hit rate minus production hit rate, with its 95% interval (paired per click).
    pub hit_rate_diff: Option<[f64; 3]>,
}

fn rr(list: &[String], item: &str) -> f64 {
    list.iter()
        .position(|x| x == item)
        .map_or(0.0, |p| 1.0 / (p + 1) as f64)
}

impl Shadow {
    /// Loads the shadow model.
    ///
    /// # Errors
    ///
    /// An invalid configuration or a model that does not load.
    pub fn load(config: &ShadowConfig, ann: &crate::config::Ann) -> Result<Self, String> {
        config.validate()?;
        let serving = Serving::load(&config.model, ann).map_err(|e| format!("shadow: {e}"))?;
        Ok(Self {
            serving: Arc::new(serving),
            config: config.clone(),
            stats: Mutex::new(Stats::default()),
            recent: Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(config.attribution_secs.max(1)))
                .build(),
        })
    }

    /// Whether this request is mirrored.
    pub fn sampled(&self) -> bool {
        self.config.sample >= 1.0 || rand::random::<f64>() < self.config.sample
    }

    /// Records one comparison: the production list (and its compute time when it was computed, not
    /// cached) beside the shadow's list and compute time (`None` when the shadow failed).
    pub fn record(
        &self,
        user: &str,
        at: i64,
        production: Vec<String>,
        production_ms: Option<f64>,
        shadow: Option<(Vec<String>, f64)>,
    ) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let Some((list, ms)) = shadow else {
            s.errors += 1;
            return;
        };
        s.compared += 1;
        s.jaccard_sum += jaccard(&production, &list);
        s.rbo_sum += rbo(&production, &list, self.config.rbo_p);
        if let Some(p) = production_ms {
            s.production_ms.push(p);
        }
        s.shadow_ms.push(ms);
        drop(s);
        self.recent.insert(
            user.to_owned(),
            Arc::new(Pair {
                at,
                production,
                shadow: list,
                credited: Mutex::new(HashSet::new()),
            }),
        );
    }

    /// Attributes clicks and conversions to the user's last compared pair.
    pub fn observe(&self, events: &[Event]) {
        for e in events {
            if !matches!(
                e.kind,
                EventType::Click | EventType::AddToCart | EventType::Purchase
            ) {
                continue;
            }
            let (Some(item), Some(pair)) = (e.item.as_deref(), self.recent.get(&e.user)) else {
                continue;
            };
            if e.timestamp + 1 < pair.at
                || e.timestamp > pair.at + self.config.attribution_secs as i64
                || !pair
                    .credited
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(item.to_owned())
            {
                continue;
            }
            let (rp, rs) = (rr(&pair.production, item), rr(&pair.shadow, item));
            let (hp, hs) = (f64::from(u8::from(rp > 0.0)), f64::from(u8::from(rs > 0.0)));
            let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
            s.clicks += 1;
            s.production_hits += hp as u64;
            s.shadow_hits += hs as u64;
            s.production_rr += rp;
            s.shadow_rr += rs;
            s.diff_sum += hs - hp;
            s.diff_sq += (hs - hp) * (hs - hp);
        }
    }

    /// The report so far.
    pub fn report(&self, production: &Serving) -> ShadowReport {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.compared as f64;
        let c = s.clicks as f64;
        let mean = |x: f64, n: f64| (n > 0.0).then(|| x / n);
        let hit_rate_diff = (s.clicks >= 2).then(|| {
            let m = s.diff_sum / c;
            let var = ((s.diff_sq - c * m * m) / (c - 1.0)).max(0.0);
            let half = 1.959_963_984_540_054 * (var / c).sqrt();
            [m, m - half, m + half]
        });
        let p50 = |r: &Reservoir| r.quantile(0.5);
        ShadowReport {
            production: format!("{} {}", production.file.header.model, production.version),
            shadow: format!(
                "{} {}",
                self.serving.file.header.model, self.serving.version
            ),
            compared: s.compared,
            errors: s.errors,
            jaccard: mean(s.jaccard_sum, n),
            rbo: mean(s.rbo_sum, n),
            rbo_p: self.config.rbo_p,
            production_latency: Latency {
                p50_ms: p50(&s.production_ms),
                p99_ms: s.production_ms.quantile(0.99),
            },
            shadow_latency: Latency {
                p50_ms: p50(&s.shadow_ms),
                p99_ms: s.shadow_ms.quantile(0.99),
            },
            p50_diff_ms: p50(&s.shadow_ms)
                .zip(p50(&s.production_ms))
                .map(|(a, b)| a - b),
            clicks: s.clicks,
            production_clicks: ClickMetrics {
                hit_rate: mean(s.production_hits as f64, c),
                mrr: mean(s.production_rr, c),
            },
            shadow_clicks: ClickMetrics {
                hit_rate: mean(s.shadow_hits as f64, c),
                mrr: mean(s.shadow_rr, c),
            },
            hit_rate_diff,
        }
    }
}

impl ShadowReport {
    /// A plain-text table.
    pub fn to_table(&self) -> String {
        let f = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.4}"));
        let ms = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.2} ms"));
        let mut out = format!(
            "shadow {} beside production {}: {} requests compared, {} errors\n",
            self.shadow, self.production, self.compared, self.errors
        );
        out.push_str(&format!(
            "overlap: Jaccard@K {}, RBO(p={}) {}\n",
            f(self.jaccard),
            self.rbo_p,
            f(self.rbo)
        ));
        out.push_str(&format!(
            "{:<12}{:>12}{:>12}{:>12}{:>10}\n",
            "list", "p50", "p99", "hit rate", "MRR"
        ));
        for (name, l, c) in [
            (
                "production",
                &self.production_latency,
                &self.production_clicks,
            ),
            ("shadow", &self.shadow_latency, &self.shadow_clicks),
        ] {
            out.push_str(&format!(
                "{:<12}{:>12}{:>12}{:>12}{:>10}\n",
                name,
                ms(l.p50_ms),
                ms(l.p99_ms),
                f(c.hit_rate),
                f(c.mrr)
            ));
        }
        out.push_str(&format!("attributed clicks: {}\n", self.clicks));
        if let Some([m, lo, hi]) = self.hit_rate_diff {
            out.push_str(&format!(
                "hit rate, shadow - production: {m:+.4} [{lo:+.4}, {hi:+.4}]\n"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn overlap_measures() {
        let a = l(&["a", "b", "c", "d"]);
        assert_eq!(jaccard(&a, &a), 1.0);
        assert!((rbo(&a, &a, 0.9) - 1.0).abs() < 1e-12);
        let z = l(&["w", "x", "y", "z"]);
        assert_eq!(jaccard(&a, &z), 0.0);
        assert_eq!(rbo(&a, &z, 0.9), 0.0);
        // Same set, reversed: Jaccard says identical, RBO sees the order.
        let r = l(&["d", "c", "b", "a"]);
        assert_eq!(jaccard(&a, &r), 1.0);
        let rr = rbo(&a, &r, 0.9);
        assert!(rr < 1.0 && rr > 0.5, "{rr}");
        // Agreement at the top weighs more than at the bottom.
        let top = rbo(&a, &l(&["a", "b", "x", "y"]), 0.9);
        let bottom = rbo(&a, &l(&["x", "y", "c", "d"]), 0.9);
        assert!(top > bottom, "{top} {bottom}");
        assert!((jaccard(&a, &l(&["a", "b", "x", "y"])) - 2.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn rbo_matches_hand_computation() {
        // a = [1,2], b = [2,1], p = 0.5: A_1 = 0, A_2 = 2/2 = 1.
        // RBO_ext = (1-p)/p * (p^1 * 0 + p^2 * 1) + 1 * p^2 = 1 * 0.25 + 0.25 = 0.5
        let v = rbo(&l(&["1", "2"]), &l(&["2", "1"]), 0.5);
        assert!((v - 0.5).abs() < 1e-12, "{v}");
    }

    #[test]
    fn config_is_checked() {
        let mut c = ShadowConfig::default();
        assert!(c.validate().is_err());
        c.model = "m.tbm".into();
        assert!(c.validate().is_ok());
        c.sample = 0.0;
        assert!(c.validate().unwrap_err().contains("shadow.sample"));
    }
}
