//! Plain-text box tables, shared by the report and the re-ranker sweeps.

use std::fmt::Write as _;

/// Renders rows as an aligned box table (first row is the header): numbers right-aligned, text
/// left-aligned.
pub(crate) fn render(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|x| x.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |l: char, m: char, r: char| -> String {
        let mut s = String::from(l);
        for (c, w) in width.iter().enumerate() {
            s.push_str(&"─".repeat(w + 2));
            s.push(if c + 1 == n { r } else { m });
        }
        s.push('\n');
        s
    };
    let mut s = line('┌', '┬', '┐');
    for (k, r) in rows.iter().enumerate() {
        s.push('│');
        for (c, w) in width.iter().enumerate() {
            let cell = r.get(c).map_or("", String::as_str);
            let pad = w - cell.chars().count();
            // Numbers right-aligned, text left-aligned.
            if c > 0 && k > 0 {
                let _ = write!(s, " {}{} │", " ".repeat(pad), cell);
            } else {
                let _ = write!(s, " {}{} │", cell, " ".repeat(pad));
            }
        }
        s.push('\n');
        if k == 0 {
            s.push_str(&line('├', '┼', '┤'));
        }
    }
    s.push_str(&line('└', '┴', '┘'));
    s
}
