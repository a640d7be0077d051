//! The experiment report as one self-contained HTML page (`/v1/experiments/{id}/report?format=html`):
//! the decision, the per-arm table, and charts over time drawn as inline SVG on the server (no script,
//! nothing fetched): cumulative CTR per arm with its confidence band, users per arm, and the naive and
//! always-valid p-values of each treatment arm against the alpha line; then the segments.

use std::fmt::Write as _;

use tastebud_experiment::report::{Estimate, Report};

use tastebud_experiment::live::{ArmDay, DayPoint, FullReport};

const COLOURS: [&str; 6] = [
    "#2563eb", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#0891b2",
];
const W: f64 = 640.0;
const H: f64 = 240.0;
const PAD_L: f64 = 56.0;
const PAD_R: f64 = 16.0;
const PAD_T: f64 = 14.0;
const PAD_B: f64 = 32.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn rate(e: &Estimate) -> String {
    format!(
        "{} <small>[{}, {}]</small>",
        pct(e.value),
        pct(e.ci.low),
        pct(e.ci.high)
    )
}

fn pv(p: Option<f64>) -> String {
    match p {
        None => "&ndash;".into(),
        Some(p) if p >= 1e-4 => format!("{p:.4}"),
        Some(p) => format!("{p:.1e}"),
    }
}

/// One series of a chart: a line, and optionally a band (low, high) around it.
struct Series {
    name: String,
    colour: &'static str,
    points: Vec<(f64, f64)>,
    band: Vec<(f64, f64, f64)>,
    dashed: bool,
}

/// A line chart with x = day; `log_y` draws y on a log10 axis (p-values).
fn chart(
    title: &str,
    series: &[Series],
    y_fmt: fn(f64) -> String,
    log_y: bool,
    hline: Option<(f64, &str)>,
) -> String {
    let ty = |y: f64| if log_y { y.max(1e-6).log10() } else { y };
    let xs = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.0)
            .chain(s.band.iter().map(|b| b.0))
    });
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let ys = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| ty(p.1))
            .chain(s.band.iter().flat_map(|b| [ty(b.1), ty(b.2)]))
    });
    let (mut y0, mut y1) = ys
        .chain(hline.map(|h| ty(h.0)))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    let mut out = format!(r#"<figure><figcaption>{}</figcaption>"#, esc(title));
    if !x0.is_finite() || !y0.is_finite() {
        out.push_str(r#"<p class="muted">no data yet</p></figure>"#);
        return out;
    }
    if log_y {
        y1 = 0.0;
        y0 = y0.floor().min(-2.0);
    } else {
        let span = (y1 - y0).max(1e-9);
        y0 = (y0 - 0.05 * span).max(0.0);
        y1 += 0.05 * span;
    }
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x0 + 1.0)
    };
    let sx = |x: f64| PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R);
    let sy = |y: f64| PAD_T + (1.0 - (ty(y) - y0) / (y1 - y0)) * (H - PAD_T - PAD_B);
    let _ = write!(
        out,
        r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#,
        esc(title)
    );
    // y grid: 4 ticks (log: every decade)
    let ticks: Vec<f64> = if log_y {
        (y0 as i32..=0).map(|d| 10f64.powi(d)).collect()
    } else {
        (0..=4).map(|i| y0 + (y1 - y0) * i as f64 / 4.0).collect()
    };
    for t in ticks {
        let y = sy(t);
        let _ = write!(
            out,
            r##"<line x1="{PAD_L}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end" class="tick">{}</text>"##,
            W - PAD_R,
            PAD_L - 6.0,
            y + 4.0,
            y_fmt(t)
        );
    }
    // x ticks: days
    let n = (x1 - x0).round() as i64;
    let step = ((n as f64) / 8.0).ceil().max(1.0) as i64;
    let mut d = x0.round() as i64;
    while d as f64 <= x1 + 1e-9 {
        let x = sx(d as f64);
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle" class="tick">{d}</text>"#,
            H - PAD_B + 16.0
        );
        d += step;
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" class="tick">day</text>"#,
        (PAD_L + W - PAD_R) / 2.0,
        H - 2.0
    );
    if let Some((y, label)) = hline {
        let yy = sy(y);
        let _ = write!(
            out,
            r##"<line x1="{PAD_L}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#dc2626" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" text-anchor="end" class="tick" fill="#dc2626">{}</text>"##,
            W - PAD_R,
            W - PAD_R,
            yy - 4.0,
            esc(label)
        );
    }
    for s in series {
        if s.band.len() >= 2 {
            let mut d = String::new();
            for (i, b) in s.band.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1} ",
                    if i == 0 { "M" } else { "L" },
                    sx(b.0),
                    sy(b.2)
                );
            }
            for b in s.band.iter().rev() {
                let _ = write!(d, "L{:.1},{:.1} ", sx(b.0), sy(b.1));
            }
            let _ = write!(
                out,
                r#"<path d="{}Z" fill="{}" fill-opacity="0.15" stroke="none"/>"#,
                d, s.colour
            );
        }
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p.0), sy(p.1)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{}/>"#,
            pts.join(" "),
            s.colour,
            if s.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            }
        );
        for p in &s.points {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"#,
                sx(p.0),
                sy(p.1),
                s.colour
            );
        }
    }
    out.push_str("</svg><div class=\"legend\">");
    for s in series {
        let _ = write!(
            out,
            r#"<span><i style="background:{}{}"></i>{}</span>"#,
            s.colour,
            if s.dashed { ";opacity:.6" } else { "" },
            esc(&s.name)
        );
    }
    out.push_str("</div></figure>");
    out
}

