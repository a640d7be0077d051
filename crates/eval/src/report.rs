//! The evaluation report: every model on every fold, summarised, compared, and rendered as a table, JSON or
//! CSV.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use tastebud_core::UserIdx;

use crate::evaluator::{EvalOptions, ModelEval, SegmentRow, segments};
use crate::significance::{bootstrap_ci, holm, mean_std, paired_t_test, wilcoxon_signed_rank};
use crate::table::render;

/// Mean and standard deviation (over folds; 0 with one fold).
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation across folds.
    pub std: f64,
}

/// One model's summary over all folds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Model name.
    pub model: String,
    /// Every metric (per-user means and catalogue-level values) as mean ± std over folds.
    pub metrics: BTreeMap<String, Stat>,
    /// Users evaluated, summed over folds.
    pub users: usize,
    /// Test users without a relevant item, summed over folds.
    pub skipped_users: usize,
    /// Evaluation seconds, summed over folds (includes recommending).
    pub seconds: f64,
    /// Fit seconds, summed over folds, when the caller measured them.
    pub fit_seconds: Option<f64>,
    /// Per-segment means (all folds pooled).
    pub segments: Vec<SegmentRow>,
}

/// A paired comparison of a model with the baseline on one metric, over the same users (and folds).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Comparison {
    /// The model compared.
    pub model: String,
    /// The baseline.
    pub baseline: String,
    /// The metric column.
    pub metric: String,
    /// Paired users.
    pub n: usize,
    /// Mean of (model - baseline).
    pub mean_diff: f64,
    /// 95 % percentile-bootstrap interval of the mean difference.
    pub ci_low: f64,
    /// Upper end of the interval.
    pub ci_high: f64,
    /// Paired t-test p-value (two-sided).
    pub t_p: f64,
    /// Wilcoxon signed-rank p-value (two-sided).
    pub wilcoxon_p: f64,
    /// Holm-adjusted t-test p-value across the models compared with this baseline on this metric.
    pub holm_p: f64,
    /// `holm_p < 0.05`.
    pub significant: bool,
}

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Dataset name.
    pub dataset: String,
    /// Split protocol.
    pub split: String,
    /// Seed of the split.
    pub seed: u64,
    /// Ranking protocol description.
    pub protocol: String,
    /// True for the sampled protocol, whose numbers are not comparable with full ranking.
    pub sampled: bool,
    /// Relevance threshold on test values.
    pub threshold: Option<f32>,
    /// Cut-offs.
    pub ks: Vec<usize>,
    /// Number of folds.
    pub folds: usize,
    /// Column order of the metrics.
    pub columns: Vec<String>,
    /// One summary per model, in the order given.
    pub models: Vec<ModelSummary>,
    /// Paired comparisons with the baseline (the first model).
    pub comparisons: Vec<Comparison>,
    /// Re-ranker trade-off curves, when asked for (`evaluate --rerank-sweep`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sweeps: Vec<crate::sweep::Sweep>,
    /// What the fits chose and said (e.g. the support association rules chose), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Builds a report from per-fold results: `evals[m][f]` is model `m` on fold `f`. The first model is the
