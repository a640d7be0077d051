//! The experiment report as one self-contained HTML page (`/v1/experiments/{id}/report?format=html`):
//! the decision, the per-arm table, and charts over time drawn as inline SVG on the server (no script,
//! nothing fetched): cumulative CTR per arm with its confidence band, users per arm, and the naive and
//! always-valid p-values of each treatment arm against the alpha line; then the segments.

use std::fmt::Write as _;

use tastebud_experiment::report::{Estimate, Report};
use tastebud_html::svg::{
    Anchor, Chart, LegendEntry, Marker, NiceRange, Px, Scale, Style, Swatch, Text,
    decimals_for_step,
};
use tastebud_html::{Page, escape as esc};

use tastebud_experiment::live::{ArmDay, DayPoint, FullReport};

const COLOURS: [&str; 6] = [
    "#2563eb", "#ea580c", "#16a34a", "#9333ea", "#db2777", "#0891b2",
];

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

/// The look of the report's charts: wide and short, captioned by the page, light grid, no axis lines.
fn chart_style() -> Style {
    Style {
        width: 640.0,
        height: 240.0,
        left: 56.0,
        right: 16.0,
        top: 14.0,
        bottom: 42.0,
        font_family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        title_font: None,
        label_font: 11.0,
        tick_font: 11.0,
        legend_font: 12.0,
        text: "#334155",
        tick_text: "#64748b",
        grid: "#e5e7eb",
        axis: None,
        background: "#ffffff",
        line_width: 2.0,
        marker_radius: 2.5,
        legend_row: 20.0,
        max_label_chars: 64,
    }
}

/// A line chart with x = day; `log_y` draws y on a log10 axis (p-values). `y_fmt` writes a tick label
/// given the decimals its step needs, `value_fmt` a point's value in its tooltip.
fn chart(
    title: &str,
    series: &[Series],
    y_fmt: fn(f64, usize) -> String,
    value_fmt: fn(f64) -> String,
    log_y: bool,
    hline: Option<(f64, &str)>,
) -> String {
    // p-values are drawn from 1e-6 up.
    let clamp = |y: f64| if log_y { y.max(1e-6) } else { y };
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
            .map(|p| clamp(p.1))
            .chain(s.band.iter().flat_map(|b| [clamp(b.1), clamp(b.2)]))
    });
    let (y0, y1) = ys
        .chain(hline.map(|h| clamp(h.0)))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    let mut out = format!(r#"<figure><figcaption>{}</figcaption>"#, esc(title));
    if !x0.is_finite() || !y0.is_finite() {
        out.push_str(r#"<p class="muted">no data yet</p></figure>"#);
        return out;
    }
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x0 + 1.0)
    };
    let legend = series
        .iter()
        .map(|s| {
            let dash = s.dashed.then_some("6 4");
            LegendEntry::new(
                s.name.clone(),
                s.colour,
                Swatch::Line { dash, marker: None },
            )
        })
        .collect();
    let mut c = Chart::new(&chart_style(), "timeline", title, legend);
    let a = c.area();
    let sx = Scale::linear(x0, x1, a.left, a.right);
    // y ticks: every decade on the log axis, 1-2-5 steps on the linear one.
    let (scale, yticks) = if log_y {
        let lowest = y0.log10().floor().min(-2.0);
        let scale = Scale::log(10f64.powf(lowest), 1.0, a.bottom, a.top);
        let ticks = (lowest as i32..=0)
            .map(|d| {
                let v = 10f64.powi(d);
                (scale.map(v), y_fmt(v, 0))
            })
            .collect::<Vec<_>>();
        (scale, ticks)
    } else {
        let span = (y1 - y0).max(1e-9);
        let range = NiceRange::cover((y0 - 0.05 * span).max(0.0), y1 + 0.05 * span);
        let scale = Scale::linear(range.lo, range.hi, a.bottom, a.top);
        let d = decimals_for_step(range.step);
        let ticks = range
            .ticks()
            .into_iter()
            .map(|v| (scale.map(v), y_fmt(v, d)))
            .collect::<Vec<_>>();
        (scale, ticks)
    };
    let sy = |y: f64| scale.map(clamp(y));
    // x ticks: days, at most about 8 labels.
    let n = (x1 - x0).round() as i64;
    let step = ((n as f64) / 8.0).ceil().max(1.0) as i64;
    let mut xticks = Vec::new();
    let mut d = x0.round() as i64;
    while d as f64 <= x1 + 1e-9 {
        xticks.push((sx.map(d as f64), d.to_string()));
        d += step;
    }
    c.frame(&xticks, &yticks, "day", "");
    if let Some((y, label)) = hline {
        let yy = sy(y);
        c.raw(&format!(
            r##"<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#dc2626" stroke-dasharray="4 3"/>"##,
            Px(a.left),
            Px(a.right),
            Px(yy),
            Px(yy),
        ));
        let text = Text {
            size: c.style().tick_font,
            fill: "#dc2626",
            anchor: Anchor::End,
            bold: false,
        };
        c.text(a.right, yy - 4.0, text, label, None);
    }
    for s in series {
        if s.band.len() >= 2 {
            let mut d = String::new();
            for (i, b) in s.band.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{},{} ",
                    if i == 0 { "M" } else { "L" },
                    Px(sx.map(b.0)),
                    Px(sy(b.2))
                );
            }
            for b in s.band.iter().rev() {
                let _ = write!(d, "L{},{} ", Px(sx.map(b.0)), Px(sy(b.1)));
            }
            c.raw(&format!(
                r#"<path d="{d}Z" fill="{}" fill-opacity="0.15" stroke="none"/>"#,
                s.colour
            ));
        }
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (sx.map(p.0), sy(p.1))).collect();
        c.polyline(&pts, s.colour, s.dashed.then_some("6 4"));
        for (&(x, y), p) in pts.iter().zip(&s.points) {
            let tip = format!("{}, day {}: {}", s.name, p.0, value_fmt(p.1));
            c.marker(Marker::Circle, x, y, s.colour, &tip);
        }
    }
    out.push_str(&c.finish());
    out.push_str("</figure>");
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