fn arm_table(h: &mut String, r: &Report) {
    h.push_str(
        "<div class=\"tw\"><table><thead><tr><th>arm</th><th>users</th><th>items shown</th><th>CTR</th><th>CTR lift</th><th>p</th><th>always-valid p</th><th>conversion</th><th>conv. lift</th><th>p</th><th>dwell ms</th><th>bounce</th></tr></thead><tbody>",
    );
    let lift = |l: &Option<tastebud_experiment::stats::Lift>| {
        l.map_or("&ndash;".to_owned(), |l| {
            format!(
                "{:+.2}% <small>[{:+.2}%, {:+.2}%]</small>",
                100.0 * l.lift,
                100.0 * l.ci.low,
                100.0 * l.ci.high
            )
        })
    };
    for (i, a) in r.arms.iter().enumerate() {
        let _ = write!(
            h,
            r#"<tr><td><i class="dot" style="background:{}"></i>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            COLOURS[i % COLOURS.len()],
            esc(&a.name),
            if i == 0 {
                " <small>(control)</small>"
            } else {
                ""
            },
            a.users,
            a.impressions,
            rate(&a.ctr),
            lift(&a.ctr_lift),
            pv(a.ctr_p_value),
            pv(a.ctr_sequential_p),
            rate(&a.conversion_rate),
            lift(&a.conversion_lift),
            pv(a.conversion_p_value),
            a.mean_dwell_ms.map_or("&ndash;".to_owned(), |e| format!(
                "{:.0} <small>[{:.0}, {:.0}]</small>",
                e.value, e.ci.low, e.ci.high
            )),
            a.bounce_rate.as_ref().map_or("&ndash;".to_owned(), rate),
        );
    }
    h.push_str("</tbody></table></div>");
}

