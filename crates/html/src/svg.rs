//! Inline SVG charts, written as text with fixed font sizes (no font library measures anything; text widths
//! are estimated generously by [`text_width`]).
//!
//! A [`Chart`] is one `<svg>` element: a plot area inside margins set by a [`Style`], with legend rows
//! reserved below it. The caller picks ranges ([`NiceRange`] for 1-2-5 ticks, or its own), maps data to
//! pixels with a [`Scale`], and draws:
//!
//! - [`Chart::frame`]: horizontal grid lines with y tick labels, x ticks with labels, the axis lines and
//!   the axis labels;
//! - [`Chart::polyline`] for line series, [`Chart::marker`] for points (four shapes, so series stay apart
//!   without colour), [`Chart::bar`] for bars, [`Chart::text`] for labels, [`Chart::raw`] for anything
//!   else (bands, reference lines);
//! - the legend, laid out left to right in rows by [`Chart::new`] and drawn by [`Chart::finish`].
//!
//! Every number goes through [`Px`], so a non-finite value can never reach the markup, and every text
//! through [`escape`].
//!
//! ```
//! use tastebud_html::svg::{Chart, LegendEntry, Marker, NiceRange, Style, Swatch};
//!
//! let style = Style::default();
//! let legend = vec![LegendEntry::new("popularity", "#0072B2", Swatch::Bar)];
//! let mut c = Chart::new(&style, "segments", "ndcg by history", legend);
//! let (y, yticks) = c.linear_axis(NiceRange::cover(0.0, 0.25), false);
//! let area = c.area();
//! let xticks = vec![((area.left + area.right) / 2.0, "0-5".to_string())];
//! c.frame(&xticks, &yticks, "training interactions", "ndcg");
//! let (top, zero) = (y.map(0.21), y.map(0.0));
//! c.bar(200.0, top, 40.0, zero - top, "#0072B2", "popularity: 0.21");
//! c.marker(Marker::Circle, 220.0, top, "#0072B2", "0.21");
//! let svg = c.finish();
//! assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
//! assert!(svg.contains("<title>popularity: 0.21</title>"));
//! ```

use std::fmt::{self, Write as _};

use crate::escape;

/// A pixel coordinate or length written with at most one decimal (`12`, `12.5`); a non-finite value is
/// written as `0`, so a bad number can never produce `NaN` or `inf` in the markup.
///
/// ```
/// use tastebud_html::svg::Px;
/// assert_eq!(Px(12.04).to_string(), "12");
/// assert_eq!(Px(12.06).to_string(), "12.1");
/// assert_eq!(Px(f64::NAN).to_string(), "0");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Px(pub f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_finite() {
            let r = (self.0 * 10.0).round() / 10.0;
            if r == r.trunc() {
                write!(f, "{}", r as i64)
            } else {
                write!(f, "{r:.1}")
            }
        } else {
            f.write_str("0")
        }
    }
}

/// Decimals that tell apart ticks `step` apart: 0 for steps of 1 or more, 1 for 0.1 to 0.5, and so on.
///
/// ```
/// use tastebud_html::svg::decimals_for_step;
/// assert_eq!(decimals_for_step(5.0), 0);
/// assert_eq!(decimals_for_step(0.2), 1);
/// assert_eq!(decimals_for_step(0.05), 2);
/// ```
pub fn decimals_for_step(step: f64) -> usize {
    if step.is_finite() && step > 0.0 {
        (-step.log10() - 1e-9).ceil().max(0.0) as usize
    } else {
        0
    }
}

/// An axis range with round ends and a round tick step (1, 2 or 5 times a power of ten), about five
/// ticks.
///
/// ```
/// use tastebud_html::svg::NiceRange;
/// let r = NiceRange::cover(0.013, 0.38);
/// assert_eq!((r.lo, r.hi, r.step), (0.0, 0.4, 0.1));
/// let labels: Vec<String> = r.labelled_ticks().into_iter().map(|t| t.1).collect();
/// assert_eq!(labels, ["0.0", "0.1", "0.2", "0.3", "0.4"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NiceRange {
    /// The lowest tick, at or below the data.
    pub lo: f64,
    /// The highest tick, at or above the data.
    pub hi: f64,
    /// The distance between ticks.
    pub step: f64,
}