/// The revenue section: per user and per impression with intervals, the lift, the tested (winsorised,
/// CUPED-adjusted) difference and its p-value, and the users the planned MDE needs.
fn revenue_table(h: &mut String, rv: &tastebud_experiment::report::RevenueReport) {
    let est = |e: &Option<tastebud_experiment::revenue::RevenueEstimate>| {
        e.as_ref().map_or("&ndash;".to_owned(), |e| {
            format!(
                "{:.2} <small>[{:.2}, {:.2}]</small>",
                e.value, e.ci.low, e.ci.high
            )
        })
    };
    let lift = |l: &Option<tastebud_experiment::stats::Lift>| {
        l.as_ref().map_or("&ndash;".to_owned(), |l| {
            format!(
                "{} <small>[{}, {}]</small>",
                pct(l.lift),
                pct(l.ci.low),
                pct(l.ci.high)
            )
        })
    };
    let _ = write!(
        h,
        "<h2 id=\"revenue\">Revenue</h2><p class=\"muted\">{}{}; planned MDE {} on revenue per user: {} users per arm</p><div class=\"tw\"><table><thead><tr><th>arm</th><th>users</th><th>purchases</th><th>revenue</th><th>per user</th><th>per item shown</th><th>lift per user</th><th>p</th><th>lift per item shown</th><th>capped users</th></tr></thead><tbody>",
        esc(&rv.method),
        rv.cap.map_or(String::new(), |c| format!(" (cap {c:.2})")),
        pct(rv.mde),
        rv.required_users_per_arm
            .map_or("&ndash;".to_owned(), |n| n.to_string()),
    );
    for a in &rv.arms {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.name),
            a.users,
            a.purchases,
            a.revenue,
            est(&a.per_user),
            est(&a.per_impression),
            lift(&a.lift),
            pv(a.test.map(|t| t.p_value)),
            lift(&a.per_impression_lift),
            a.capped_users,
        );
    }
    h.push_str("</tbody></table></div>");
}

