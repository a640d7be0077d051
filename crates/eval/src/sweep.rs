//! Re-ranker trade-off curves: accuracy against diversity and exposure as each re-ranker's parameter moves.
//!
//! [`sweep`] asks the model once per test user for its top `candidates` (100 by default), then, for each
//! re-ranker of `tastebud_models::rerank` and each value of its parameter, re-ranks every list to the top
//! `k` and scores the result with the evaluator's own metrics: accuracy is NDCG@k (and Recall@k),
//! diversity is intra-list diversity (`ild@k`, one minus the mean pairwise cosine of the genre vectors)
//! and catalogue coverage, exposure is the long-tail share (`long_tail@k`, items outside the 20 % most
//! popular) and the exposure Gini (`gini@k`, lower is fairer). The first point of every curve is the
//! parameter that leaves the model's order alone, so the curves start from the same place.
//!
//! | re-ranker | parameter | grid | leaves the order alone at |
//! |---|---|---|---|
//! | `mmr` | λ (relevance weight) | 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.0 | 1.0 |
//! | `calibration` | λ (calibration weight) | 0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99 | 0.0 |
//! | `fair_share` | long-tail share of the slots (head: items with half the interactions) | 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0 | 0.0 |
//! | `cap` | most items per genre | k, 5, 4, 3, 2, 1 | k |

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tastebud_core::{Error, ItemIdx, Result, Scored, UserIdx, ensure_param};
use tastebud_models::Recommender;
use tastebud_models::rerank::{Calibration, FairShare, GroupCap, Mmr, Rerank, RerankContext};

use crate::evaluator::{EvalData, EvalOptions, RankedList, evaluate, relevance, score_lists};
use crate::metrics::{MetricKind, MetricSet};

/// A re-ranker whose parameter is swept.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepKind {
    /// MMR, λ from 1 (model order) down to 0.
    Mmr,
    /// Calibration (Steck 2018), λ from 0 (model order) up.
    Calibration,
    /// A fair long-tail share of the slots, from 0 (model order) up.
    FairShare,
    /// A cap per genre, from k (no cap) down to 1.
    Cap,
}

impl SweepKind {
    /// Every re-ranker, in report order.
    pub const ALL: [SweepKind; 4] = [
        SweepKind::Mmr,
        SweepKind::Calibration,
        SweepKind::FairShare,
        SweepKind::Cap,
    ];

    /// Parses `mmr`, `calibration`, `fair_share` (or `fair`, `long_tail`) and `cap` (or `group_cap`).
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "mmr" => SweepKind::Mmr,
            "calibration" | "calibrated" => SweepKind::Calibration,
            "fair_share" | "fair" | "long_tail" | "fairshare" => SweepKind::FairShare,
            "cap" | "group_cap" | "genre_cap" => SweepKind::Cap,
            other => {
                return Err(Error::InvalidParam {
                    name: "rerank_sweep",
                    reason: format!(
                        "unknown re-ranker `{other}` (mmr, calibration, fair_share, cap)"
                    ),
                });
            }
        })
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            SweepKind::Mmr => "mmr",
            SweepKind::Calibration => "calibration",
            SweepKind::FairShare => "fair_share",
            SweepKind::Cap => "cap",
        }
    }

    /// The swept parameter's name.
    pub fn param_name(self) -> &'static str {
        match self {
            SweepKind::Mmr | SweepKind::Calibration => "lambda",
            SweepKind::FairShare => "share",
            SweepKind::Cap => "max_per_genre",
        }
    }

    /// The parameter values swept for lists of `k`, the neutral value first.
    pub fn grid(self, k: usize) -> Vec<f64> {
        match self {
            SweepKind::Mmr => vec![1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.0],
            SweepKind::Calibration => vec![0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99],
            SweepKind::FairShare => vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0],
            SweepKind::Cap => {
                let mut g: Vec<f64> = vec![k as f64];
                g.extend(
                    [5.0, 4.0, 3.0, 2.0, 1.0]
                        .into_iter()
                        .filter(|&m| m < k as f64),
                );
                g
            }
        }
    }

    fn build(self, p: f64, head_share: f64) -> Result<Box<dyn Rerank>> {
        Ok(match self {
            SweepKind::Mmr => Box::new(Mmr::new(p)?),
            SweepKind::Calibration => Box::new(Calibration::new(p)?),
            SweepKind::FairShare => Box::new(FairShare::long_tail(p, head_share)?),
            SweepKind::Cap => Box::new(GroupCap::new(p as usize)?),
        })
    }
}

