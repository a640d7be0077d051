//! Markdown tables, the form every benchmark prints its results in (and BENCHMARKS.md quotes).

use std::fmt;

/// How a column's cells are aligned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Align {
    /// `---`: the renderer's default (left).
    Left,
    /// `---:`: numbers.
    Right,
}

/// A Markdown table: a header, its separator line, then one line per row. Displays as the whole table,
/// each line ending in a newline.
///
/// ```
/// use tastebud_bench::{Align, Table};
/// let mut t = Table::aligned(&[("case", Align::Left), ("n", Align::Right)]);
/// t.row(["batches", "100"]);
/// assert_eq!(t.to_string(), "| case | n |\n|---|---:|\n| batches | 100 |\n");
/// ```
#[derive(Clone, Debug)]
pub struct Table {
    text: String,
}

/// The header and separator lines of a table whose rows are printed as they are measured (long
/// benchmarks show each row when it is ready).
///
/// ```
/// assert_eq!(tastebud_bench::table::header(&["a", "b"]), "| a | b |\n|---|---|\n");
/// ```
pub fn header(columns: &[&str]) -> String {
    Table::new(columns).to_string()
}

impl Table {
    /// A table with these column titles, all left-aligned (`|---|`).
    pub fn new(columns: &[&str]) -> Self {
        let cols: Vec<(&str, Align)> = columns.iter().map(|&c| (c, Align::Left)).collect();
        Self::aligned(&cols)
    }

    /// A table with these column titles and alignments.
    pub fn aligned(columns: &[(&str, Align)]) -> Self {
        let mut t = Table {
            text: String::new(),
        };
        t.row(columns.iter().map(|c| c.0));
        t.text.push('|');
        for (_, align) in columns {
            t.text.push_str(match align {
                Align::Left => "---|",
                Align::Right => "---:|",
            });
        }
        t.text.push('\n');
        t
    }

    /// Appends a row: `| a | b | c |`.
    pub fn row<I>(&mut self, cells: I)
    where
        I: IntoIterator,
        I::Item: fmt::Display,
    {
        self.text.push('|');
        for c in cells {
            self.text.push_str(&format!(" {c} |"));
        }
        self.text.push('\n');
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