impl NiceRange {
    /// The nice range covering `[lo, hi]`. An empty or non-finite span becomes `[lo, lo + |hi|]` (or
    /// `[lo, lo + 1]` when `hi` is 0), so there is always something to draw.
    pub fn cover(lo: f64, hi: f64) -> NiceRange {
        let mut hi = hi;
        if hi - lo <= 0.0 || !(hi - lo).is_finite() {
            hi = lo + if hi.abs() > 0.0 { hi.abs() } else { 1.0 };
        }
        let raw = (hi - lo) / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let norm = raw / mag;
        let step = mag
            * if norm <= 1.0 {
                1.0
            } else if norm <= 2.0 {
                2.0
            } else if norm <= 5.0 {
                5.0
            } else {
                10.0
            };
        NiceRange {
            lo: (lo / step + 1e-9).floor() * step,
            hi: (hi / step - 1e-9).ceil() * step,
            step,
        }
    }

    /// The tick values from `lo` to `hi`, with values within rounding error of zero written as zero.
    pub fn ticks(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round().max(0.0) as usize;
        (0..=n)
            .map(|i| {
                let v = self.lo + i as f64 * self.step;
                if v.abs() < self.step * 1e-9 { 0.0 } else { v }
            })
            .collect()
    }

    /// The ticks with labels at the step's precision ([`decimals_for_step`]).
    pub fn labelled_ticks(&self) -> Vec<(f64, String)> {
        let d = decimals_for_step(self.step);
        self.ticks()
            .into_iter()
            .map(|v| (v, format!("{v:.d$}")))
            .collect()
    }
}

/// A map from data values to pixels, linear or logarithmic. `px0` is where `lo` lands, so a y scale runs
/// from the bottom pixel to the top one.
///
/// ```
/// use tastebud_html::svg::Scale;
/// let y = Scale::linear(0.0, 1.0, 200.0, 0.0);
/// assert_eq!(y.map(0.25), 150.0);
/// let x = Scale::log(1.0, 100.0, 0.0, 100.0);
/// assert!((x.map(10.0) - 50.0).abs() < 1e-9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    px0: f64,
    px1: f64,
}

impl Scale {
    /// `lo..hi` onto `px0..px1`, linearly.
    pub fn linear(lo: f64, hi: f64, px0: f64, px1: f64) -> Scale {
        Scale {
            lo,
            hi,
            log: false,
            px0,
            px1,
        }
    }

    /// `lo..hi` (both positive) onto `px0..px1` by their logarithms.
    pub fn log(lo: f64, hi: f64, px0: f64, px1: f64) -> Scale {
        Scale {
            lo,
            hi,
            log: true,
            px0,
            px1,
        }
    }

