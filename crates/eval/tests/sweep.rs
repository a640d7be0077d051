//! Re-ranker trade-off curves on ML-100K: each curve starts at the model's own lists and moves the way its
//! parameter says (MMR and the genre cap buy diversity, the fair share buys long-tail exposure, each at some
//! NDCG), and the report carries them to the text, JSON and HTML outputs.

use std::path::PathBuf;

use tastebud_core::SplitSpec;
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::run::{EvalPlan, run_with_sweep};
use tastebud_eval::sweep::{SweepKind, SweepOptions};
use tastebud_eval::{EvalOptions, html};
use tastebud_models::NoProgress;
use tastebud_models::registry::ModelSpec;

fn ml100k() -> tastebud_core::Dataset {
    let data = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        data.join("ml-100k/u.data").is_file(),
        "real data not found at {} (set TASTEBUD_DATA)",
        data.display()
    );
    tastebud_data::load(&data.join("ml-100k"), &Default::default()).unwrap()
}

#[test]
fn sweep_curves_on_ml100k() {
    let data = ml100k();
    let splits = "user:0.2"
        .parse::<SplitSpec>()
        .unwrap()
        .apply(&data.interactions, 42)
        .unwrap();
    let plan = EvalPlan {
        models: vec![ModelSpec::new("ease").unwrap().param("lambda=200").unwrap()],
        runs: vec![],
        opts: EvalOptions {
            metrics: MetricSet::new(&[MetricKind::Ndcg], &[10]),
            threshold: Some(4.0),
            ..EvalOptions::default()
        },
        split: "user:0.2".into(),
        seed: 42,
        keep_lists: false,
        pretrained: Vec::new(),
    };
    let sw = SweepOptions::default();
    let out = run_with_sweep(&data, &splits, &plan, Some(&sw), &NoProgress).unwrap();
    let report = &out.report;
    assert_eq!(report.sweeps.len(), 1);
    let s = &report.sweeps[0];
    assert_eq!(s.model, "ease");
    assert_eq!(s.curves.len(), 4);
    let get = |c: usize, p: usize, m: &str| s.curves[c].points[p].metrics[&format!("{m}@10")];
    // The neutral first points are the model's own top 10: the same everywhere, and equal to the
    // evaluation's own NDCG@10 of the model.
    let ndcg = report.models[0].metrics["ndcg@10"].mean;
    for c in 0..4 {
        assert!((get(c, 0, "ndcg") - ndcg).abs() < 1e-9, "curve {c}");
        assert!((get(c, 0, "ild") - get(0, 0, "ild")).abs() < 1e-9);
    }
    let last = |c: usize| s.curves[c].points.len() - 1;
    let (mmr, cal, fair, cap) = (0, 1, 2, 3);
    assert_eq!(s.curves[mmr].reranker, SweepKind::Mmr.name());
    // MMR at λ = 0 and a cap of one per genre: more diverse lists, lower NDCG.
    for c in [mmr, cap] {
        assert!(get(c, last(c), "ild") > get(c, 0, "ild") + 0.05, "{c}");
        assert!(get(c, last(c), "ndcg") < get(c, 0, "ndcg"));
    }
    // The fair share: more long-tail items, a lower exposure Gini, more coverage.
    assert!(get(fair, last(fair), "long_tail") > get(fair, 0, "long_tail") + 0.2);
    assert!(get(fair, last(fair), "gini") < get(fair, 0, "gini"));
    assert!(get(fair, last(fair), "coverage") > get(fair, 0, "coverage"));
    // Calibration moves the lists too.
    assert!((get(cal, last(cal), "ild") - get(cal, 0, "ild")).abs() > 1e-3);

    let text = report.to_text();
    println!("{}", tastebud_eval::sweep::to_text(&report.sweeps));
    assert!(text.contains("re-ranker trade-offs: ease"));
    let json = serde_json::to_string(report).unwrap();
    let back: tastebud_eval::report::Report = serde_json::from_str(&json).unwrap();
    // JSON keeps every point (floats to within their last digit).
    for (a, b) in back.sweeps[0].curves.iter().zip(&s.curves) {
        assert_eq!(
            (a.reranker.as_str(), a.points.len()),
            (b.reranker.as_str(), b.points.len())
        );
        for (p, q) in a.points.iter().zip(&b.points) {
            assert_eq!(p.metrics.len(), q.metrics.len());
            for (k, v) in &p.metrics {
                assert!((v - q.metrics[k]).abs() <= 1e-12 * v.abs().max(1.0), "{k}");
            }
        }
    }
    let page = html::render(report);
    assert_eq!(page.matches("data-chart=\"tradeoff\"").count(), 3);
    assert!(page.contains("id=\"tradeoffs\""));
    if let Some(dir) = std::env::var_os("TASTEBUD_SWEEP_HTML") {
        std::fs::write(PathBuf::from(dir), &page).unwrap();
    }
}