/// What to sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepOptions {
    /// The re-rankers. By default, all four.
    pub kinds: Vec<SweepKind>,
    /// How many of the model's items each re-ranker chooses from. By default, 100.
    pub candidates: usize,
    /// The length of the final lists. By default, 10.
    pub k: usize,
    /// The fair-share re-ranker's head: the most popular items holding this share of interactions. By
    /// default, 0.5.
    pub head_share: f64,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            kinds: SweepKind::ALL.to_vec(),
            candidates: 100,
            k: 10,
            head_share: 0.5,
        }
    }
}

impl SweepOptions {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        ensure_param(self.k >= 1, "k", "must be at least 1")?;
        ensure_param(
            self.candidates >= self.k,
            "candidates",
            "must be at least k (re-rankers choose k of them)",
        )?;
        ensure_param(!self.kinds.is_empty(), "rerank_sweep", "name a re-ranker")?;
        ensure_param(
            (0.0..=1.0).contains(&self.head_share),
            "head_share",
            "must be in [0, 1]",
        )
    }
}

/// One point of a curve: a parameter value and the metrics of the re-ranked lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The parameter value.
    pub param: f64,
    /// Metric means (`ndcg@k`, `recall@k`, `ild@k`, `long_tail@k`, `novelty@k`) and catalogue metrics
    /// (`coverage@k`, `gini@k`).
    pub metrics: BTreeMap<String, f64>,
}

/// One re-ranker's curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepCurve {
    /// The re-ranker (`mmr`, `calibration`, `fair_share`, `cap`).
    pub reranker: String,
    /// The swept parameter.
    pub param: String,
    /// The points, neutral parameter first.
    pub points: Vec<SweepPoint>,
}

/// A model's trade-off curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The model.
    pub model: String,
    /// Final list length.
    pub k: usize,
    /// Candidates per list.
    pub candidates: usize,
    /// One curve per re-ranker.
    pub curves: Vec<SweepCurve>,
}

impl Sweep {
    /// The accuracy column (`ndcg@k`).
    pub fn accuracy(&self) -> String {
        format!("ndcg@{}", self.k)
    }
    /// The columns a sweep reports, accuracy first.
    pub fn columns(&self) -> Vec<String> {
        let k = self.k;
        [
            "ndcg",
            "recall",
            "ild",
            "coverage",
            "long_tail",
            "gini",
            "novelty",
        ]
        .iter()
        .map(|m| format!("{m}@{k}"))
        .collect()
    }
}