/// baseline for comparisons.
#[allow(clippy::too_many_arguments)]
pub fn build(
    dataset: &str,
    split: &str,
    seed: u64,
    opts: &EvalOptions,
    evals: &[Vec<ModelEval>],
    fit_seconds: &[Option<f64>],
    user_features: &[Option<&tastebud_core::FeatureTable>],
) -> Report {
    let folds = evals.first().map_or(0, Vec::len);
    let mut columns: Vec<String> = Vec::new();
    for e in evals.iter().flatten() {
        for c in e.columns.iter().chain(e.global.keys()) {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        }
    }
    let models: Vec<ModelSummary> = evals
        .iter()
        .enumerate()
        .map(|(m, per_fold)| {
            let mut metrics = BTreeMap::new();
            for c in &columns {
                let vals: Vec<f64> = per_fold
                    .iter()
                    .filter_map(|e| e.means.get(c).or_else(|| e.global.get(c)).copied())
                    .collect();
                if !vals.is_empty() {
                    let (mean, std) = mean_std(&vals);
                    metrics.insert(c.clone(), Stat { mean, std });
                }
            }
            let mut segs: Vec<SegmentRow> = Vec::new();
            // Pool per-fold segment rows: weighted means by users.
            for (f, e) in per_fold.iter().enumerate() {
                for row in segments(e, opts, user_features.get(f).copied().flatten()) {
                    match segs
                        .iter_mut()
                        .find(|s| s.by == row.by && s.segment == row.segment)
                    {
                        Some(s) => {
                            let (n0, n1) = (s.users as f64, row.users as f64);
                            for (k, v) in row.means {
                                let e = s.means.entry(k).or_insert(v);
                                *e = (*e * n0 + v * n1) / (n0 + n1);
                            }
                            s.users += row.users;
                        }
                        None => segs.push(row),
                    }
                }
            }
            segs.sort_by(|a, b| {
                a.by.cmp(&b.by)
                    .then(segment_order(&a.segment).cmp(&segment_order(&b.segment)))
            });
            ModelSummary {
                model: per_fold
                    .first()
                    .map_or_else(String::new, |e| e.model.clone()),
                metrics,
                users: per_fold.iter().map(|e| e.users.len()).sum(),
                skipped_users: per_fold.iter().map(|e| e.skipped_users).sum(),
                seconds: per_fold.iter().map(|e| e.seconds).sum(),
                fit_seconds: fit_seconds.get(m).copied().flatten(),
                segments: segs,
            }
        })
        .collect();
    let comparisons = compare(evals, opts);
    Report {
        dataset: dataset.to_string(),
        split: split.to_string(),
        seed,
        protocol: opts.protocol.describe(),
        sampled: matches!(opts.protocol, crate::evaluator::Protocol::Sampled { .. }),
        threshold: opts.threshold,
        ks: opts.metrics.ks.clone(),
        folds,
        columns,
        models,
        comparisons,
        sweeps: Vec::new(),
        notes: Vec::new(),
    }
}

/// Sort key that puts cold-start buckets in numeric order (`0 (new)`, `1-5`, `6-20`, ..., `>100`).
pub(crate) fn segment_order(s: &str) -> (u64, String) {
    let digits: String = s
        .trim_start_matches('>')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n = digits
        .parse::<u64>()
        .map_or(u64::MAX, |n| if s.starts_with('>') { n + 1 } else { n });
    (n, s.to_string())
}

