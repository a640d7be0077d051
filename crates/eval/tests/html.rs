//! The HTML report: one self-contained page with escaped names, bold best values, significance marks, one
//! `<svg>` per chart and no NaN/inf text.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tastebud_eval::evaluator::SegmentRow;
use tastebud_eval::html::render;
use tastebud_eval::report::{Comparison, ModelSummary, Report, Stat};

const NASTY: &str = "KNN <&> \"v2\"";

fn stat(mean: f64) -> Stat {
    Stat {
        mean,
        std: mean * 0.05,
    }
}

fn segment(bucket: &str, users: usize, ndcg: f64) -> SegmentRow {
    SegmentRow {
        by: "train interactions".into(),
        segment: bucket.into(),
        users,
        means: BTreeMap::from([("ndcg@5".to_string(), ndcg)]),
    }
}

fn comparison(model: &str, metric: &str, diff: f64, holm_p: f64) -> Comparison {
    Comparison {
        model: model.into(),
        baseline: "Popularity".into(),
        metric: metric.into(),
        n: 900,
        mean_diff: diff,
        ci_low: diff - 0.01,
        ci_high: diff + 0.01,
        t_p: holm_p / 2.0,
        wilcoxon_p: holm_p / 3.0,
        holm_p,
        significant: holm_p < 0.05,
    }
}

/// Three models, K in {5, 10, 20}, five folds, cold-start segments, one significant comparison; some values
/// are NaN, infinite or missing.
fn report(sampled: bool) -> Report {
    let ks = [5usize, 10, 20];
    let mut columns = Vec::new();
    for m in ["precision", "recall", "ndcg"] {
        for k in ks {
            columns.push(format!("{m}@{k}"));
        }
    }
    for m in ["novelty", "coverage", "gini"] {
        for k in ks {
            columns.push(format!("{m}@{k}"));
        }
    }
    columns.push("rmse".to_string());
    let names = ["Popularity", NASTY, "EASE"];
    let models = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let f = i as f64;
            let mut metrics = BTreeMap::new();
            for (j, k) in ks.iter().enumerate() {
                let kk = j as f64;
                metrics.insert(format!("precision@{k}"), stat(0.11 + 0.01 * f - 0.02 * kk));
                metrics.insert(format!("recall@{k}"), stat(0.05 + 0.02 * f + 0.05 * kk));
                metrics.insert(format!("ndcg@{k}"), stat(0.13 + 0.03 * f + 0.01 * kk));
                metrics.insert(format!("novelty@{k}"), stat(7.0 + f));
                metrics.insert(format!("coverage@{k}"), stat(0.02 + 0.1 * f + 0.01 * kk));
            }
            metrics.insert("rmse".into(), stat(1.1 - 0.05 * f));
            ModelSummary {
                model: name.to_string(),
                metrics,
                users: 900,
                skipped_users: 3,
                seconds: 1.5,
                fit_seconds: Some(2.0),
                segments: vec![
                    segment("0 (new)", 40, 0.01 + 0.01 * f),
                    segment("1-5", 200, 0.08 + 0.02 * f),
                    segment("6-20", 360, 0.12 + 0.03 * f),
                    segment(">100", 100, 0.2 + 0.04 * f),
                    segment("21-100", 200, 0.16 + 0.03 * f),
                ],
            }
        })
        .collect::<Vec<_>>();
    let mut r = Report {
        dataset: "ml-100k <sample>".into(),
        split: "random 80/20".into(),
        seed: 42,
        protocol: if sampled {
            "SAMPLED: each relevant item against 100 sampled negatives (not comparable with full ranking)".into()
        } else {
            "full ranking over all items not in the user's training data".into()
        },
        sampled,
        threshold: Some(4.0),
        ks: ks.to_vec(),
        folds: 5,
        columns,
        models,
        comparisons: vec![
            comparison(NASTY, "ndcg@5", 0.03, 1e-4),
            comparison("EASE", "ndcg@5", 0.06, 0.2),
            comparison(NASTY, "recall@5", 0.02, f64::NAN),
        ],
        sweeps: Vec::new(),
        notes: Vec::new(),
    };
    // Best values that the test can find: the lowest Gini and RMSE, the highest NDCG@10.
    for (m, (gini, ndcg10)) in r
        .models
        .iter_mut()
        .zip([(0.91, 0.2), (0.6125, 0.25), (0.7, 0.3125)])
    {
        for k in ks {
            m.metrics
                .insert(format!("gini@{k}"), stat(gini + k as f64 * 1e-3));
        }
        m.metrics.insert("ndcg@10".into(), stat(ndcg10));
    }
    // Trouble: NaN, infinity and a missing value.
    r.models[2]
        .metrics
        .insert("precision@20".into(), stat(f64::NAN));
    r.models[2].metrics.insert(
        "novelty@5".into(),
        Stat {
            mean: f64::INFINITY,
            std: f64::NAN,
        },
    );
    r.models[1].metrics.remove("recall@10");
    r.models[1]
        .metrics
        .insert("coverage@20".into(), stat(f64::NEG_INFINITY));
    r.models[0].segments[2]
        .means
        .insert("ndcg@5".into(), f64::NAN);
    r
}