/// Renders the report page.
pub fn render(r: &FullReport) -> String {
    let rep = &r.report;
    let mut h = String::with_capacity(32 * 1024);
    let _ = write!(
        h,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Experiment {id} &middot; Tastebud</title><style>{CSS}</style></head><body><main>"#,
        id = esc(&rep.experiment)
    );
    let allocation = match r.allocation {
        tastebud_experiment::assign::Allocation::Fixed => "fixed (hashed by weight)".to_owned(),
        tastebud_experiment::assign::Allocation::Thompson => "bandit: Thompson sampling".to_owned(),
        tastebud_experiment::assign::Allocation::Ucb1 => "bandit: UCB1".to_owned(),
        tastebud_experiment::assign::Allocation::EpsilonGreedy { epsilon } => {
            format!("bandit: epsilon-greedy (&epsilon; = {epsilon})")
        }
    };
    let _ = write!(
        h,
        r#"<h1>Experiment <code>{}</code></h1><p class="meta"><span class="pill {}">{:?}</span> {:.1} days &middot; allocation {} &middot; intervals at {:.0}%</p><div class="decision" id="decision">{}</div>"#,
        esc(&rep.experiment),
        if r.status == tastebud_experiment::assign::Status::Running {
            "run"
        } else {
            "stop"
        },
        r.status,
        rep.days_running,
        allocation,
        100.0 * (1.0 - rep.alpha),
        esc(&rep.decision)
    );
    arm_table(&mut h, rep);
    h.push_str("<ul class=\"checks\">");
    match &rep.srm {
        Some(s) => {
            let _ = write!(
                h,
                "<li>sample-ratio check: &chi;&sup2; = {:.2}, p = {} {}</li>",
                s.statistic,
                pv(Some(s.p_value)),
                if s.flagged() {
                    "<b class=\"bad\">MISMATCH: fix assignment or logging</b>"
                } else {
                    "(ok)"
                }
            );
        }
        None => h.push_str("<li>sample-ratio check: not applicable (bandit allocation)</li>"),
    }
    if let Some(p) = &r.bandit_probabilities {
        let shares: Vec<String> = rep
            .arms
            .iter()
            .zip(p)
            .map(|(a, p)| format!("{} {}", esc(&a.name), pct(*p)))
            .collect();
        let _ = write!(
            h,
            "<li>next request's allocation: {}</li>",
            shares.join(", ")
        );
    }
    match rep.required_per_arm {
        Some(n) => {
            let _ = write!(h, "<li>planned items shown per arm: {n}</li>");
        }
        None => h.push_str("<li>planned items shown per arm: n/a</li>"),
    }
    for w in &rep.warnings {
        let _ = write!(h, "<li class=\"warn\">{}</li>", esc(&w.to_string()));
    }
    h.push_str("</ul><h2>Over time</h2><div class=\"charts\">");

    let x = |d: &DayPoint| d.day as f64;
    let arms: Vec<&str> = rep.arms.iter().map(|a| a.name.as_str()).collect();
    // One line per arm over the days, from a value (and optionally a band) of each day's arm entry.
    let per_arm = |point: &dyn Fn(&ArmDay) -> Option<f64>,
                   band: &dyn Fn(&ArmDay) -> Option<(f64, f64)>|
     -> Vec<Series> {
        arms.iter()
            .enumerate()
            .map(|(i, name)| Series {
                name: (*name).to_owned(),
                colour: COLOURS[i % COLOURS.len()],
                points: r
                    .timeline
                    .iter()
                    .filter_map(|d| point(&d.arms[i]).map(|v| (x(d), v)))
                    .collect(),
                band: r
                    .timeline
                    .iter()
                    .filter_map(|d| band(&d.arms[i]).map(|(lo, hi)| (x(d), lo, hi)))
                    .collect(),
                dashed: false,
            })
            .collect()
    };
    let ctr = per_arm(&|a| a.ctr, &|a| a.ctr_ci.map(|c| (c.low, c.high)));
    h.push_str(&chart(
        "Cumulative CTR per arm, with its confidence band",
        &ctr,
        |v| format!("{:.1}%", 100.0 * v),
        false,
        None,
    ));
    let users = per_arm(&|a| Some(a.users as f64), &|_| None);
    h.push_str(&chart(
        "Users per arm (cumulative)",
        &users,
        |v| format!("{v:.0}"),
        false,
        None,
    ));
    let mut pvals = Vec::new();
    for (i, name) in arms.iter().enumerate().skip(1) {
        let colour = COLOURS[i % COLOURS.len()];
        pvals.push(Series {
            name: format!("{name}: fixed-horizon p (naive when peeking)"),
            colour,
            points: r
                .timeline
                .iter()
                .filter_map(|d| d.arms[i].p_value.map(|p| (x(d), p)))
                .collect(),
            band: Vec::new(),
            dashed: true,
        });
        pvals.push(Series {
            name: format!("{name}: always-valid p (mSPRT)"),
            colour,
            points: r
                .timeline
                .iter()
                .filter_map(|d| d.arms[i].sequential_p.map(|p| (x(d), p)))
                .collect(),
            band: Vec::new(),
            dashed: false,
        });
    }
    h.push_str(&chart(
        "p-value of CTR against the control at each daily look (log scale)",
        &pvals,
        |v| {
            if v >= 0.01 {
                format!("{v}")
            } else {
                format!("{v:.0e}")
            }
        },
        true,
        Some((rep.alpha, "alpha")),
    ));
    h.push_str("</div>");
    if let Some(c) = &r.cuped {
        let _ = write!(
            h,
            "<h2>CUPED: {}</h2><p class=\"muted\">pre-period covariate: each user's clicks before the start; &theta; = {:.3}; variance reduced by {:.1}%</p><div class=\"tw\"><table><thead><tr><th>arm</th><th>users</th><th>mean</th><th>difference</th><th>p</th><th>adjusted mean</th><th>adjusted difference</th><th>p</th></tr></thead><tbody>",
            esc(c.metric),
            c.theta,
            100.0 * c.variance_reduction
        );
        let diff = |t: &Option<tastebud_experiment::stats::MeanTest>| {
            t.map_or("&ndash;".to_owned(), |t| {
                format!(
                    "{:+.3} <small>[{:+.3}, {:+.3}]</small>",
                    t.difference, t.ci.low, t.ci.high
                )
            })
        };
        for a in &c.arms {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.arm),
                a.users,
                a.mean,
                diff(&a.test),
                pv(a.test.map(|t| t.p_value)),
                a.adjusted_mean,
                diff(&a.adjusted_test),
                pv(a.adjusted_test.map(|t| t.p_value)),
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("<h2>Segments</h2>");
    for (name, s) in &r.segments {
        let _ = write!(
            h,
            "<h3>{} users <small>({})</small></h3>",
            esc(name),
            s.users
        );
        match (&s.report, &s.note) {
            (Some(sr), _) => {
                arm_table(&mut h, sr);
                let _ = write!(h, "<p class=\"muted\">{}</p>", esc(&sr.decision));
            }
            (None, Some(n)) => {
                let _ = write!(h, "<p class=\"muted\">no report: {}</p>", esc(n));
            }
            _ => {}
        }
    }
    let unit = if rep.ctr_unit == "user" {
        "its tests and lifts take the user as the unit (the delta method on per-user clicks and items shown), because impressions of one user are correlated"
    } else {
        "its tests treat impressions as independent, which is optimistic when users see many items"
    };
    let _ = write!(
        h,
        "<p class=\"muted foot\">CTR is clicks over items shown; {unit}. Conversion is per user. The always-valid p-value may be read after every look; the fixed-horizon p-value only once, at the planned sample size.</p></main></body></html>"
    );
    h
}

const CSS: &str = "body{margin:0;background:#f8fafc;color:#0f172a;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}main{max-width:1100px;margin:0 auto;padding:24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}h3{font-size:14px;margin:18px 0 6px}.meta{color:#475569;margin:0 0 12px}.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600}.pill.run{background:#dcfce7;color:#166534}.pill.stop{background:#e2e8f0;color:#334155}.decision{background:#fff;border-left:4px solid #2563eb;padding:10px 14px;margin:12px 0;font-weight:600;box-shadow:0 1px 2px #0001}table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001;font-variant-numeric:tabular-nums}th,td{padding:6px 8px;border-bottom:1px solid #e2e8f0;text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}th{font-size:12px;color:#475569;font-weight:600;background:#f1f5f9}small{color:#64748b}td small{display:block;font-size:11px}.tw{overflow-x:auto}.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:6px}.checks{padding-left:18px;color:#334155}.warn{color:#b45309}.bad{color:#dc2626}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:14px}figure{margin:0;background:#fff;padding:10px 12px;box-shadow:0 1px 2px #0001}figcaption{font-weight:600;font-size:13px;margin-bottom:4px}svg{width:100%;height:auto}.tick{font-size:10px;fill:#64748b}.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:12px;color:#334155}.legend i{display:inline-block;width:14px;height:3px;margin-right:5px;vertical-align:middle}.muted{color:#64748b}.foot{margin-top:24px;font-size:12px}";