/// Paired comparisons of every model with the first, on every ranking column, pairing (fold, user).
fn compare(evals: &[Vec<ModelEval>], opts: &EvalOptions) -> Vec<Comparison> {
    let Some(base) = evals.first() else {
        return Vec::new();
    };
    let rank_cols = opts.metrics.columns();
    let mut out = Vec::new();
    for col in &rank_cols {
        let mut rows: Vec<Comparison> = Vec::new();
        for other in &evals[1..] {
            let mut a = Vec::new();
            let mut b = Vec::new();
            for (fb, fo) in base.iter().zip(other) {
                let (Some(vb), Some(vo)) = (fb.column(col), fo.column(col)) else {
                    continue;
                };
                let idx: BTreeMap<UserIdx, usize> =
                    fb.users.iter().enumerate().map(|(k, &u)| (u, k)).collect();
                for (k, u) in fo.users.iter().enumerate() {
                    if let Some(&j) = idx.get(u)
                        && !vo[k].is_nan()
                        && !vb[j].is_nan()
                    {
                        a.push(vo[k]);
                        b.push(vb[j]);
                    }
                }
            }
            let t = paired_t_test(&a, &b).ok();
            let w = wilcoxon_signed_rank(&a, &b).ok();
            let ci = bootstrap_ci(&a, &b, 0.95, 2000, 7).ok();
            let mean_diff = if a.is_empty() {
                f64::NAN
            } else {
                a.iter().zip(&b).map(|(x, y)| x - y).sum::<f64>() / a.len() as f64
            };
            rows.push(Comparison {
                model: other.first().map_or_else(String::new, |e| e.model.clone()),
                baseline: base.first().map_or_else(String::new, |e| e.model.clone()),
                metric: col.clone(),
                n: a.len(),
                mean_diff,
                ci_low: ci.as_ref().map_or(f64::NAN, |c| c.low),
                ci_high: ci.as_ref().map_or(f64::NAN, |c| c.high),
                // Identical values (a model compared with itself) mean no evidence of a difference: p = 1.
                t_p: t.as_ref().map_or(1.0, |t| t.p_value),
                wilcoxon_p: w.as_ref().map_or(1.0, |w| w.p_value),
                holm_p: f64::NAN,
                significant: false,
            });
        }
        let adjusted = holm(&rows.iter().map(|r| r.t_p).collect::<Vec<_>>());
        for (r, p) in rows.iter_mut().zip(adjusted) {
            r.holm_p = p;
            r.significant = p < 0.05;
        }
        out.extend(rows);
    }
    out
}

impl Report {
    /// The columns shown for cut-off `k` in the table: ranking metrics, then beyond-accuracy ones.
    pub fn columns_at(&self, k: usize) -> Vec<&str> {
        let suffix = format!("@{k}");
        self.columns
            .iter()
            .filter(|c| c.ends_with(&suffix))
            .map(String::as_str)
            .collect()
    }