/// Checks that every element is closed in order (the page is written as well-formed XHTML-style markup).
fn assert_well_formed(html: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').expect("unclosed tag");
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("stray </{name}>"));
            assert_eq!(open, name, "</{name}> closes <{open}>");
        } else if !tag.ends_with('/') {
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

/// "inf" as a number (not inside a word such as "self-information").
fn has_inf_token(s: &str) -> bool {
    let b = s.as_bytes();
    s.match_indices("inf").any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + 3).copied();
        !before.is_some_and(|c| c.is_ascii_alphabetic())
            && !after.is_some_and(|c| c.is_ascii_alphabetic())
    })
}

#[test]
fn one_self_contained_document() {
    let html = render(&report(false));
    assert!(html.starts_with("<!DOCTYPE html>\n<html"));
    assert!(html.ends_with("</html>\n"));
    for tag in ["<html", "<head>", "<body>", "<style>", "<main>", "<footer>"] {
        assert_eq!(html.matches(tag).count(), 1, "{tag}");
    }
    assert_well_formed(&html);
    // Offline and script-free.
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert!(!html.contains("src="));
    assert_eq!(
        html.matches("http://").count(),
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    assert!(!html.contains("https://"));
    // Header.
    assert!(html.contains("random 80/20 (seed 42)"));
    assert!(html.contains("<dt>Folds</dt><dd>5</dd>"));
    assert!(html.contains("full ranking over all items"));
}

#[test]
fn one_svg_per_chart() {
    let html = render(&report(false));
    // precision, recall and NDCG at three cut-offs, accuracy vs coverage, segments.
    assert_eq!(html.matches("<svg").count(), 5);
    assert_eq!(html.matches("</svg>").count(), 5);
    assert_eq!(html.matches("data-chart=\"curve\"").count(), 3);
    assert_eq!(html.matches("data-chart=\"scatter\"").count(), 1);
    assert_eq!(html.matches("data-chart=\"segments\"").count(), 1);
    for t in ["precision@K", "recall@K", "ndcg@K"] {
        assert!(html.contains(&format!("<title>{t}</title>")), "{t}");
    }

    // Without segments or coverage only the curves remain; with one cut-off there are none.
    let mut r = report(false);
    r.columns.retain(|c| !c.starts_with("coverage"));
    for m in &mut r.models {
        m.segments.clear();
    }
    let html = render(&r);
    assert_eq!(html.matches("<svg").count(), 3);
    assert!(!html.contains("id=\"segments\""));
    r.ks = vec![10];
    r.columns.retain(|c| c.ends_with("@10") || !c.contains('@'));
    let html = render(&r);
    assert_eq!(html.matches("<svg").count(), 0);
    assert_well_formed(&html);
}

#[test]
fn axis_labels_and_legends() {
    let html = render(&report(false));
    assert_eq!(html.matches("class=\"axis-label\"").count(), 10);
    assert_eq!(
        html.matches("font-size=\"13\" text-anchor=\"middle\" fill=\"#1b1b1b\">K</text>")
            .count(),
        3
    );
    for label in [
        "precision",
        "recall",
        "ndcg",
        "ndcg@5",
        "coverage@20",
        "ndcg@20",
        "training interactions per user",
    ] {
        assert!(
            html.contains(&format!("fill=\"#1b1b1b\">{label}</text>")),
            "{label}"
        );
    }
    // The scatter uses the largest K with coverage and NDCG.
    assert!(html.contains("<title>ndcg vs coverage</title>"));
    // Fonts are at least 11 px.
    for size in html.split("font-size=\"").skip(1) {
        let px: f64 = size[..size.find('"').unwrap()].parse().unwrap();
        assert!(px >= 11.0, "font-size {px}");
    }
    // Every model is in the legends, escaped.
    assert!(html.contains(">EASE<title>EASE</title></text>"));
    assert!(html.contains(">KNN &lt;&amp;&gt; &quot;v2&quot;<title>"));
}

#[test]
fn names_are_escaped() {
    let html = render(&report(false));
    assert!(!html.contains(NASTY));
    assert!(!html.contains("<&>"));
    assert!(!html.contains("<sample>"));
    assert!(html.contains("KNN &lt;&amp;&gt; &quot;v2&quot;"));
    assert!(html.contains("<title>Evaluation report: ml-100k &lt;sample&gt;</title>"));
}

#[test]
fn sampled_warning_only_when_sampled() {
    let full = render(&report(false));
    assert!(!full.contains("class=\"warning\""));
    let sampled = render(&report(true));
    assert_eq!(sampled.matches("class=\"warning\"").count(), 1);
    assert!(sampled.contains("not comparable with, full-ranking results"));
}

#[test]
fn best_values_are_bold() {
    let html = render(&report(false));
    // Highest NDCG@10, lowest Gini@10 and RMSE.
    assert!(html.contains("<td class=\"best\"><strong>0.3125</strong> <span class=\"std\">± 0.01"));
    assert!(html.contains("<strong>0.6225</strong>"));
    assert!(!html.contains("<strong>0.9200</strong>"));
    assert!(html.contains("<strong>1.0000</strong>"));
    assert!(!html.contains("<strong>1.1000</strong>"));
    // One bold value per column and cut-off group, except where all values are missing or only one.
    let bold = html.matches("<td class=\"best\">").count();
    assert_eq!(bold, 6 * 3 + 1, "{bold}");
    // A single model has nothing to be best against.
    let mut r = report(false);
    r.models.truncate(1);
    r.comparisons.clear();
    let one = render(&r);
    assert!(!one.contains("class=\"best\""));
    assert!(!one.contains("id=\"significance\""));
    assert!(one.contains("±"));
    // One fold: no standard deviations.
    r.folds = 1;
    assert!(!render(&r).contains("±"));
}

#[test]
fn significance_marks_on_primary_metric() {
    let r = report(false);
    assert_eq!(r.primary_metric().as_deref(), Some("ndcg@5"));
    let html = render(&r);
    // Only the significant comparison on the primary metric is marked in the results table, and again in
    // the paired-test table.
    assert_eq!(html.matches("<span class=\"sig up\"").count(), 2);
    assert!(html.contains("Holm p = 1.00e-4"));
    assert!(!html.contains("sig down"));
    assert!(html.contains("<h2>Paired tests vs Popularity</h2>"));
    assert_eq!(html.matches("<tr class=\"primary\">").count(), 2);
    assert!(html.contains("<td>+0.0300</td><td>[+0.0200, +0.0400]</td>"));
    // Worse and significant: a down mark.
    let mut r = r;
    r.comparisons[0].mean_diff = -0.03;
    assert!(render(&r).contains("<span class=\"sig down\""));
}

#[test]
fn no_nan_or_inf_text() {
    let r = report(false);
    let html = render(&r);
    assert!(!html.contains("NaN"));
    assert!(!has_inf_token(&html), "inf in output");
    assert!(has_inf_token("x inf<") && !has_inf_token("self-information"));
    // A model whose values are all non-finite gets no points but the page still renders.
    let mut r = r;
    for s in r.models[0].metrics.values_mut() {
        s.mean = f64::NAN;
    }
    for c in &mut r.comparisons {
        c.mean_diff = f64::NAN;
        c.ci_low = f64::NAN;
        c.ci_high = f64::INFINITY;
        c.t_p = f64::NAN;
        c.wilcoxon_p = f64::NAN;
    }
    let html = render(&r);
    assert!(!html.contains("NaN"));
    assert!(!has_inf_token(&html));
    assert_eq!(html.matches("<svg").count(), 5);
    assert_well_formed(&html);
    // No models at all.
    r.models.clear();
    r.comparisons.clear();
    let html = render(&r);
    assert!(html.contains("No models were evaluated."));
    assert_well_formed(&html);
}

#[test]
fn writes_to_a_file() {
    let html = render(&report(true));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    std::fs::write(&path, &html).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), html);
}

