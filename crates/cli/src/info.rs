//! Tables for `datasets list` and `datasets info`.

use std::io::Write;

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use tastebud_core::DatasetStats;
use tastebud_core::stats::Quantiles;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    t
}

/// `datasets list`.
pub fn list(out: &mut impl Write, json: bool) -> Result<()> {
    let formats = tastebud_data::formats::formats();
    let remotes = tastebud_data::download::known();
    if json {
        let v = serde_json::json!({ "formats": formats, "downloads": remotes });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let mut t = table(&["format", "recognised by"]);
    for f in &formats {
        t.add_row(vec![f.name, f.recognised_by]);
    }
    writeln!(out, "{t}\n")?;
    let mut t = table(&["download", "size", "description"]);
    for r in remotes {
        t.add_row(vec![
            r.name.to_string(),
            format!("{:.1} MB", r.approx_bytes as f64 / 1e6),
            r.description.to_string(),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn date(t: i64) -> String {
    // Civil date from Unix seconds (Howard Hinnant's algorithm), UTC.
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn quantile_row(name: &str, q: &Quantiles) -> Vec<String> {
    let f = |v: f64| format!("{v:.0}");
    vec![
        name.into(),
        f(q.min),
        f(q.p25),
        f(q.p50),
        f(q.p75),
        f(q.p90),
        f(q.p99),
        f(q.max),
        format!("{:.1}", q.mean),
    ]
}

/// `datasets info` as tables.
pub fn print(out: &mut impl Write, s: &DatasetStats) -> Result<()> {
    let mut t = table(&["", ""]);
    t.add_row(vec!["dataset".to_string(), s.name.clone()]);
    t.add_row(vec![
        "feedback".to_string(),
        format!("{:?}", s.kind).to_lowercase(),
    ]);
    t.add_row(vec![
        "users".to_string(),
        format!(
            "{} ({} with interactions)",
            thousands(s.users),
            thousands(s.active_users)
        ),
    ]);
    t.add_row(vec![
        "items".to_string(),
        format!(
            "{} ({} with interactions)",
            thousands(s.items),
            thousands(s.active_items)
        ),
    ]);
    t.add_row(vec!["interactions".to_string(), thousands(s.interactions)]);
    t.add_row(vec![
        "density".to_string(),
        format!("{:.4} %", s.density * 100.0),
    ]);
    t.add_row(vec![
        "mean value".to_string(),
        format!("{:.3}", s.mean_value),
    ]);
    if let Some((a, b)) = s.time_range {
        t.add_row(vec![
            "time range".to_string(),
            format!("{} .. {} ({a} .. {b})", date(a), date(b)),
        ]);
    }
    t.add_row(vec![
        "long-tail share".to_string(),
        format!(
            "{:.1} % of interactions outside the top 20 % of items",
            s.long_tail_share * 100.0
        ),
    ]);
    t.add_row(vec![
        "80 % of interactions".to_string(),
        format!("on {:.1} % of items", s.items_for_80pct * 100.0),
    ]);
    t.add_row(vec!["item Gini".to_string(), format!("{:.3}", s.item_gini)]);
    if s.skipped_lines > 0 {
        t.add_row(vec![
            "skipped lines".to_string(),
            thousands(s.skipped_lines as usize),
        ]);
    }
    writeln!(out, "{t}\n")?;

    if !s.value_histogram.is_empty() {
        let mut t = table(&["value", "count", "share", ""]);
        let max = s.value_histogram.iter().map(|&(_, c)| c).max().unwrap_or(1);
        for &(v, c) in &s.value_histogram {
            let bar = "█".repeat((c * 30).div_ceil(max));
            t.add_row(vec![
                format!("{v}"),
                thousands(c),
                format!("{:.1} %", c as f64 * 100.0 / s.interactions.max(1) as f64),
                bar,
            ]);
        }
        writeln!(out, "{t}\n")?;
    }

    let mut t = table(&[
        "interactions per",
        "min",
        "p25",
        "p50",
        "p75",
        "p90",
        "p99",
        "max",
        "mean",
    ]);
    t.add_row(quantile_row("user", &s.per_user));
    t.add_row(quantile_row("item", &s.per_item));
    writeln!(out, "{t}")?;

    if !s.item_features.is_empty() || !s.user_features.is_empty() {
        let mut t = table(&["features of", "column", "kind", "size"]);
        for (who, cols) in [("item", &s.item_features), ("user", &s.user_features)] {
            for c in cols {
                let size = match c.kind {
                    "categorical" => format!("{} labels", c.size),
                    _ => format!("{} values", c.size),
                };
                t.add_row(vec![
                    who.to_string(),
                    c.name.clone(),
                    c.kind.to_string(),
                    size,
                ]);
            }
        }
        writeln!(out, "\n{t}")?;
    }
    Ok(())
}

/// `datasets split` as a table.
pub fn print_split(out: &mut impl Write, m: &tastebud_data::write::SplitManifest) -> Result<()> {
    let mut t = table(&["folder", "train", "test", "fold-in"]);
    for f in &m.folds {
        t.add_row(vec![
            f.dir.clone(),
            thousands(f.train),
            thousands(f.test),
            f.fold_in.map_or_else(|| "-".to_string(), thousands),
        ]);
    }
    writeln!(
        out,
        "split {} (seed {}) of {}\n{t}",
        m.spec, m.seed, m.source
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_and_dates() {
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(943), "943");
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(874_724_710), "1997-09-20");
        assert_eq!(date(893_286_638), "1998-04-22");
    }
}
