//! The one place Tastebud writes HTML and inline SVG: the offline evaluation report (`tastebud-eval`), the
//! experiment report and the dashboard (`tastebud-server`) all draw with it.
//!
//! - [`escape`] makes any text safe as element content or as a quoted attribute value (`&`, `<`, `>`, `"`
//!   and `'`).
//! - [`Page`] writes the skeleton of a self-contained page: doctype, `<head>` with charset, viewport,
//!   title and an inline stylesheet, then `<body>`.
//! - [`svg`] holds the chart primitives: [`svg::Px`] pixel numbers, [`svg::Scale`] data-to-pixel maps,
//!   [`svg::NiceRange`] axis ranges with 1-2-5 ticks, and [`svg::Chart`], which lays out a plot area and
//!   draws frames (grid, ticks, axis labels), lines, markers, bars, text and a legend.
//!
//! Nothing here fetches anything or needs a script: pages stay readable offline and in a mail attachment.
//!
//! ```
//! use tastebud_html::svg::{Chart, LegendEntry, NiceRange, Style, Swatch};
//! use tastebud_html::{Page, escape};
//!
//! let mut chart = Chart::new(
//!     &Style::default(),
//!     "curve",
//!     "ndcg@K",
//!     vec![LegendEntry::new("EASE <v2>", "#0072B2", Swatch::line())],
//! );
//! let (xs, xticks) = chart.linear_axis(NiceRange::cover(0.0, 20.0), true);
//! let (ys, yticks) = chart.linear_axis(NiceRange::cover(0.0, 0.4), false);
//! chart.frame(&xticks, &yticks, "K", "ndcg");
//! let points: Vec<(f64, f64)> = [(5.0, 0.31), (10.0, 0.35), (20.0, 0.38)]
//!     .iter()
//!     .map(|&(k, v)| (xs.map(k), ys.map(v)))
//!     .collect();
//! chart.polyline(&points, "#0072B2", None);
//! let svg = chart.finish();
//!
//! let mut html = Page::new("Report: ml-100k <sample>").style("body { margin: 0 }").open();
//! html.push_str(&svg);
//! Page::close(&mut html);
//! assert!(html.starts_with("<!DOCTYPE html>\n"));
//! assert!(html.contains("<title>Report: ml-100k &lt;sample&gt;</title>"));
//! assert!(html.contains("EASE &lt;v2&gt;"));
//! assert_eq!(escape("it's"), "it&#39;s");
//! ```

mod page;
pub mod svg;

pub use page::Page;

/// Escapes `s` for HTML and SVG element content and for attribute values in either kind of quotes:
/// `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`, `"` → `&quot;`, `'` → `&#39;`.
///
/// Every string that comes from data (model, dataset, arm and user names, notes) goes through it before it
/// reaches a page.
///
/// ```
/// assert_eq!(tastebud_html::escape(r#"<a href="x">Tom & Jerry's</a>"#),
///            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
/// ```
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_ampersand() {
        assert_eq!(escape("a & b"), "a &amp; b");
        // Already escaped text is escaped again: the input is text, not markup.
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    #[test]
    fn escapes_less_than() {
        assert_eq!(escape("<script>"), "&lt;script&gt;");
    }

    #[test]
    fn escapes_greater_than() {
        assert_eq!(escape("a > b"), "a &gt; b");
    }

    #[test]
    fn escapes_double_quote() {
        assert_eq!(escape(r#"say "hi""#), "say &quot;hi&quot;");
    }

    #[test]
    fn escapes_single_quote() {
        // The experiment report's old escape missed this one: `'` ends a single-quoted attribute.
        assert_eq!(escape("it's"), "it&#39;s");
        assert_eq!(escape("' onmouseover='x"), "&#39; onmouseover=&#39;x");
    }

    #[test]
    fn leaves_other_text_alone() {
        assert_eq!(escape(""), "");
        assert_eq!(
            escape("ndcg@10 ≥ 0.3 · Ünïcode ▲"),
            "ndcg@10 ≥ 0.3 · Ünïcode ▲"
        );
        assert_eq!(escape("KNN <&> \"v2\""), "KNN &lt;&amp;&gt; &quot;v2&quot;");
    }
}