/// Renders the report page.
pub fn render(r: &FullReport) -> String {
    let Some(rep) = &r.report else {
        return render_no_data(r);
    };
    let mut h = Page::new(&format!("Experiment {} · Tastebud", rep.experiment))
        .style(CSS)
        .open();
    h.push_str("<main>");
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
        |v, d| format!("{:.*}%", d.saturating_sub(2), 100.0 * v),
        pct,
        false,
        None,
    ));
    let users = per_arm(&|a| Some(a.users as f64), &|_| None);
    h.push_str(&chart(
        "Users per arm (cumulative)",
        &users,
        |v, d| format!("{v:.d$}"),
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
        |v, _| {
            if v >= 0.01 {
                format!("{v}")
            } else {
                format!("{v:.0e}")
            }
        },
        |p| pv(Some(p)),
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
    if let Some(rv) = &rep.revenue {
        revenue_table(&mut h, rv);
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
        "<p class=\"muted foot\">CTR is clicks over items shown; {unit}. Conversion is per user. The always-valid p-value may be read after every look; the fixed-horizon p-value only once, at the planned sample size.</p></main>"
    );
    Page::close(&mut h);
    h
}

/// The page of a report without data yet: the experiment, its status, "no data yet" and each arm's
/// counts so far.
fn render_no_data(r: &FullReport) -> String {
    let (experiment, message, arms) = match &r.no_data {
        Some(nd) => (
            nd.experiment.as_str(),
            nd.message.as_str(),
            nd.arms.as_slice(),
        ),
        None => ("", "no data yet", &[][..]),
    };
    let mut h = Page::new(&format!("Experiment {experiment} · Tastebud"))
        .style(CSS)
        .open();
    let _ = write!(
        h,
        r#"<main><h1>Experiment <code>{}</code></h1><p class="meta"><span class="pill {}">{:?}</span></p><div class="decision" id="no-data">No data yet</div><p class="muted">{}</p><div class="tw"><table><thead><tr><th>arm</th><th>users</th><th>items shown</th><th>clicks</th></tr></thead><tbody>"#,
        esc(experiment),
        if r.status == tastebud_experiment::assign::Status::Running {
            "run"
        } else {
            "stop"
        },
        r.status,
        esc(message)
    );
    for a in arms {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.arm),
            a.users,
            a.impressions,
            a.clicks
        );
    }
    h.push_str("</tbody></table></div></main>");
    Page::close(&mut h);
    h
}

const CSS: &str = "body{margin:0;background:#f8fafc;color:#0f172a;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}main{max-width:1100px;margin:0 auto;padding:24px}h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}h3{font-size:14px;margin:18px 0 6px}.meta{color:#475569;margin:0 0 12px}.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600}.pill.run{background:#dcfce7;color:#166534}.pill.stop{background:#e2e8f0;color:#334155}.decision{background:#fff;border-left:4px solid #2563eb;padding:10px 14px;margin:12px 0;font-weight:600;box-shadow:0 1px 2px #0001}table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001;font-variant-numeric:tabular-nums}th,td{padding:6px 8px;border-bottom:1px solid #e2e8f0;text-align:right;white-space:nowrap}th:first-child,td:first-child{text-align:left}th{font-size:12px;color:#475569;font-weight:600;background:#f1f5f9}small{color:#64748b}td small{display:block;font-size:11px}.tw{overflow-x:auto}.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:6px}.checks{padding-left:18px;color:#334155}.warn{color:#b45309}.bad{color:#dc2626}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:14px}figure{margin:0;background:#fff;padding:10px 12px;box-shadow:0 1px 2px #0001}figcaption{font-weight:600;font-size:13px;margin-bottom:4px}svg{width:100%;height:auto}.muted{color:#64748b}.foot{margin-top:24px;font-size:12px}";