/// Sweeps every re-ranker of `sw` over `model`'s lists on `data` (see the module docs). `opts` gives the
/// relevance threshold, grading and the diversity feature; its metrics and cut-offs are replaced.
pub fn sweep(
    model: &dyn Recommender,
    data: &EvalData<'_>,
    opts: &EvalOptions,
    sw: &SweepOptions,
) -> Result<Sweep> {
    sw.validate()?;
    let features = data.item_features.ok_or_else(|| Error::InvalidParam {
        name: "rerank_sweep",
        reason: "re-rankers need item features (a categorical genre column)".into(),
    })?;
    // The candidate lists, once.
    let cand_opts = EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg], &[sw.candidates]),
        beyond: false,
        segment_features: Vec::new(),
        ..opts.clone()
    };
    let lists = evaluate(model, data, &cand_opts, true)?.lists;
    let score_opts = EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg, MetricKind::Recall], &[sw.k]),
        beyond: true,
        segment_features: Vec::new(),
        ..opts.clone()
    };
    let rel = relevance(data.test, opts.threshold, opts.graded);
    let popularity = data.train.item_counts();
    let column = opts.diversity_feature.as_str();
    let history = |u: UserIdx| -> Vec<(ItemIdx, f32)> {
        match data.fold_in {
            Some(f) if f.user_len(u) > 0 => f.history(u),
            _ => data.train.history(u),
        }
    };
    let mut curves = Vec::new();
    for &kind in &sw.kinds {
        let mut points = Vec::new();
        for p in kind.grid(sw.k) {
            let reranker = kind.build(p, sw.head_share)?;
            let reranked: Vec<Result<RankedList>> = lists
                .par_iter()
                .map(|l| {
                    let h = history(l.user);
                    let ctx = RerankContext::new()
                        .features(features, column)
                        .popularity(&popularity)
                        .history(&h);
                    let cands: Vec<Scored> = l
                        .items
                        .iter()
                        .zip(&l.scores)
                        .map(|(&item, &score)| Scored { item, score })
                        .collect();
                    let out = reranker.rerank(&cands, sw.k, &ctx)?;
                    Ok(RankedList {
                        user: l.user,
                        items: out.iter().map(|s| s.item).collect(),
                        scores: out.iter().map(|s| s.score).collect(),
                    })
                })
                .collect();
            let reranked: Vec<RankedList> = reranked.into_iter().collect::<Result<_>>()?;
            let e = score_lists(model.name(), &reranked, data, &score_opts, &rel)?;
            let mut metrics = e.means;
            metrics.extend(e.global);
            metrics.retain(|c, _| !c.starts_with("ild_emb") && !c.starts_with("serendipity"));
            points.push(SweepPoint { param: p, metrics });
        }
        curves.push(SweepCurve {
            reranker: kind.name().to_string(),
            param: kind.param_name().to_string(),
            points,
        });
    }
    Ok(Sweep {
        model: model.name().to_string(),
        k: sw.k,
        candidates: sw.candidates,
        curves,
    })
}

/// The sweeps as plain-text tables: per model, a row per (re-ranker, parameter).
pub fn to_text(sweeps: &[Sweep]) -> String {
    let mut s = String::new();
    for sw in sweeps {
        s.push_str(&format!(
            "\nre-ranker trade-offs: {} (top {} candidates re-ranked to {})\n",
            sw.model, sw.candidates, sw.k
        ));
        let cols = sw.columns();
        let acc = sw.accuracy();
        let mut rows: Vec<Vec<String>> = vec![
            ["re-ranker", "param", "value"]
                .iter()
                .map(|x| x.to_string())
                .chain(cols.iter().cloned())
                .chain(std::iter::once(format!("{acc} kept")))
                .collect(),
        ];
        for c in &sw.curves {
            let base = c.points.first().and_then(|p| p.metrics.get(&acc)).copied();
            for p in &c.points {
                let mut row = vec![c.reranker.clone(), c.param.clone(), fmt_param(p.param)];
                for col in &cols {
                    row.push(p.metrics.get(col).map_or("-".into(), |v| format!("{v:.4}")));
                }
                row.push(match (p.metrics.get(&acc), base) {
                    (Some(v), Some(b)) if b > 0.0 => format!("{:.1}%", 100.0 * v / b),
                    _ => "-".into(),
                });
                rows.push(row);
            }
        }
        s.push_str(&crate::table::render(&rows));
    }
    s
}

/// A parameter value without trailing zeros.
pub fn fmt_param(p: f64) -> String {
    let t = format!("{p:.2}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_start_neutral_and_parse() {
        for k in SweepKind::ALL {
            assert_eq!(SweepKind::parse(k.name()).unwrap(), k);
            let g = k.grid(10);
            assert!(g.len() >= 6);
            assert!(k.build(g[0], 0.5).is_ok());
        }
        assert_eq!(SweepKind::Cap.grid(3), vec![3.0, 2.0, 1.0]);
        assert!(SweepKind::parse("nope").is_err());
        assert_eq!(fmt_param(0.95), "0.95");
        assert_eq!(fmt_param(1.0), "1");
        let bad = SweepOptions {
            candidates: 5,
            ..SweepOptions::default()
        };
        assert!(bad.validate().is_err());
    }
}