/// A realistic report with four models, written to `target/report-example.html` for a person to open:
/// `cargo test -p tastebud-eval --test html -- --ignored`.
#[test]
#[ignore = "writes target/report-example.html for a person to look at"]
fn example_page() {
    let ks = [5usize, 10, 20];
    let ranking = ["precision", "recall", "ndcg", "map", "mrr", "hit_rate"];
    let beyond = [
        "novelty",
        "ild",
        "arp",
        "long_tail",
        "serendipity",
        "coverage",
        "gini",
    ];
    let mut columns: Vec<String> = Vec::new();
    for m in ranking.iter().chain(&beyond) {
        for k in ks {
            columns.push(format!("{m}@{k}"));
        }
    }
    columns.push("auc".into());
    // (name, accuracy scale, coverage, popularity bias)
    let specs = [
        ("Popularity", 0.55, 0.02, 1.0),
        ("ItemKNN (k=50)", 0.85, 0.18, 0.7),
        ("EASE λ=500", 1.0, 0.27, 0.6),
        (
            "BPR-MF <dim=64> & friends, with a rather long name",
            0.8,
            0.41,
            0.5,
        ),
    ];
    let buckets = [
        ("0 (new)", 57),
        ("1-5", 112),
        ("6-20", 251),
        ("21-100", 389),
        (">100", 134),
    ];
    let models: Vec<ModelSummary> = specs
        .iter()
        .map(|&(name, acc, cov, pop)| {
            let mut metrics = BTreeMap::new();
            for k in ks {
                let kf = k as f64;
                let put = |m: &mut BTreeMap<String, Stat>, c: &str, v: f64| {
                    m.insert(
                        format!("{c}@{k}"),
                        Stat {
                            mean: v,
                            std: v * 0.04,
                        },
                    );
                };
                put(&mut metrics, "precision", acc * 0.42 / kf.sqrt());
                put(&mut metrics, "recall", acc * 0.06 * kf.sqrt());
                put(&mut metrics, "ndcg", acc * (0.29 + 0.012 * kf.ln()));
                put(&mut metrics, "map", acc * (0.12 + 0.01 * kf.ln()));
                put(&mut metrics, "mrr", acc * (0.45 + 0.03 * kf.ln()));
                put(
                    &mut metrics,
                    "hit_rate",
                    (acc * (0.55 + 0.12 * kf.ln())).min(1.0),
                );
                put(&mut metrics, "novelty", 2.0 + 6.0 * (1.0 - pop) + 0.05 * kf);
                put(&mut metrics, "ild", 0.7 + 0.1 * (1.0 - pop));
                put(&mut metrics, "arp", 320.0 * pop - kf);
                put(&mut metrics, "long_tail", 0.5 * (1.0 - pop));
                put(&mut metrics, "serendipity", acc * 0.1 * (1.0 - pop));
                put(
                    &mut metrics,
                    "coverage",
                    (cov * (1.0 + 0.3 * kf.ln())).min(1.0),
                );
                put(&mut metrics, "gini", 0.99 - 0.4 * cov);
            }
            metrics.insert(
                "auc".into(),
                Stat {
                    mean: 0.8 + 0.1 * acc,
                    std: 0.003,
                },
            );
            let segments = buckets
                .iter()
                .enumerate()
                .map(|(b, &(bucket, users))| SegmentRow {
                    by: "train interactions".into(),
                    segment: bucket.into(),
                    users,
                    means: BTreeMap::from([(
                        "ndcg@5".to_string(),
                        if b == 0 {
                            0.2 * (2.0 - acc)
                        } else {
                            acc * (0.15 + 0.05 * b as f64)
                        },
                    )]),
                })
                .collect();
            ModelSummary {
                model: name.into(),
                metrics,
                users: 943 * 5,
                skipped_users: 12,
                seconds: 3.2 * acc,
                fit_seconds: Some(11.0 * acc),
                segments,
            }
        })
        .collect();
    let mut comparisons = Vec::new();
    for col in ["precision@5", "ndcg@5", "ndcg@10"] {
        for (i, &(name, acc, _, _)) in specs.iter().enumerate().skip(1) {
            let diff = (acc - 0.55) * 0.3;
            let p = if i == 3 { 0.03 } else { 2e-6 / i as f64 };
            comparisons.push(Comparison {
                model: name.into(),
                baseline: "Popularity".into(),
                metric: col.into(),
                n: 4715,
                mean_diff: diff,
                ci_low: diff - 0.02,
                ci_high: diff + 0.02,
                t_p: p,
                wilcoxon_p: p * 1.7,
                holm_p: (p * (4 - i) as f64).min(1.0),
                significant: p * ((4 - i) as f64) < 0.05,
            });
        }
    }
    let report = Report {
        dataset: "MovieLens 100K".into(),
        split: "random 80/20 per user".into(),
        seed: 42,
        protocol: "full ranking over all items not in the user's training data".into(),
        sampled: false,
        threshold: Some(4.0),
        ks: ks.to_vec(),
        folds: 5,
        columns,
        models,
        comparisons,
        sweeps: Vec::new(),
        notes: Vec::new(),
    };
    let html = render(&report);
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&target).unwrap();
    let path = target.join("report-example.html");
    std::fs::write(&path, html).unwrap();
    println!("wrote {}", path.display());
}