    /// The pixel of `v` (outside the pixel range when `v` is outside `lo..hi`).
    pub fn map(&self, v: f64) -> f64 {
        let t = if self.log {
            (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        self.px0 + t * (self.px1 - self.px0)
    }
}

/// Rough rendered width of `s` at `size` px in a sans-serif font; slightly generous, so layouts don't
/// clip.
pub fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// `s` cut to `max_chars` characters, the last one an ellipsis, when it is longer.
///
/// ```
/// assert_eq!(tastebud_html::svg::shorten("abcdef", 4), "abc…");
/// assert_eq!(tastebud_html::svg::shorten("abc", 4), "abc");
/// ```
pub fn shorten(s: &str, max_chars: usize) -> String {
    if s.chars().count() > max_chars {
        let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

/// Sizes, margins, fonts and colours of a chart. The default is the evaluation report's look: 480 × 300
/// px, a title inside the chart, dark text on white.
#[derive(Clone, Debug)]
pub struct Style {
    /// Chart width, px.
    pub width: f64,
    /// Chart height without the legend rows, px.
    pub height: f64,
    /// Margin left of the plot area (room for y tick labels and the y axis label), px.
    pub left: f64,
    /// Margin right of the plot area, px.
    pub right: f64,
    /// Margin above the plot area (room for the title), px.
    pub top: f64,
    /// Margin below the plot area (room for x tick labels and the x axis label), px.
    pub bottom: f64,
    /// The `font-family` of every text.
    pub font_family: &'static str,
    /// Size of the title drawn at the top; `None` when the page captions the chart instead (the title
    /// still names the `<svg>` for screen readers).
    pub title_font: Option<f64>,
    /// Size of the axis labels, px.
    pub label_font: f64,
    /// Size of the tick labels, px.
    pub tick_font: f64,
    /// Size of the legend entries and point labels, px.
    pub legend_font: f64,
    /// Colour of titles, axis labels and legend text.
    pub text: &'static str,
    /// Colour of tick labels.
    pub tick_text: &'static str,
    /// Colour of the horizontal grid lines.
    pub grid: &'static str,
    /// Colour of the axis lines and x tick marks; `None` draws neither.
    pub axis: Option<&'static str>,
    /// Chart background (also the outline of markers, so they stand out on lines).
    pub background: &'static str,
    /// Width of line series, px.
    pub line_width: f64,
    /// Radius of a circle marker, px (the other shapes are scaled to match).
    pub marker_radius: f64,
    /// Height of one legend row, px.
    pub legend_row: f64,
    /// Longest name drawn in a legend before it is shortened (the full name stays in the tooltip).
    pub max_label_chars: usize,
}

impl Default for Style {
    fn default() -> Style {
        Style {
            width: 480.0,
            height: 300.0,
            left: 66.0,
            right: 20.0,
            top: 42.0,
            bottom: 54.0,
            font_family: "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
            title_font: Some(15.0),
            label_font: 13.0,
            tick_font: 12.0,
            legend_font: 12.0,
            text: "#1b1b1b",
            tick_text: "#444",
            grid: "#e4e4e4",
            axis: Some("#888"),
            background: "#ffffff",
            line_width: 2.2,
            marker_radius: 4.8,
            legend_row: 20.0,
            max_label_chars: 32,
        }
    }
}

/// The shape of a point marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A circle.
    Circle,
    /// A square.
    Square,
    /// A triangle pointing up.
    Triangle,
    /// A diamond.
    Diamond,
}

impl Marker {
    /// The `i`-th shape, cycling, so that series `i` keeps one shape across charts.
    pub fn nth(i: usize) -> Marker {
        [
            Marker::Circle,
            Marker::Square,
            Marker::Triangle,
            Marker::Diamond,
        ][i % 4]
    }
}

/// How a legend entry's swatch is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Swatch {
    /// A short line, dashed with `dash` (an SVG `stroke-dasharray`) when given, with a marker on it when
    /// given.
    Line {
        /// The dash pattern, e.g. `"6 3"`.
        dash: Option<&'static str>,
        /// The marker drawn in the middle of the line.
        marker: Option<Marker>,
    },
    /// A small filled rectangle, for bar series.
    Bar,
}

impl Swatch {
    /// A plain solid line.
    pub fn line() -> Swatch {
        Swatch::Line {
            dash: None,
            marker: None,
        }
    }
}

/// One legend entry: a series' name, colour and swatch.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    /// The series' name (plain text).
    pub name: String,
    /// Its colour.
    pub colour: String,
    /// How its swatch is drawn.
    pub swatch: Swatch,
}

impl LegendEntry {
    /// An entry.
    pub fn new(name: impl Into<String>, colour: impl Into<String>, swatch: Swatch) -> LegendEntry {
        LegendEntry {
            name: name.into(),
            colour: colour.into(),
            swatch,
        }
    }
}

/// The plot area in pixels. SVG's y grows downwards, so `bottom > top`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    /// Left edge.
    pub left: f64,
    /// Right edge.
    pub right: f64,
    /// Top edge.
    pub top: f64,
    /// Bottom edge (where the x axis is).
    pub bottom: f64,
}