    /// Columns without a cut-off (AUC, RMSE, MAE).
    pub fn columns_uncut(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| !c.contains('@'))
            .map(String::as_str)
            .collect()
    }

    fn cell(&self, m: &ModelSummary, c: &str) -> String {
        match m.metrics.get(c) {
            Some(s) if self.folds > 1 => format!("{:.4} ± {:.4}", s.mean, s.std),
            Some(s) => format!("{:.4}", s.mean),
            None => "-".into(),
        }
    }

    /// Plain-text tables: one per cut-off (a row per model, metrics as columns), then significance.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} | split {} (seed {}) | {} fold(s) | {}{}",
            self.dataset,
            self.split,
            self.seed,
            self.folds,
            self.protocol,
            self.threshold
                .map_or_else(String::new, |t| format!(" | relevant: value >= {t}"))
        );
        // Per K: an accuracy table and a beyond-accuracy table (a row per model, metrics as columns);
        // then metrics without a cut-off. Columns no model has a value for are left out.
        let beyond = |c: &str| {
            crate::beyond::LIST_METRICS
                .iter()
                .chain(["coverage", "gini"].iter())
                .any(|m| c.starts_with(&format!("{m}@")))
        };
        let mut groups: Vec<(String, String, Vec<&str>)> = Vec::new();
        for &k in &self.ks {
            let suffix = format!("@{k}");
            let cols: Vec<&str> = self
                .columns_at(k)
                .into_iter()
                .filter(|c| self.models.iter().any(|m| m.metrics.contains_key(*c)))
                .collect();
            let (acc, bey): (Vec<&str>, Vec<&str>) = cols.into_iter().partition(|c| !beyond(c));
            groups.push((format!("accuracy at K={k}"), suffix.clone(), acc));
            groups.push((format!("beyond accuracy at K={k}"), suffix, bey));
        }
        groups.push((
            "without cut-off".into(),
            String::new(),
            self.columns_uncut(),
        ));
        for (title, suffix, cols) in groups {
            if cols.is_empty() {
                continue;
            }
            let header: Vec<String> = std::iter::once("model".to_string())
                .chain(cols.iter().map(|c| {
                    if suffix.is_empty() {
                        c.to_string()
                    } else {
                        c.replace(&suffix, "")
                    }
                }))
                .collect();
            let mut rows: Vec<Vec<String>> = vec![header];
            for m in &self.models {
                rows.push(
                    std::iter::once(m.model.clone())
                        .chain(cols.iter().map(|c| self.cell(m, c)))
                        .collect(),
                );
            }
            let _ = writeln!(s, "\n{title}");
            s.push_str(&render(&rows));
        }
        let primary = self.primary_metric();
        if let (Some(metric), Some(first)) = (primary.as_ref(), self.models.first())
            && !first.segments.is_empty()
        {
            let _ = writeln!(s, "\n{metric} by segment (users in brackets)");
            let mut rows = vec![
                ["by", "segment"]
                    .iter()
                    .map(|x| x.to_string())
                    .chain(self.models.iter().map(|m| m.model.clone()))
                    .collect::<Vec<_>>(),
            ];
            for seg in &first.segments {
                let mut row = vec![seg.by.clone(), format!("{} ({})", seg.segment, seg.users)];
                for m in &self.models {
                    let v = m
                        .segments
                        .iter()
                        .find(|x| x.by == seg.by && x.segment == seg.segment);
                    row.push(
                        v.and_then(|x| x.means.get(metric))
                            .map_or_else(|| "-".into(), |v| format!("{v:.4}")),
                    );
                }
                rows.push(row);
            }
            s.push_str(&render(&rows));
        }
        let cmp: Vec<&Comparison> = self
            .comparisons
            .iter()
            .filter(|c| Some(&c.metric) == primary.as_ref())
            .collect();
        if !cmp.is_empty() {
            let _ = writeln!(
                s,
                "\npaired tests vs {} on {} (Holm-adjusted over models)",
                cmp[0].baseline, cmp[0].metric
            );
            let mut rows = vec![
                [
                    "model",
                    "diff",
                    "95% CI",
                    "t-test p",
                    "Wilcoxon p",
                    "Holm p",
                    "",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for c in cmp {
                rows.push(vec![
                    c.model.clone(),
                    format!("{:+.4}", c.mean_diff),
                    format!("[{:+.4}, {:+.4}]", c.ci_low, c.ci_high),
                    fmt_p(c.t_p),
                    fmt_p(c.wilcoxon_p),
                    fmt_p(c.holm_p),
                    if c.significant {
                        "*".into()
                    } else {
                        String::new()
                    },
                ]);
            }
            s.push_str(&render(&rows));
        }
        s.push_str(&crate::sweep::to_text(&self.sweeps));
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }

    /// The metric used for significance marks: NDCG@10, else the first NDCG column, else the first ranking
    /// column.
    pub fn primary_metric(&self) -> Option<String> {
        let cols: Vec<&String> = self.comparisons.iter().map(|c| &c.metric).collect();
        cols.iter()
            .find(|c| c.as_str() == "ndcg@10")
            .or_else(|| cols.iter().find(|c| c.starts_with("ndcg@")))
            .or_else(|| cols.first())
            .map(|c| c.to_string())
    }

    /// CSV: one row per model, `mean` and `std` columns for every metric.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("model");
        for c in &self.columns {
            let _ = write!(s, ",{c},{c}_std");
        }
        s.push('\n');
        for m in &self.models {
            s.push_str(&csv_field(&m.model));
            for c in &self.columns {
                match m.metrics.get(c) {
                    Some(v) => {
                        let _ = write!(s, ",{},{}", v.mean, v.std);
                    }
                    None => s.push_str(",,"),
                }
            }
            s.push('\n');
        }
        s
    }
}

/// A p-value for people: `< 1e-300` when it underflows to 0.
fn fmt_p(p: f64) -> String {
    if p == 0.0 {
        "< 1e-300".into()
    } else {
        format!("{p:.2e}")
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