#[test]
fn cold_start_section_for_cold_item_splits_and_cold_user_segments() {
    // No cold segment and an ordinary split: no section.
    let html = render(&report(false));
    assert!(!html.contains("id=\"cold-start\""));
    // A cold-item split: the cold-item table, one row per model, the accuracy columns only.
    let mut r = report(false);
    r.split = "cold-items:0.2".into();
    let html = render(&r);
    assert_well_formed(&html);
    let sec = &html[html.find("id=\"cold-start\"").expect("cold-start section")..];
    let sec = &sec[..sec.find("</section>").unwrap()];
    assert!(sec.contains("Cold items (split <code>cold-items:0.2</code>)"));
    assert_eq!(sec.matches("<tr>").count(), 1 + 3, "{sec}");
    assert!(sec.contains(">ndcg@10</th>") && !sec.contains("novelty"));
    assert!(sec.contains("KNN &lt;&amp;&gt;"));
    // Cold-user segments: one row per (segment, model), cold users first.
    let mut r = report(false);
    for (i, m) in r.models.iter_mut().enumerate() {
        for (seg, users) in [("warm users (> 5)", 660), ("cold users (<= 5)", 240)] {
            m.segments.push(SegmentRow {
                by: "cold start".into(),
                segment: seg.into(),
                users,
                means: BTreeMap::from([("ndcg@5".to_string(), 0.1 + 0.01 * i as f64)]),
            });
        }
    }
    let html = render(&r);
    assert_well_formed(&html);
    let sec = &html[html.find("id=\"cold-start\"").unwrap()..];
    let sec = &sec[..sec.find("</section>").unwrap()];
    assert!(!sec.contains("Cold items"));
    assert_eq!(
        sec.matches("<tr><th class=\"name\" scope=\"row\">cold users")
            .count(),
        3
    );
    assert!(sec.find("cold users").unwrap() < sec.find("warm users").unwrap());
    assert!(
        sec.contains("<td>240</td>") && sec.contains("<td>0.11"),
        "{sec}"
    );
}