/// Horizontal alignment of a text at its x.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Anchor {
    /// x is where the text starts.
    #[default]
    Start,
    /// x is the text's middle.
    Middle,
    /// x is where the text ends.
    End,
}

/// How [`Chart::text`] draws a text.
#[derive(Clone, Copy, Debug)]
pub struct Text<'a> {
    /// Font size, px.
    pub size: f64,
    /// Fill colour.
    pub fill: &'a str,
    /// Alignment at x.
    pub anchor: Anchor,
    /// Semi-bold (`font-weight="600"`).
    pub bold: bool,
}

/// One SVG chart being written; see the [module documentation](self).
#[derive(Debug)]
pub struct Chart {
    s: String,
    style: Style,
    height: f64,
    area: Area,
    legend: Vec<LegendEntry>,
    layout: Vec<(f64, usize)>,
}

impl Chart {
    /// Opens the `<svg>` (class `chart`, `data-chart="{kind}"`, named by `title`), fills the background,
    /// draws the title when the style has a title font, and reserves the rows `legend` needs below the
    /// plot.
    pub fn new(style: &Style, kind: &str, title: &str, legend: Vec<LegendEntry>) -> Chart {
        let (layout, rows) = legend_layout(style, &legend);
        let height =
            style.height + rows as f64 * style.legend_row + if rows > 0 { 6.0 } else { 0.0 };
        let mut s = String::with_capacity(8 * 1024);
        let (w, h) = (Px(style.width), Px(height));
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" data-chart=\"{}\" width=\"{w}\" \
             height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" font-family=\"{}\"><title>{}</title>\
             <rect width=\"{w}\" height=\"{h}\" fill=\"{}\"/>",
            escape(kind),
            style.font_family,
            escape(title),
            style.background,
        );
        if let Some(size) = style.title_font {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"24\" font-size=\"{size}\" font-weight=\"600\" text-anchor=\"middle\" \
                 fill=\"{}\">{}</text>",
                Px(style.width / 2.0),
                style.text,
                escape(title)
            );
        }
        Chart {
            s,
            area: Area {
                left: style.left,
                right: style.width - style.right,
                top: style.top,
                bottom: style.height - style.bottom,
            },
            style: style.clone(),
            height,
            legend,
            layout,
        }
    }

    /// The plot area.
    pub fn area(&self) -> Area {
        self.area
    }

    /// The chart's height with its legend rows, px.
    pub fn height(&self) -> f64 {
        self.height
    }

    /// The style the chart was opened with.
    pub fn style(&self) -> &Style {
        &self.style
    }

    /// A linear scale over `range` along x (`horizontal`) or y, and its ticks as `(pixel, label)` for
    /// [`frame`](Chart::frame).
    pub fn linear_axis(&self, range: NiceRange, horizontal: bool) -> (Scale, Vec<(f64, String)>) {
        let a = self.area;
        let (px0, px1) = if horizontal {
            (a.left, a.right)
        } else {
            (a.bottom, a.top)
        };
        let scale = Scale::linear(range.lo, range.hi, px0, px1);
        let ticks = range
            .labelled_ticks()
            .into_iter()
            .map(|(v, l)| (scale.map(v), l))
            .collect();
        (scale, ticks)
    }

    /// Grid lines at the y ticks with their labels, x ticks with their labels, the axis lines, and the
    /// axis labels (an empty label is left out). Ticks are `(pixel, label)`; labels are plain text.
    pub fn frame(
        &mut self,
        xticks: &[(f64, String)],
        yticks: &[(f64, String)],
        xlabel: &str,
        ylabel: &str,
    ) {
        let (a, st, s) = (self.area, &self.style, &mut self.s);
        let tick = st.tick_font;
        for (py, label) in yticks {
            let _ = write!(
                s,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\"/>\
                 <text x=\"{}\" y=\"{}\" font-size=\"{tick}\" text-anchor=\"end\" fill=\"{}\">{}</text>",
                Px(a.left),
                Px(*py),
                Px(a.right),
                Px(*py),
                st.grid,
                Px(a.left - 7.0),
                Px(py + tick * 0.35),
                st.tick_text,
                escape(label)
            );
        }
        for (px, label) in xticks {
            if let Some(axis) = st.axis {
                let _ = write!(
                    s,
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{axis}\" stroke-width=\"1\"/>",
                    Px(*px),
                    Px(a.bottom),
                    Px(*px),
                    Px(a.bottom + 5.0),
                );
            }
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" font-size=\"{tick}\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
                Px(*px),
                Px(a.bottom + 7.0 + tick),
                st.tick_text,
                escape(label)
            );
        }
        if let Some(axis) = st.axis {
            let _ = write!(
                s,
                "<path d=\"M{} {}V{}H{}\" fill=\"none\" stroke=\"{axis}\" stroke-width=\"1\"/>",
                Px(a.left),
                Px(a.top),
                Px(a.bottom),
                Px(a.right),
            );
        }
        let label = st.label_font;
        if !xlabel.is_empty() {
            let _ = write!(
                s,
                "<text class=\"axis-label\" x=\"{}\" y=\"{}\" font-size=\"{label}\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
                Px((a.left + a.right) / 2.0),
                Px(st.height - 10.0),
                st.text,
                escape(xlabel)
            );
        }
        if !ylabel.is_empty() {
            let _ = write!(
                s,
                "<text class=\"axis-label\" transform=\"translate({} {}) rotate(-90)\" font-size=\"{label}\" text-anchor=\"middle\" fill=\"{}\">{}</text>",
                Px(16.0),
                Px((a.top + a.bottom) / 2.0),
                st.text,
                escape(ylabel)
            );
        }
    }

    /// A line through `points` (pixels), dashed with `dash` (an SVG `stroke-dasharray`) when given.
    /// Fewer than two points draw nothing.
    pub fn polyline(&mut self, points: &[(f64, f64)], colour: &str, dash: Option<&str>) {
        if points.len() < 2 {
            return;
        }
        let pts: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{},{}", Px(x), Px(y)))
            .collect();
        let _ = write!(
            self.s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{}\" stroke-linejoin=\"round\"{}/>",
            pts.join(" "),
            self.style.line_width,
            dash_attr(dash)
        );
    }

    /// A point marker at `(x, y)` (pixels) with `tip` (plain text) as its tooltip.
    pub fn marker(&mut self, shape: Marker, x: f64, y: f64, colour: &str, tip: &str) {
        let r = self.style.marker_radius;
        // The shapes were drawn for r = 4.8 and scale with it.
        let k = r / 4.8;
        let common = format!(
            "fill=\"{colour}\" stroke=\"{}\" stroke-width=\"1.2\"",
            self.style.background
        );
        let tip = escape(tip);
        let _ = match shape {
            Marker::Circle => write!(
                self.s,
                "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" {common}><title>{tip}</title></circle>",
                Px(x),
                Px(y),
                Px(r)
            ),
            Marker::Square => write!(
                self.s,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {common}><title>{tip}</title></rect>",
                Px(x - 4.5 * k),
                Px(y - 4.5 * k),
                Px(9.0 * k),
                Px(9.0 * k)
            ),
            Marker::Triangle => write!(
                self.s,
                "<path d=\"M{} {}L{} {}L{} {}Z\" {common}><title>{tip}</title></path>",
                Px(x),
                Px(y - 6.0 * k),
                Px(x + 5.5 * k),
                Px(y + 4.0 * k),
                Px(x - 5.5 * k),
                Px(y + 4.0 * k)
            ),
            Marker::Diamond => write!(
                self.s,
                "<path d=\"M{} {}L{} {}L{} {}L{} {}Z\" {common}><title>{tip}</title></path>",
                Px(x),
                Px(y - 6.0 * k),
                Px(x + 6.0 * k),
                Px(y),
                Px(x),
                Px(y + 6.0 * k),
                Px(x - 6.0 * k),
                Px(y)
            ),
        };
    }

    /// A bar: the rectangle at `(x, y)` (its top left corner, pixels), `width` × `height`, with `tip`
    /// (plain text) as its tooltip.
    pub fn bar(&mut self, x: f64, y: f64, width: f64, height: f64, colour: &str, tip: &str) {
        let _ = write!(
            self.s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{colour}\"><title>{}</title></rect>",
            Px(x),
            Px(y),
            Px(width),
            Px(height),
            escape(tip)
        );
    }

    /// `content` (plain text) at `(x, y)` (the baseline, pixels), with `tip` as its tooltip when given.
    pub fn text(&mut self, x: f64, y: f64, t: Text<'_>, content: &str, tip: Option<&str>) {
        let anchor = match t.anchor {
            Anchor::Start => "",
            Anchor::Middle => " text-anchor=\"middle\"",
            Anchor::End => " text-anchor=\"end\"",
        };
        let bold = if t.bold { " font-weight=\"600\"" } else { "" };
        let _ = write!(
            self.s,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\"{anchor}{bold} fill=\"{}\">{}",
            Px(x),
            Px(y),
            t.size,
            t.fill,
            escape(content)
        );
        if let Some(tip) = tip {
            let _ = write!(self.s, "<title>{}</title>", escape(tip));
        }
        self.s.push_str("</text>");
    }

    /// Trusted SVG markup, written as is (for shapes the primitives don't cover).
    pub fn raw(&mut self, markup: &str) {
        self.s.push_str(markup);
    }

    /// Draws the legend below the plot and closes the `<svg>`.
    pub fn finish(mut self) -> String {
        let legend = std::mem::take(&mut self.legend);
        let layout = std::mem::take(&mut self.layout);
        for (e, &(x, row)) in legend.iter().zip(&layout) {
            let st = &self.style;
            let cy = st.height + 4.0 + row as f64 * st.legend_row + st.legend_row / 2.0;
            match e.swatch {
                Swatch::Line { dash, marker } => {
                    let _ = write!(
                        self.s,
                        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>",
                        Px(x),
                        Px(cy),
                        Px(x + 24.0),
                        Px(cy),
                        e.colour,
                        st.line_width,
                        dash_attr(dash)
                    );
                    if let Some(m) = marker {
                        self.marker(m, x + 12.0, cy, &e.colour, &e.name);
                    }
                }
                Swatch::Bar => {
                    let _ = write!(
                        self.s,
                        "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"12\" fill=\"{}\"/>",
                        Px(x + 5.0),
                        Px(cy - 6.0),
                        e.colour
                    );
                }
            }
            let st = &self.style;
            let _ = write!(
                self.s,
                "<text x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\">{}<title>{}</title></text>",
                Px(x + 30.0),
                Px(cy + st.legend_font * 0.35),
                st.legend_font,
                st.text,
                escape(&shorten(&e.name, st.max_label_chars)),
                escape(&e.name)
            );
        }
        self.s.push_str("</svg>");
        self.s
    }
}

