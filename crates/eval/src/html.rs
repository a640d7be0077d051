//! A self-contained HTML page for a [`Report`]: header, results tables, SVG plots, segment breakdown, paired
//! tests and a metric glossary.
//!
//! The page needs nothing but a browser: no external assets, no JavaScript, inline CSS, and the plots are
//! inline `<svg>` elements drawn with [`tastebud_html::svg`] (axes, ticks, legends and labels are laid out
//! with fixed font sizes, so no font library is needed to measure text; this report's look is that crate's
//! default [`Style`]). Every string that comes from data (model, dataset, split and segment names) is
//! escaped by [`tastebud_html::escape`].
//!
//! ```
//! # use tastebud_eval::report::Report;
//! # fn page(report: &Report) -> std::io::Result<()> {
//! std::fs::write("report.html", tastebud_eval::html::render(report))
//! # }
//! ```

use std::fmt::Write as _;

use tastebud_html::svg::{
    Anchor, Chart, LegendEntry, Marker, NiceRange, Scale, Style, Swatch, Text, shorten, text_width,
};
use tastebud_html::{Page, escape as esc};

use crate::evaluator::SegmentRow;
use crate::metrics::MetricKind;
use crate::report::{Comparison, ModelSummary, Report};

/// Model colours (Okabe-Ito, colour-blind safe; the yellow swapped for olive, readable on white).
const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#4D4D4D", "#999933",
];

/// Metrics where a smaller value is better.
const LOWER_IS_BETTER: [&str; 4] = ["rmse", "mae", "arp", "gini"];

/// The segment group plotted as bars.
const COLD_GROUP: &str = "train interactions";

/// Longest name drawn inside a chart before it is shortened (the full name stays in the tooltip).
const MAX_LABEL_CHARS: usize = 32;

const CSS: &str = "
:root { color-scheme: light; }
body { margin: 0; background: #fff; color: #1b1b1b; font-size: 15px; line-height: 1.45;
  font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }
.wrap { max-width: 1240px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 24px; margin: 0 0 10px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 20px 0 6px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0; }
dl.meta dt { font-weight: 600; color: #555; }
dl.meta dd { margin: 0; }
.warning { margin: 16px 0; padding: 12px 16px; border: 2px solid #c2410c; border-left-width: 8px;
  border-radius: 6px; background: #fff4e5; color: #7c2d12; font-size: 16px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 7px; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap;
  vertical-align: top; }
th.name, td.name { text-align: left; white-space: normal; min-width: 150px; }
th.group { text-align: center; font-weight: 600; color: #555; border-bottom: 1px solid #c8c8c8; }
th.wrap-h { white-space: normal; width: 120px; }
thead th { background: #f4f4f4; border-bottom: 2px solid #c8c8c8; font-weight: 600; }
tbody th { font-weight: 500; }
td.best strong { font-weight: 700; }
.std { display: block; color: #666; font-size: 11.5px; line-height: 1.15; }
.sig { font-size: 13px; margin-left: 3px; cursor: help; }
.sig.up { color: #15803d; }
.sig.down { color: #b91c1c; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; }
.tag { font-size: 11px; color: #555; border: 1px solid #bbb; border-radius: 3px; padding: 0 4px; margin-left: 6px; }
.note { font-size: 13px; color: #555; margin: 8px 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 16px; }
figure { margin: 0; padding: 8px; border: 1px solid #e3e3e3; border-radius: 6px; background: #fff; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 13px; color: #555; margin: 6px 4px 0; }
.segments { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
tr.primary td { background: #fafafa; }
footer { margin-top: 40px; padding-top: 8px; border-top: 1px solid #ddd; font-size: 13.5px; color: #333; }
footer ul { padding-left: 18px; margin: 6px 0; }
footer li { margin: 2px 0; }
footer code { font-size: 13px; background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
";

/// Renders `report` as one self-contained HTML5 page (inline CSS and SVG, no scripts, no external assets).
///
/// The page has a header (dataset, split, folds, protocol, and a warning box for the sampled protocol), one
/// results table per cut-off (best value per column in bold, significance marks on the primary metric), SVG
/// plots (metric@K curves, accuracy vs coverage, per-segment bars), the paired tests, and a glossary of the
/// metrics shown. Missing or non-finite values are shown as `–` in tables and left out of plots.
pub fn render(report: &Report) -> String {
    let generator = format!(
        "<meta name=\"generator\" content=\"tastebud-eval {}\" />\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut h = Page::new(&format!("Evaluation report: {}", report.dataset))
        .style(CSS)
        .head(&generator)
        .open();
    h.push_str("<div class=\"wrap\">\n");
    header(&mut h, report);
    h.push_str("<main>\n");
    results(&mut h, report);
    plots(&mut h, report);
    segments(&mut h, report);
    cold_start(&mut h, report);
    comparisons(&mut h, report);
    tradeoffs(&mut h, report);
    h.push_str("</main>\n");
    footer(&mut h, report);
    h.push_str("</div>\n");
    Page::close(&mut h);
    h
}

// ---------------------------------------------------------------------------------------------------------
// Text helpers

/// A name shortened for drawing inside a chart.
fn short(s: &str) -> String {
    shorten(s, MAX_LABEL_CHARS)
}

/// Decimals shown for a value of this size: 4, or fewer for large values (popularity, novelty in bits).
fn decimals(v: f64) -> usize {
    match v.abs() {
        a if a >= 100.0 => 1,
        a if a >= 10.0 => 2,
        _ => 4,
    }
}

/// A metric value for tables, `–` when missing or not finite.
fn num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.*}", decimals(v)),
        _ => "–".into(),
    }
}

/// A signed difference, `–` when not finite.
fn signed(x: f64) -> String {
    if x.is_finite() {
        format!("{x:+.4}")
    } else {
        "–".into()
    }
}

/// A p-value: 4 decimals, scientific below 0.001, `–` when not finite.
fn pval(p: f64) -> String {
    if !p.is_finite() {
        "–".into()
    } else if p >= 1e-3 || p == 0.0 {
        format!("{p:.4}")
    } else {
        format!("{p:.2e}")
    }
}

/// The metric name of a column without its cut-off (`ndcg@10` → `ndcg`).
fn base(col: &str) -> &str {
    col.split('@').next().unwrap_or(col)
}

/// The family a column belongs to, for the group row of the results tables.
fn family(col: &str) -> &'static str {
    let b = base(col);
    if ranking_metrics().any(|m| m == b) || b == "auc" {
        "ranking accuracy"
    } else if b == "rmse" || b == "mae" {
        "rating error"
    } else {
        "beyond accuracy"
    }
}

fn lower_is_better(col: &str) -> bool {
    LOWER_IS_BETTER.contains(&base(col))
}

/// A model's finite mean for `col`.
fn mean_of(m: &ModelSummary, col: &str) -> Option<f64> {
    m.metrics.get(col).map(|s| s.mean).filter(|x| x.is_finite())
}

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Names of the ranking metrics computed at each K, in their usual order.
fn ranking_metrics() -> impl Iterator<Item = &'static str> {
    MetricKind::ALL
        .into_iter()
        .filter(|k| k.at_k())
        .map(MetricKind::name)
}

/// One-line definition of a metric (by its name without cut-off).
fn definition(metric: &str) -> Option<&'static str> {
    Some(match metric {
        "precision" => {
            "relevant items in the top K divided by K (always by K, even when fewer items were returned)."
        }
        "recall" => {
            "relevant items in the top K divided by the number of relevant test items |rel|."
        }
        "ndcg" => {
            "DCG@K / IDCG@K with DCG@K = Σ_{r≤K} hit(r) / log2(r + 1) and IDCG@K the DCG of an ideal list (binary gains)."
        }
        "ndcg_graded" => {
            "as NDCG with gain g(r), the relevance grade itself (e.g. the rating; trec_eval's linear gain)."
        }
        "map" => {
            "Σ_{r≤K} hit(r) · P@r / |rel| (divided by all relevant items, not min(K, |rel|); trec_eval map_cut)."
        }
        "mrr" => "1 / r* for the first relevant rank r* ≤ K, else 0.",
        "hit_rate" => "1 when at least one relevant item is in the top K, else 0.",
        "auc" => {
            "share of (relevant, non-relevant) pairs ordered correctly over the whole ranking; unranked items tie below the list."
        }
        "novelty" => {
            "mean self-information −log2(pop(i) / n_users) of the listed items, pop(i) = train users of i (at least 1)."
        }
        "ild" => {
            "intra-list diversity: mean over pairs i ≠ j in the list of 1 − cos(f_i, f_j), f an item's feature vector (e.g. genres)."
        }
        "ild_emb" => "intra-list diversity computed with the model's item embeddings.",
        "arp" => {
            "average recommendation popularity: mean pop(i) (train users of the item) over the list."
        }
        "long_tail" => {
            "share of the list outside the short head (the 20 % most popular train items)."
        }
        "serendipity" => {
            "share of the list that is relevant and not in the popularity baseline's top K for that user."
        }
        "coverage" => "distinct items recommended over all users' lists / catalogue size.",
        "gini" => {
            "Gini index of item exposure counts (0 = every item shown equally, 1 = one item shown to everyone)."
        }
        "rmse" => "root mean squared error √mean((pred − truth)²) over test ratings.",
        "mae" => "mean absolute error mean(|pred − truth|) over test ratings.",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------------------
// Page sections

fn header(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<header>\n<h1>Evaluation report: {}</h1>\n<dl class=\"meta\">\n",
        esc(&r.dataset)
    );
    let mut row = |k: &str, v: String| {
        let _ = writeln!(h, "<dt>{k}</dt><dd>{v}</dd>");
    };
    row("Dataset", esc(&r.dataset));
    row("Split", format!("{} (seed {})", esc(&r.split), r.seed));
    row("Folds", r.folds.to_string());
    row("Protocol", esc(&r.protocol));
    row(
        "Relevant",
        match r.threshold {
            Some(t) if t.is_finite() => format!("test interactions with value ≥ {t}"),
            _ => "every test interaction".into(),
        },
    );
    let ks: Vec<String> = r.ks.iter().map(usize::to_string).collect();
    row("Cut-offs", format!("K = {}", ks.join(", ")));
    row(
        "Models",
        match r.models.first() {
            Some(b) => format!("{} (baseline: {})", r.models.len(), esc(&b.model)),
            None => "none".into(),
        },
    );
    h.push_str("</dl>\n");
    if r.sampled {
        h.push_str(
            "<div class=\"warning\" role=\"alert\"><strong>⚠ Sampled protocol.</strong> Each relevant test item \
             was ranked against a small sample of negative items instead of the whole catalogue. These numbers \
             are much higher than, and <strong>not comparable with, full-ranking results</strong> (or with \
             sampled results using another number of negatives); they can even order models differently.</div>\n",
        );
    }
    h.push_str("</header>\n");
}

/// Column groups as in [`Report::to_text`]: one per cut-off, then the columns without one.
fn groups(r: &Report) -> Vec<(Option<usize>, Vec<&str>)> {
    let mut g: Vec<(Option<usize>, Vec<&str>)> =
        r.ks.iter().map(|&k| (Some(k), r.columns_at(k))).collect();
    g.push((None, r.columns_uncut()));
    g.retain(|(_, cols)| !cols.is_empty());
    g
}

/// The best finite value of a column among models, when at least two models have one.
fn best(r: &Report, col: &str) -> Option<f64> {
    let vals: Vec<f64> = r.models.iter().filter_map(|m| mean_of(m, col)).collect();
    if vals.len() < 2 {
        return None;
    }
    let lower = lower_is_better(col);
    vals.into_iter()
        .reduce(|a, b| if (b < a) == lower { b } else { a })
}

/// The significant comparison of `model` on `metric`, if any.
fn significant<'a>(r: &'a Report, model: &str, metric: &str) -> Option<&'a Comparison> {
    r.comparisons
        .iter()
        .find(|c| c.model == model && c.metric == metric && c.significant)
}

fn sig_mark(c: &Comparison) -> String {
    let up = c.mean_diff >= 0.0;
    let word = if up { "better" } else { "worse" };
    let tip = format!(
        "significantly {word} than {} on {} (mean diff {}, paired t-test, Holm p = {})",
        c.baseline,
        c.metric,
        signed(c.mean_diff),
        pval(c.holm_p)
    );
    format!(
        "<span class=\"sig {}\" title=\"{}\" aria-label=\"{}\">{}</span>",
        if up { "up" } else { "down" },
        esc(&tip),
        esc(&tip),
        if up { "▲" } else { "▼" }
    )
}

fn model_cell(h: &mut String, r: &Report, i: usize, m: &ModelSummary) {
    let _ = write!(
        h,
        "<th class=\"name\" scope=\"row\"><span class=\"swatch\" style=\"background:{}\"></span>{}",
        colour(i),
        esc(&m.model)
    );
    if i == 0 && !r.comparisons.is_empty() {
        h.push_str("<span class=\"tag\">baseline</span>");
    }
    h.push_str("</th>");
}

fn results(h: &mut String, r: &Report) {
    h.push_str("<section id=\"results\">\n<h2>Results</h2>\n");
    if r.models.is_empty() {
        h.push_str("<p>No models were evaluated.</p>\n</section>\n");
        return;
    }
    let primary = r.primary_metric();
    for (k, cols) in groups(r) {
        let _ = writeln!(
            h,
            "<h3>{}</h3>",
            k.map_or_else(|| "Without cut-off".to_string(), |k| format!("At K = {k}"))
        );
        h.push_str("<div class=\"scroll\"><table class=\"results\">\n<thead>");
        let mut runs: Vec<(&str, usize)> = Vec::new();
        for c in &cols {
            match runs.last_mut() {
                Some((g, n)) if *g == family(c) => *n += 1,
                _ => runs.push((family(c), 1)),
            }
        }
        if runs.len() > 1 {
            h.push_str("<tr><th class=\"name\" scope=\"col\" rowspan=\"2\">model</th>");
            for (g, n) in &runs {
                let _ = write!(
                    h,
                    "<th class=\"group\" scope=\"colgroup\" colspan=\"{n}\">{g}</th>"
                );
            }
            h.push_str("</tr>\n<tr>");
        } else {
            h.push_str("<tr><th class=\"name\" scope=\"col\">model</th>");
        }
        for c in &cols {
            let name = base(c);
            let tip = definition(name).map_or_else(String::new, |d| format!("{c}: {d}"));
            let _ = write!(
                h,
                "<th scope=\"col\" title=\"{}\">{}{}</th>",
                esc(&tip),
                esc(name),
                if lower_is_better(c) { " ↓" } else { "" }
            );
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        let bests: Vec<Option<f64>> = cols.iter().map(|c| best(r, c)).collect();
        for (i, m) in r.models.iter().enumerate() {
            h.push_str("<tr>");
            model_cell(h, r, i, m);
            for (c, b) in cols.iter().zip(&bests) {
                let stat = m.metrics.get(*c);
                let v = mean_of(m, c);
                let text = num(v);
                // Values that print the same as the best are best too.
                let is_best = b.is_some() && v.is_some() && text == num(*b);
                h.push_str(if is_best {
                    "<td class=\"best\">"
                } else {
                    "<td>"
                });
                if is_best {
                    let _ = write!(h, "<strong>{text}</strong>");
                } else {
                    h.push_str(&text);
                }
                if primary.as_deref() == Some(*c)
                    && let Some(cmp) = significant(r, &m.model, c)
                {
                    h.push_str(&sig_mark(cmp));
                }
                if let (Some(v), Some(s)) = (v, stat)
                    && r.folds > 1
                    && s.std.is_finite()
                {
                    let _ = write!(h, " <span class=\"std\">± {:.*}</span>", decimals(v), s.std);
                }
                h.push_str("</td>");
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n</table></div>\n");
    }
    let mut note = String::from("Bold: the best value of each column (the lowest for ");
    note.push_str(&LOWER_IS_BETTER.join(", "));
    note.push_str(", marked ↓; the highest otherwise).");
    if r.folds > 1 {
        let _ = write!(
            note,
            " Values are mean ± sample standard deviation over {} folds.",
            r.folds
        );
    }
    if let (Some(p), Some(b)) = (&primary, r.models.first()) {
        let _ = write!(
            note,
            " ▲ / ▼ next to {}: significantly better / worse than the baseline {} (paired t-test over users, \
             Holm-adjusted p &lt; 0.05); hover the mark for the p-value.",
            esc(p),
            esc(&b.model)
        );
    }
    let _ = writeln!(h, "<p class=\"note\">{note}</p>");
    // Run details.
    h.push_str(
        "<h3>Run details</h3>\n<div class=\"scroll\"><table class=\"details\">\n<thead><tr><th class=\"name\" scope=\"col\">model</th>\
         <th scope=\"col\">users evaluated</th><th scope=\"col\">users skipped</th><th scope=\"col\">eval seconds</th>\
         <th scope=\"col\">fit seconds</th></tr></thead>\n<tbody>\n",
    );
    for (i, m) in r.models.iter().enumerate() {
        h.push_str("<tr>");
        model_cell(h, r, i, m);
        let secs = |s: f64| {
            if s.is_finite() {
                format!("{s:.2}")
            } else {
                "–".into()
            }
        };
        let _ = writeln!(
            h,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.users,
            m.skipped_users,
            secs(m.seconds),
            m.fit_seconds.map_or_else(|| "–".into(), secs)
        );
    }
    h.push_str("</tbody>\n</table></div>\n</section>\n");
}

fn plots(h: &mut String, r: &Report) {
    let mut figs: Vec<(String, String)> = Vec::new();
    for metric in ranking_metrics() {
        let ks: Vec<usize> =
            r.ks.iter()
                .copied()
                .filter(|k| r.columns.iter().any(|c| *c == format!("{metric}@{k}")))
                .collect();
        if ks.len() >= 2
            && let Some(svg) = curve_chart(r, metric, &ks)
        {
            figs.push((
                svg,
                format!("{metric} at each cut-off K; hover a point for its value."),
            ));
        }
    }
    if let Some((svg, x, y)) = scatter_chart(r) {
        figs.push((
            svg,
            format!(
                "Accuracy ({}) against catalogue coverage ({}): up and to the right is better.",
                esc(&y),
                esc(&x)
            ),
        ));
    }
    if figs.is_empty() {
        return;
    }
    h.push_str("<section id=\"plots\">\n<h2>Plots</h2>\n<div class=\"charts\">\n");
    for (svg, cap) in figs {
        let _ = writeln!(h, "<figure>{svg}<figcaption>{cap}</figcaption></figure>");
    }
    h.push_str("</div>\n</section>\n");
}

/// The per-user metric shown by segment: the primary metric, else the first NDCG, else the first ranking
/// column, among those the segments have.
fn segment_metric(r: &Report) -> Option<String> {
    let has = |c: &str| {
        r.models
            .iter()
            .flat_map(|m| &m.segments)
            .any(|s| s.by == COLD_GROUP && s.means.contains_key(c))
    };
    if let Some(p) = r.primary_metric()
        && has(&p)
    {
        return Some(p);
    }
    let ranked = |name: &str| {
        r.columns
            .iter()
            .find(|c| base(c) == name && has(c))
            .cloned()
    };
    ranked("ndcg").or_else(|| ranking_metrics().find_map(ranked))
}

fn segments(h: &mut String, r: &Report) {
    let mut buckets: Vec<String> = Vec::new();
    for s in r.models.iter().flat_map(|m| &m.segments) {
        if s.by == COLD_GROUP && !buckets.contains(&s.segment) {
            buckets.push(s.segment.clone());
        }
    }
    if buckets.is_empty() {
        return;
    }
    buckets.sort_by_key(|b| crate::report::segment_order(b));
    let metric = segment_metric(r);
    fn row<'a>(m: &'a ModelSummary, b: &str) -> Option<&'a SegmentRow> {
        m.segments
            .iter()
            .find(|s| s.by == COLD_GROUP && s.segment == b)
    }
    h.push_str("<section id=\"segments\">\n<h2>By training history (cold start)</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"note\">Test users grouped by their number of training interactions{}.</p>",
        metric
            .as_ref()
            .map_or_else(String::new, |m| format!("; {} per group and model", esc(m)))
    );
    h.push_str("<div class=\"segments\">\n");
    if let Some(metric) = &metric
        && let Some(svg) = segment_chart(r, metric, &buckets)
    {
        let _ = writeln!(h, "<figure>{svg}</figure>");
    }
    // The users of a bucket are the same for every model unless some skipped users; then show each.
    let users: Vec<Vec<Option<usize>>> = buckets
        .iter()
        .map(|b| {
            r.models
                .iter()
                .map(|m| row(m, b).map(|s| s.users))
                .collect()
        })
        .collect();
    let same = users.iter().all(|u| {
        let mut it = u.iter().flatten();
        let first = it.next();
        it.all(|x| Some(x) == first)
    });
    // Two header rows: what is counted or measured, then the model of each column.
    let nm = r.models.len();
    h.push_str(
        "<div class=\"scroll\"><table class=\"segment-users\">\n<thead><tr>\
         <th class=\"name\" scope=\"col\" rowspan=\"2\">train interactions</th>",
    );
    if same {
        h.push_str("<th scope=\"col\" rowspan=\"2\">users</th>");
    } else {
        let _ = write!(
            h,
            "<th class=\"group\" scope=\"colgroup\" colspan=\"{nm}\">users</th>"
        );
    }
    if let Some(metric) = &metric {
        let _ = write!(
            h,
            "<th class=\"group\" scope=\"colgroup\" colspan=\"{nm}\">{}</th>",
            esc(metric)
        );
    }
    h.push_str("</tr>\n<tr>");
    let heads = usize::from(!same) + usize::from(metric.is_some());
    for _ in 0..heads {
        for (i, m) in r.models.iter().enumerate() {
            let _ = write!(
                h,
                "<th class=\"wrap-h\" scope=\"col\"><span class=\"swatch\" style=\"background:{}\"></span>{}</th>",
                colour(i),
                esc(&m.model)
            );
        }
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (b, u) in buckets.iter().zip(&users) {
        let _ = write!(h, "<tr><th class=\"name\" scope=\"row\">{}</th>", esc(b));
        let cell = |x: &Option<usize>| x.map_or_else(|| "–".into(), |n| n.to_string());
        if same {
            let _ = write!(h, "<td>{}</td>", cell(&u.iter().flatten().next().copied()));
        } else {
            for x in u {
                let _ = write!(h, "<td>{}</td>", cell(x));
            }
        }
        if let Some(metric) = &metric {
            for m in &r.models {
                let v = row(m, b)
                    .and_then(|s| s.means.get(metric))
                    .copied()
                    .filter(|v| v.is_finite());
                let _ = write!(h, "<td>{}</td>", num(v));
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table></div>\n</div>\n</section>\n");
}

/// The accuracy columns of the cold-start tables: NDCG, precision and recall at every K, and AUC.
fn cold_columns(r: &Report) -> Vec<&str> {
    r.columns
        .iter()
        .map(String::as_str)
        .filter(|c| {
            c.starts_with("ndcg@")
                || c.starts_with("precision@")
                || c.starts_with("recall@")
                || *c == "auc"
        })
        .collect()
}

/// The cold-start section: a cold-item table when the split held whole items out (`cold-items:...`), and
/// the cold-user vs warm-user table whenever the run has those segments.
fn cold_start(h: &mut String, r: &Report) {
    use crate::evaluator::COLD_START_GROUP;
    let cold_items = r.split.starts_with("cold-items");
    let mut user_segs: Vec<&str> = Vec::new();
    for s in r.models.iter().flat_map(|m| &m.segments) {
        if s.by == COLD_START_GROUP && !user_segs.contains(&s.segment.as_str()) {
            user_segs.push(&s.segment);
        }
    }
    user_segs.sort_by_key(|s| !s.starts_with("cold"));
    let cols = cold_columns(r);
    if (!cold_items && user_segs.is_empty()) || cols.is_empty() {
        return;
    }
    h.push_str("<section id=\"cold-start\">\n<h2>Cold start</h2>\n");
    let head = |h: &mut String, first: &[&str]| {
        h.push_str("<div class=\"scroll\"><table class=\"cold\">\n<thead><tr>");
        for f in first {
            let _ = write!(h, "<th class=\"name\" scope=\"col\">{}</th>", esc(f));
        }
        for c in &cols {
            let _ = write!(h, "<th scope=\"col\">{}</th>", esc(c));
        }
        h.push_str("</tr></thead>\n<tbody>\n");
    };
    if cold_items {
        let _ = writeln!(
            h,
            "<p class=\"note\">Cold items (split <code>{}</code>): every test item had no training \
             interaction, so a model scores it from its features alone; a purely collaborative model cannot \
             rank it above the items it knows.</p>",
            esc(&r.split)
        );
        head(h, &["model"]);
        for (i, m) in r.models.iter().enumerate() {
            h.push_str("<tr>");
            model_cell(h, r, i, m);
            for c in &cols {
                let _ = write!(h, "<td>{}</td>", num(mean_of(m, c)));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody>\n</table></div>\n");
    }
    if !user_segs.is_empty() {
        h.push_str(
            "<p class=\"note\">Cold users: test users with few training interactions (new users \
             included), against the others.</p>\n",
        );
        head(h, &["users", "model", "count"]);
        for seg in &user_segs {
            for m in &r.models {
                let Some(row) = m
                    .segments
                    .iter()
                    .find(|s| s.by == COLD_START_GROUP && s.segment == *seg)
                else {
                    continue;
                };
                let _ = write!(
                    h,
                    "<tr><th class=\"name\" scope=\"row\">{}</th><td class=\"name\">{}</td><td>{}</td>",
                    esc(seg),
                    esc(&m.model),
                    row.users
                );
                for c in &cols {
                    let v = row.means.get(*c).copied().filter(|v| v.is_finite());
                    let _ = write!(h, "<td>{}</td>", num(v));
                }
                h.push_str("</tr>\n");
            }
        }
        h.push_str("</tbody>\n</table></div>\n");
    }
    h.push_str("</section>\n");
}

fn comparisons(h: &mut String, r: &Report) {
    if r.comparisons.is_empty() {
        return;
    }
    let primary = r.primary_metric();
    let _ = writeln!(
        h,
        "<section id=\"significance\">\n<h2>Paired tests vs {}</h2>\n<p class=\"note\">Each model against the \
         baseline on the same users (and folds): mean difference (model − baseline) with its 95 % bootstrap \
         interval, paired t-test and Wilcoxon signed-rank p-values, and the t-test p-value Holm-adjusted over \
         the models compared on that metric. Significant: Holm p &lt; 0.05.</p>",
        esc(&r.comparisons[0].baseline)
    );
    h.push_str(
        "<div class=\"scroll\"><table class=\"tests\">\n<thead><tr><th class=\"name\" scope=\"col\">model</th>\
         <th class=\"name\" scope=\"col\">metric</th><th scope=\"col\">users</th><th scope=\"col\">mean diff</th>\
         <th scope=\"col\">95% CI</th><th scope=\"col\">t-test p</th><th scope=\"col\">Wilcoxon p</th>\
         <th scope=\"col\">Holm p</th><th scope=\"col\">significant</th></tr></thead>\n<tbody>\n",
    );
    for c in &r.comparisons {
        let is_primary = primary.as_deref() == Some(c.metric.as_str());
        let i = r.models.iter().position(|m| m.model == c.model);
        let _ = write!(
            h,
            "<tr{}><td class=\"name\">",
            if is_primary { " class=\"primary\"" } else { "" }
        );
        if let Some(i) = i {
            let _ = write!(
                h,
                "<span class=\"swatch\" style=\"background:{}\"></span>",
                colour(i)
            );
        }
        let ci = if c.ci_low.is_finite() && c.ci_high.is_finite() {
            format!("[{:+.4}, {:+.4}]", c.ci_low, c.ci_high)
        } else {
            "–".into()
        };
        let sig = if c.significant {
            format!("yes {}", sig_mark(c))
        } else {
            "no".into()
        };
        let _ = writeln!(
            h,
            "{}</td><td class=\"name\">{}{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.model),
            if is_primary { "<strong>" } else { "" },
            esc(&c.metric),
            if is_primary { "</strong>" } else { "" },
            c.n,
            signed(c.mean_diff),
            ci,
            pval(c.t_p),
            pval(c.wilcoxon_p),
            pval(c.holm_p),
            sig
        );
    }
    h.push_str("</tbody>\n</table></div>\n</section>\n");
}

/// The re-ranker trade-off curves (`evaluate --rerank-sweep`): per model, accuracy against diversity,
/// long-tail share and exposure Gini, a line per re-ranker, then the points as a table.
fn tradeoffs(h: &mut String, r: &Report) {
    if r.sweeps.is_empty() {
        return;
    }
    h.push_str("<section id=\"tradeoffs\">\n<h2>Re-ranker trade-offs</h2>\n");
    let _ = writeln!(
        h,
        "<p class=\"note\">Each re-ranker re-orders the model's top candidates into the final list; a \
         line follows its parameter from the value that leaves the model's order alone (the shared first \
         point) to the strongest setting, labelled at the end. Hover a point for its value.</p>"
    );
    for sw in &r.sweeps {
        let _ = writeln!(
            h,
            "<h3>{} (top {} candidates re-ranked to {})</h3>\n<div class=\"charts\">",
            esc(&sw.model),
            sw.candidates,
            sw.k
        );
        let k = sw.k;
        for (x, label, cap) in [
            (
                format!("ild@{k}"),
                "intra-list diversity",
                "Accuracy against intra-list diversity: up and to the right is better.",
            ),
            (
                format!("long_tail@{k}"),
                "long-tail share",
                "Accuracy against the share of long-tail items in the lists.",
            ),
            (
                format!("gini@{k}"),
                "exposure Gini (lower is fairer)",
                "Accuracy against the exposure Gini: up and to the left is better.",
            ),
        ] {
            if let Some(svg) = tradeoff_chart(sw, &x, label) {
                let _ = writeln!(h, "<figure>{svg}<figcaption>{cap}</figcaption></figure>");
            }
        }
        h.push_str("</div>\n");
        let cols = sw.columns();
        let _ = write!(
            h,
            "<div class=\"scroll\"><table class=\"sweep\"><thead><tr><th class=\"name\">re-ranker</th><th>parameter</th>"
        );
        for c in &cols {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr></thead>\n<tbody>\n");
        for c in &sw.curves {
            for p in &c.points {
                let _ = write!(
                    h,
                    "<tr><td class=\"name\">{}</td><td>{} = {}</td>",
                    esc(&c.reranker),
                    esc(&c.param),
                    crate::sweep::fmt_param(p.param)
                );
                for col in &cols {
                    let _ = write!(h, "<td>{}</td>", num(p.metrics.get(col).copied()));
                }
                h.push_str("</tr>\n");
            }
        }
        h.push_str("</tbody>\n</table></div>\n");
    }
    h.push_str("</section>\n");
}

/// NDCG@k against `xcol` for every re-ranker of a sweep, a line each.
fn tradeoff_chart(sw: &crate::sweep::Sweep, xcol: &str, xlabel: &str) -> Option<String> {
    let ycol = sw.accuracy();
    let series: Vec<Vec<(f64, f64, f64)>> = sw
        .curves
        .iter()
        .map(|c| {
            c.points
                .iter()
                .filter_map(|p| {
                    let x = *p.metrics.get(xcol)?;
                    let y = *p.metrics.get(&ycol)?;
                    (x.is_finite() && y.is_finite()).then_some((p.param, x, y))
                })
                .collect()
        })
        .collect();
    let all: Vec<&(f64, f64, f64)> = series.iter().flatten().collect();
    if all.is_empty() {
        return None;
    }
    let (xmin, xmax) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let (ymin, ymax) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.2), b.max(p.2))
        });
    let pad = |lo: f64, hi: f64| {
        let d = (hi - lo).abs().max(hi.abs() * 0.02).max(1e-6);
        (lo - 0.06 * d, hi + 0.06 * d)
    };
    let (xlo, xhi) = pad(xmin, xmax);
    let (ylo, yhi) = pad(ymin, ymax);
    let legend = sw
        .curves
        .iter()
        .enumerate()
        .map(|(i, c)| LegendEntry::new(c.reranker.clone(), colour(i), line_swatch(i)))
        .collect();
    let mut c = Chart::new(
        &Style::default(),
        "tradeoff",
        &format!("{} vs {} ({})", base(&ycol), base(xcol), sw.model),
        legend,
    );
    let (xa, xticks) = c.linear_axis(NiceRange::cover(xlo, xhi), true);
    let (ya, yticks) = c.linear_axis(NiceRange::cover(ylo, yhi), false);
    c.frame(&xticks, &yticks, xlabel, &ycol);
    let (width, tick_font) = (c.style().width, c.style().tick_font);
    for (i, (pts, curve)) in series.iter().zip(&sw.curves).enumerate() {
        let line: Vec<(f64, f64)> = pts
            .iter()
            .map(|&(_, x, y)| (xa.map(x), ya.map(y)))
            .collect();
        c.polyline(&line, colour(i), dash(i));
        for &(p, x, y) in pts {
            c.marker(
                Marker::nth(i),
                xa.map(x),
                ya.map(y),
                colour(i),
                &format!(
                    "{} {} = {}: {xcol} = {x:.4}, {ycol} = {y:.4}",
                    curve.reranker,
                    curve.param,
                    crate::sweep::fmt_param(p)
                ),
            );
        }
        // The strongest setting, labelled beside its point.
        if let Some(&(p, x, y)) = pts.last() {
            let label = format!("{}={}", curve.param, crate::sweep::fmt_param(p));
            let (px, py) = (xa.map(x), ya.map(y));
            let w = text_width(&label, tick_font);
            let lx = if px + 8.0 + w <= width - 4.0 {
                px + 8.0
            } else {
                px - 8.0 - w
            };
            let text = Text {
                size: tick_font,
                fill: colour(i),
                anchor: Anchor::Start,
                bold: false,
            };
            c.text(lx, py - 7.0, text, &label, None);
        }
    }
    Some(c.finish())
}

fn footer(h: &mut String, r: &Report) {
    let mut seen: Vec<&str> = Vec::new();
    for c in &r.columns {
        let b = base(c);
        if !seen.contains(&b) {
            seen.push(b);
        }
    }
    h.push_str("<footer>\n<h2>Metrics</h2>\n<ul>\n");
    for b in seen {
        let cut = if r.columns.iter().any(|c| c.starts_with(&format!("{b}@"))) {
            "@K"
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<li><code>{}{cut}</code>{}: {}</li>",
            esc(b),
            if LOWER_IS_BETTER.contains(&b) {
                " (lower is better)"
            } else {
                ""
            },
            esc(definition(b).unwrap_or("no description available."))
        );
    }
    h.push_str(
        "</ul>\n<p class=\"note\">Notation: rel is a user's set of relevant test items, hit(r) is 1 when the item \
         at rank r (1-based) is relevant, g(r) its relevance grade, pop(i) the number of train users of item i. \
         Per-user metrics are averaged over users with at least one relevant test item; coverage and Gini are \
         computed over all users' lists. Ranking metrics follow trec_eval.</p>\n",
    );
    let _ = writeln!(
        h,
        "<p class=\"note\">Generated by tastebud-eval {}.</p>\n</footer>",
        env!("CARGO_PKG_VERSION")
    );
}

// ---------------------------------------------------------------------------------------------------------
// SVG charts (drawn with `tastebud_html::svg`; the default `Style` is this report's look)

/// Dash pattern for the second round of colours (models 9 to 16).
fn dash(i: usize) -> Option<&'static str> {
    ((i / PALETTE.len()) % 2 == 1).then_some("6 3")
}

/// A model's legend swatch: its line (dashed like the line) with its marker.
fn line_swatch(i: usize) -> Swatch {
    Swatch::Line {
        dash: dash(i),
        marker: Some(Marker::nth(i)),
    }
}

/// One legend entry per model.
fn model_legend(r: &Report, swatch: fn(usize) -> Swatch) -> Vec<LegendEntry> {
    r.models
        .iter()
        .enumerate()
        .map(|(i, m)| LegendEntry::new(m.model.clone(), colour(i), swatch(i)))
        .collect()
}

fn model_names(r: &Report) -> Vec<String> {
    r.models.iter().map(|m| m.model.clone()).collect()
}

/// `metric@K` against K, a line per model.
fn curve_chart(r: &Report, metric: &str, ks: &[usize]) -> Option<String> {
    let series: Vec<Vec<(usize, Option<f64>)>> = r
        .models
        .iter()
        .map(|m| {
            ks.iter()
                .map(|&k| (k, mean_of(m, &format!("{metric}@{k}"))))
                .collect()
        })
        .collect();
    let vals: Vec<f64> = series.iter().flatten().filter_map(|p| p.1).collect();
    if vals.is_empty() {
        return None;
    }
    let vmin = vals.iter().copied().fold(0.0, f64::min);
    let vmax = vals.iter().copied().fold(0.0, f64::max);
    let kmin = ks.iter().copied().min().unwrap_or(1).max(1) as f64;
    let kmax = ks.iter().copied().max().unwrap_or(1).max(1) as f64;
    let log = kmax / kmin > 10.0;
    let names = model_names(r);
    let mut c = Chart::new(
        &Style::default(),
        "curve",
        &format!("{metric}@K"),
        model_legend(r, line_swatch),
    );
    let a = c.area();
    let xa = if log {
        Scale::log(kmin / 1.3, kmax * 1.3, a.left, a.right)
    } else {
        Scale::linear(0.0, kmax * 1.06, a.left, a.right)
    };
    let (ya, yticks) = c.linear_axis(NiceRange::cover(vmin, vmax), false);
    // K tick labels, dropping any that would touch the previous one.
    let tick_font = c.style().tick_font;
    let mut xticks: Vec<(f64, String)> = Vec::new();
    for &k in ks {
        let px = xa.map(k as f64);
        let label = k.to_string();
        let fits = xticks.last().is_none_or(|(last, l): &(f64, String)| {
            px - last >= (text_width(l, tick_font) + text_width(&label, tick_font)) / 2.0 + 6.0
        });
        if fits {
            xticks.push((px, label));
        }
    }
    c.frame(
        &xticks,
        &yticks,
        if log { "K (log scale)" } else { "K" },
        metric,
    );
    for (i, (s, name)) in series.iter().zip(&names).enumerate() {
        // Lines break where a value is missing.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        for &(k, v) in s {
            match v {
                Some(v) => run.push((xa.map(k as f64), ya.map(v))),
                None => runs.push(std::mem::take(&mut run)),
            }
        }
        runs.push(run);
        for run in &runs {
            c.polyline(run, colour(i), dash(i));
        }
        for &(k, v) in s {
            if let Some(v) = v {
                c.marker(
                    Marker::nth(i),
                    xa.map(k as f64),
                    ya.map(v),
                    colour(i),
                    &format!("{name}: {metric}@{k} = {v:.4}"),
                );
            }
        }
    }
    Some(c.finish())
}

/// Accuracy against coverage at the largest K having both; returns the SVG and the two column names.
fn scatter_chart(r: &Report) -> Option<(String, String, String)> {
    let has = |c: &str| r.columns.iter().any(|x| x == c);
    let mut ks = r.ks.clone();
    ks.sort_unstable();
    let (xcol, ycol) = ks.iter().rev().find_map(|k| {
        let cov = format!("coverage@{k}");
        if !has(&cov) {
            return None;
        }
        let nd = format!("ndcg@{k}");
        if has(&nd) {
            return Some((cov, nd));
        }
        ranking_metrics()
            .map(|m| format!("{m}@{k}"))
            .find(|c| has(c))
            .map(|c| (cov, c))
    })?;
    let pts: Vec<(usize, &str, f64, f64)> = r
        .models
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, m.model.as_str(), mean_of(m, &xcol)?, mean_of(m, &ycol)?)))
        .collect();
    if pts.is_empty() {
        return None;
    }
    let fold = |f: fn(f64, f64) -> f64, get: fn(&(usize, &str, f64, f64)) -> f64| {
        pts.iter().map(get).fold(0.0, f)
    };
    // Headroom so that no point sits on the frame.
    let xr = NiceRange::cover(fold(f64::min, |p| p.2), fold(f64::max, |p| p.2) * 1.04);
    let yr = NiceRange::cover(fold(f64::min, |p| p.3), fold(f64::max, |p| p.3) * 1.04);
    let title = format!("{} vs {}", base(&ycol), base(&xcol));
    let mut c = Chart::new(&Style::default(), "scatter", &title, Vec::new());
    let (xa, xticks) = c.linear_axis(xr, true);
    let (ya, yticks) = c.linear_axis(yr, false);
    c.frame(&xticks, &yticks, &xcol, &ycol);
    let (width, font) = (c.style().width, c.style().legend_font);
    // Labels to the right of the point (left when that would leave the chart), moved down or up until they
    // no longer overlap a label already placed; drawn after every marker, so that none hides one.
    let mut placed: Vec<(f64, f64, f64, f64)> = Vec::new();
    let mut order: Vec<usize> = (0..pts.len()).collect();
    order.sort_by(|&a, &b| pts[a].3.total_cmp(&pts[b].3).reverse());
    let mut labels: Vec<(f64, f64, usize, String, &str)> = Vec::new();
    for &j in &order {
        let (i, name, x, y) = pts[j];
        let (px, py) = (xa.map(x), ya.map(y));
        let label = short(name);
        let w = text_width(&label, font);
        let right = px + 9.0 + w <= width - 4.0;
        let lx = if right { px + 9.0 } else { px - 9.0 - w };
        let mut ly = py + font * 0.35;
        let overlaps = |ly: f64, placed: &[(f64, f64, f64, f64)]| {
            placed
                .iter()
                .any(|&(a, b, cw, ch)| lx < a + cw && a < lx + w && ly - font < b && b - ch < ly)
        };
        let mut step = 0;
        while overlaps(ly, &placed) && step < 2 * pts.len() + 2 {
            step += 1;
            let delta = (step as f64 / 2.0).ceil() * (font + 2.0);
            ly = py + font * 0.35 + if step % 2 == 1 { delta } else { -delta };
        }
        placed.push((lx, ly, w, font));
        labels.push((lx, ly, i, label, name));
        c.marker(
            Marker::nth(i),
            px,
            py,
            colour(i),
            &format!("{name}: {xcol} = {x:.4}, {ycol} = {y:.4}"),
        );
    }
    for (lx, ly, i, label, name) in labels {
        let text = Text {
            size: font,
            fill: colour(i),
            anchor: Anchor::Start,
            bold: true,
        };
        c.text(lx, ly, text, &label, Some(name));
    }
    Some((c.finish(), xcol, ycol))
}

/// Grouped bars of `metric` per cold-start bucket and model.
fn segment_chart(r: &Report, metric: &str, buckets: &[String]) -> Option<String> {
    let vals: Vec<Vec<Option<f64>>> = r
        .models
        .iter()
        .map(|m| {
            buckets
                .iter()
                .map(|b| {
                    m.segments
                        .iter()
                        .find(|s| s.by == COLD_GROUP && &s.segment == b)
                        .and_then(|s| s.means.get(metric))
                        .copied()
                        .filter(|v| v.is_finite())
                })
                .collect()
        })
        .collect();
    let all: Vec<f64> = vals.iter().flatten().flatten().copied().collect();
    if all.is_empty() {
        return None;
    }
    let yr = NiceRange::cover(
        all.iter().copied().fold(0.0, f64::min),
        all.iter().copied().fold(0.0, f64::max),
    );
    let names = model_names(r);
    let mut c = Chart::new(
        &Style::default(),
        "segments",
        &format!("{metric} by training history"),
        model_legend(r, |_| Swatch::Bar),
    );
    let (ya, yticks) = c.linear_axis(yr, false);
    let a = c.area();
    let nb = buckets.len() as f64;
    let gw = (a.right - a.left) / nb;
    let xticks: Vec<(f64, String)> = buckets
        .iter()
        .enumerate()
        .map(|(b, name)| (a.left + (b as f64 + 0.5) * gw, short(name)))
        .collect();
    c.frame(&xticks, &yticks, "training interactions per user", metric);
    let nm = r.models.len().max(1) as f64;
    let bw = gw * 0.8 / nm;
    let zero = ya.map(0.0f64.clamp(yr.lo, yr.hi));
    for (i, (row, name)) in vals.iter().zip(&names).enumerate() {
        for (b, v) in row.iter().enumerate() {
            let Some(v) = *v else { continue };
            let x = a.left + b as f64 * gw + gw * 0.1 + i as f64 * bw;
            let y = ya.map(v);
            c.bar(
                x + 0.5,
                y.min(zero),
                (bw - 1.0).max(1.0),
                (zero - y).abs(),
                colour(i),
                &format!(
                    "{name}: {metric} = {v:.4} (train interactions {})",
                    buckets[b]
                ),
            );
        }
    }
    Some(c.finish())
}