/// ` stroke-dasharray="…"` for a dash pattern, nothing without one.
fn dash_attr(dash: Option<&str>) -> String {
    dash.map_or_else(String::new, |d| format!(" stroke-dasharray=\"{d}\""))
}

/// Positions `(x, row)` of legend entries flowing left to right, and the number of rows.
fn legend_layout(style: &Style, legend: &[LegendEntry]) -> (Vec<(f64, usize)>, usize) {
    let (start, end) = (14.0, style.width - 10.0);
    let mut x = start;
    let mut row = 0;
    let mut out = Vec::with_capacity(legend.len());
    for e in legend {
        let name = shorten(&e.name, style.max_label_chars);
        let w = 30.0 + text_width(&name, style.legend_font) + 18.0;
        if x + w > end && x > start {
            row += 1;
            x = start;
        }
        out.push((x, row));
        x += w;
    }
    let rows = if legend.is_empty() { 0 } else { row + 1 };
    (out, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ranges_cover_the_data() {
        for (lo, hi) in [
            (0.0, 0.38),
            (0.013, 0.38),
            (-3.0, 7.0),
            (0.1, 0.1),
            (0.0, 0.0),
            (5.0, 1234.0),
        ] {
            let r = NiceRange::cover(lo, hi);
            assert!(r.lo <= lo && r.hi >= hi.max(lo), "{lo} {hi}: {r:?}");
            let n = r.ticks().len();
            assert!((2..=11).contains(&n), "{lo} {hi}: {n} ticks");
        }
        let empty: Vec<String> = NiceRange::cover(0.0, 0.0)
            .labelled_ticks()
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(empty, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    }

    #[test]
    fn tick_labels_tell_ticks_apart() {
        let labels: Vec<String> = NiceRange::cover(0.0, 0.012)
            .labelled_ticks()
            .into_iter()
            .map(|t| t.1)
            .collect();
        let mut dedup = labels.clone();
        dedup.dedup();
        assert_eq!(labels, dedup);
        assert_eq!(labels.first().map(String::as_str), Some("0.000"));
    }

    #[test]
    fn px_never_writes_non_finite() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(Px(v).to_string(), "0");
        }
        assert_eq!(Px(-0.04).to_string(), "0");
        assert_eq!(Px(-2.25).to_string(), "-2.3");
    }

    #[test]
    fn chart_is_closed_and_escaped() {
        let legend = vec![
            LegendEntry::new(
                "a <b> & 'c'",
                "#000",
                Swatch::Line {
                    dash: Some("6 3"),
                    marker: Some(Marker::Diamond),
                },
            ),
            LegendEntry::new("x".repeat(80), "#111", Swatch::Bar),
        ];
        let mut c = Chart::new(&Style::default(), "k", "t & u", legend);
        assert!(c.height() > Style::default().height);
        c.frame(&[(100.0, "<1>".into())], &[(50.0, "0.1".into())], "x", "");
        c.text(
            1.0,
            2.0,
            Text {
                size: 12.0,
                fill: "#000",
                anchor: Anchor::End,
                bold: true,
            },
            "n's",
            Some("tip"),
        );
        let svg = c.finish();
        assert!(!svg.contains("<b>") && !svg.contains("'c'") && !svg.contains("<1>"));
        assert!(svg.contains("<title>t &amp; u</title>"));
        assert!(svg.contains(">a &lt;b&gt; &amp; &#39;c&#39;<title>"));
        assert!(svg.contains("stroke-dasharray=\"6 3\""));
        assert!(svg.contains(&format!("{}…<title>", "x".repeat(31))));
        assert_eq!(svg.matches("class=\"axis-label\"").count(), 1);
        assert!(svg.contains(
            "text-anchor=\"end\" font-weight=\"600\" fill=\"#000\">n&#39;s<title>tip</title></text>"
        ));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn legend_wraps_into_rows() {
        let legend: Vec<LegendEntry> = (0..12)
            .map(|i| LegendEntry::new(format!("model number {i}"), "#000", Swatch::line()))
            .collect();
        let (layout, rows) = legend_layout(&Style::default(), &legend);
        assert!(rows > 1);
        assert!(layout.iter().all(|&(x, _)| x + 30.0 < 480.0));
        assert_eq!(legend_layout(&Style::default(), &[]).1, 0);
    }
}
