//! Knowledge-based (constraint-based) recommendation, after Felfernig & Burke (2008): hard **constraints**
//! over item features choose the items (`genres = Comedy`, `year >= 1990`, `year in 1990..1999`,
//! `title ~ star`), a **multi-attribute utility** over weighted soft **preferences** ranks them
//! (`genres = Drama^2`, `year high`, `year near 1995`), optionally blended with any collaborative model's
//! score, and when no item satisfies every constraint the **minimal relaxations** (the smallest sets of
//! constraints whose removal leaves items) are computed exactly and explained: "No item meets
//! `genres = Comedy` and `year >= 2000` together; dropping `year >= 2000` gives 41 items".
//!
//! Constraint grammar, `COLUMN OP VALUE` (the column is matched exactly, then ignoring case, then with a
//! plural `s`, so `genre` finds `genres`):
//!
//! | op | column kind | meaning |
//! |---|---|---|
//! | `=` | categorical | has any of the `\|`-separated labels |
//! | `!=` | categorical | has none of them |
//! | `=`, `!=` | numeric, text | equal (text: ignoring case) to one of the values / to none |
//! | `<` `<=` `>` `>=` | numeric | compares; a missing value never passes |
//! | `in LO..HI` | numeric | `LO <= x <= HI` |
//! | `~` | text, categorical | contains the value, ignoring case (a label containing it) |
//!
//! A preference is a constraint (worth 1 when met, 0 otherwise), or `COLUMN high`, `COLUMN low`,
//! `COLUMN near VALUE` on a numeric column (scaled to `[0, 1]` by the column's range), with an optional
//! weight `^W` (default 1). The utility is `sum(w * v) / sum(w)`, in `[0, 1]`.
//!
//! ```
//! use tastebud_core::{FeatureTable, ItemIdx};
//! use tastebud_models::knowledge::KnowledgeQuery;
//! let mut t = FeatureTable::new(3);
//! let mut g = t.categorical_builder();
//! g.push(0, "Comedy", 1.0);
//! g.push(1, "Comedy", 1.0);
//! g.push(2, "Drama", 1.0);
//! t.add("genres", g.finish())?;
//! t.add_numeric("year", vec![Some(1995.0), Some(1999.0), Some(2001.0)])?;
//!
//! let q = KnowledgeQuery::parse(&t, &["genre = Comedy"], &["year high"], 0.0)?;
//! let s = q.select(&t, (0..3).map(ItemIdx));
//! assert_eq!(s.items, vec![ItemIdx(0), ItemIdx(1)]);
//! let ranked = q.rank(&t, &s.items, &[]);
//! assert_eq!(ranked[0].item, ItemIdx(1)); // the newer comedy
//!
//! // Nothing is a comedy from 2000 on: the one minimal relaxation is to drop the year.
//! let q = KnowledgeQuery::parse(&t, &["genres = Comedy", "year >= 2000"], &[] as &[&str], 0.5)?;
//! let s = q.select(&t, (0..3).map(ItemIdx));
//! assert!(s.items.is_empty());
//! assert_eq!(s.outcome.relaxations[0].drop, vec!["year >= 2000"]);
//! assert_eq!(s.outcome.relaxations[0].items, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use tastebud_core::{FeatureTable, FeatureValues, ItemIdx, Scored};

/// The most constraints one query may hold (each is a bit of an item's violation mask).
pub const MAX_CONSTRAINTS: usize = 64;

/// The most relaxations an outcome lists.
pub const MAX_RELAXATIONS: usize = 10;

/// Why a constraint or preference was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KnowledgeError {
    /// Not of the form `COLUMN OP VALUE` (or a preference form), or a value that is not a number.
    #[error("{0}")]
    Syntax(String),
    /// Well formed, but names a column, label or kind the items do not have.
    #[error("{0}")]
    Unknown(String),
}

impl From<KnowledgeError> for tastebud_core::Error {
    fn from(e: KnowledgeError) -> Self {
        tastebud_core::Error::InvalidParam {
            name: "constraint",
            reason: e.to_string(),
        }
    }
}

type KResult<T> = std::result::Result<T, KnowledgeError>;

/// A test on one column's value.
#[derive(Clone, Debug, PartialEq)]
enum Test {
    /// Categorical: has any of these label indices.
    AnyOf(Vec<u32>),
    /// Categorical: has none of these.
    NoneOf(Vec<u32>),
    /// Categorical: has a label containing this (lower-case) text.
    LabelContains(Vec<u32>),
    /// Numeric: equal to one of.
    NumIn(Vec<f32>),
    /// Numeric: equal to none of (a missing value passes).
    NumNotIn(Vec<f32>),
    /// Numeric: `lo <= x <= hi` (open ends are infinite).
    Range(f32, f32),
    /// Numeric: `x > v` (`>`) or `x < v` (`<`), strict.
    Greater(f32),
    Less(f32),
    /// Text: equal (ignoring case) to one of / to none of.
    TextIn(Vec<String>),
    TextNotIn(Vec<String>),
    /// Text: contains (ignoring case).
    TextContains(String),
}

/// A hard requirement on an item's features.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    /// The text as the user wrote it (trimmed): what explanations and relaxations name.
    pub text: String,
    column: usize,
    test: Test,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How a preference values an item, in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    /// 1 when the constraint is met.
    Meets(Test),
    /// `(x - min) / (max - min)`.
    High,
    /// `(max - x) / (max - min)`.
    Low,
    /// `1 - |x - t| / (max - min)`.
    Near(f32),
}

/// A weighted soft preference.
#[derive(Clone, Debug, PartialEq)]
pub struct Preference {
    /// The text as written, without its weight.
    pub text: String,
    /// Its weight (> 0).
    pub weight: f32,
    column: usize,
    value: Value,
    /// The numeric column's `(min, max)` over the catalogue, for scaling.
    range: (f32, f32),
}

/// A knowledge-based request: constraints, preferences, and how much a collaborative model's score counts.
#[derive(Clone, Debug, PartialEq)]
pub struct KnowledgeQuery {
    /// Hard constraints, in the order given.
    pub constraints: Vec<Constraint>,
    /// Soft preferences.
    pub preferences: Vec<Preference>,
    /// Weight of the model's (min-max scaled) score against the utility, in `[0, 1]`: 0 ranks by utility
    /// alone (ties in the model's order), 1 by the model alone among the items that qualify.
    pub blend: f32,
    /// When no item meets every constraint, recommend from the first minimal relaxation (fewest
    /// constraints dropped, then most items) instead of returning nothing.
    pub relax: bool,
}

/// A minimal relaxation: constraints whose removal leaves items, no subset of which would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relaxation {
    /// The constraints to drop, as written.
    pub drop: Vec<String>,
    /// How many items meet the constraints that remain.
    pub items: usize,
}

/// What the constraints found, for the response and the explanation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Items (of those that could be recommended) meeting every constraint.
    pub satisfying: usize,
    /// When that is 0: a minimal set of constraints no item meets together (dropping any one of them
    /// leaves items meeting the rest of the set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflict: Vec<String>,
    /// When that is 0: every minimal relaxation (at most [`MAX_RELAXATIONS`]), fewest dropped first, then
    /// most items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relaxations: Vec<Relaxation>,
    /// The constraints dropped to answer (with [`KnowledgeQuery::relax`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relaxed: Vec<String>,
    /// The same in a sentence.
    pub message: String,
}

/// The items that qualify, and what was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Items meeting every constraint (or the applied relaxation's), in index order.
    pub items: Vec<ItemIdx>,
    /// Counts, conflict, relaxations, message.
    pub outcome: Outcome,
}

/// Why one item qualifies and how it scored on the preferences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemReason {
    /// The constraints it meets (all of them, or all that were kept).
    pub meets: Vec<String>,
    /// Each preference with the item's value in `[0, 1]`.
    pub preferences: Vec<(String, f32)>,
    /// The weighted utility, in `[0, 1]` (absent without preferences).
    pub utility: Option<f32>,
}

impl ItemReason {
    /// One sentence: "meets genres = Comedy and year >= 1990; prefers genres = Drama (yes), year high (0.83)".
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.meets.is_empty() {
            s.push_str("meets ");
            s.push_str(&join_and(&self.meets));
        }
        if !self.preferences.is_empty() {
            if !s.is_empty() {
                s.push_str("; ");
            }
            s.push_str("preferences: ");
            let parts: Vec<String> = self
                .preferences
                .iter()
                .map(|(p, v)| {
                    if *v >= 1.0 {
                        format!("{p} (yes)")
                    } else if *v <= 0.0 {
                        format!("{p} (no)")
                    } else {
                        format!("{p} ({v:.2})")
                    }
                })
                .collect();
            s.push_str(&parts.join(", "));
            if let Some(u) = self.utility {
                s.push_str(&format!(", utility {u:.2}"));
            }
        }
        s
    }
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [a] => a.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Operators, longest spelling first so `>=` is not read as `>`.
const OPS: [&str; 8] = ["!=", ">=", "<=", "==", "=", ">", "<", "~"];

/// Splits `COLUMN OP VALUE` at the first operator (or the word `in`).
fn split_op(s: &str) -> Option<(&str, &str, &str)> {
    let mut best: Option<(usize, &str)> = None;
    for op in OPS {
        if let Some(at) = s.find(op)
            && best.is_none_or(|(b, bo)| at < b || (at == b && op.len() > bo.len()))
        {
            best = Some((at, op));
        }
    }
    // ` in ` as a word, before any symbol operator.
    if let Some(at) = s.find(" in ")
        && best.is_none_or(|(b, _)| at < b)
    {
        best = Some((at, " in "));
    }
    let (at, op) = best?;
    Some((s[..at].trim(), op.trim(), s[at + op.len()..].trim()))
}

fn number(s: &str, what: &str) -> KResult<f32> {
    s.trim()
        .parse::<f32>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| KnowledgeError::Syntax(format!("`{what}`: `{}` is not a number", s.trim())))
}

/// The column index of `name`: exact, then ignoring case, then `name + "s"` (`genre` -> `genres`).
fn resolve(t: &FeatureTable, name: &str, what: &str) -> KResult<usize> {
    let cols = t.columns();
    let lower = name.to_lowercase();
    cols.iter()
        .position(|c| c.name == name)
        .or_else(|| cols.iter().position(|c| c.name.to_lowercase() == lower))
        .or_else(|| {
            cols.iter()
                .position(|c| c.name.to_lowercase() == format!("{lower}s"))
        })
        .ok_or_else(|| {
            let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
            KnowledgeError::Unknown(format!(
                "`{what}`: the items have no column `{name}` (columns: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ))
        })
}

fn values(v: &str) -> Vec<&str> {
    v.split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Label indices of `names` in a categorical column (exact, then ignoring case).
fn labels(t: &FeatureTable, col: usize, names: &[&str], what: &str) -> KResult<Vec<u32>> {
    let c = &t.columns()[col];
    let FeatureValues::Categorical { vocab, .. } = &c.values else {
        unreachable!("checked by the caller")
    };
    names
        .iter()
        .map(|&n| {
            vocab
                .get(n)
                .or_else(|| {
                    (0..vocab.len() as u32)
                        .find(|&l| vocab.id(l).is_some_and(|x| x.eq_ignore_ascii_case(n)))
                })
                .ok_or_else(|| {
                    let mut known: Vec<&str> = (0..vocab.len() as u32)
                        .filter_map(|l| vocab.id(l))
                        .collect();
                    let more = known.len() > 30;
                    known.truncate(30);
                    KnowledgeError::Unknown(format!(
                        "`{what}`: no item has `{n}` in `{}` (values: {}{})",
                        c.name,
                        known.join(", "),
                        if more { ", ..." } else { "" }
                    ))
                })
        })
        .collect()
}

fn parse_test(t: &FeatureTable, s: &str) -> KResult<(usize, Test)> {
    let (col, op, val) = split_op(s).ok_or_else(|| {
        KnowledgeError::Syntax(format!(
            "`{s}`: expected COLUMN OP VALUE with OP one of = != < <= > >= ~ in (e.g. `genres = Comedy`, `year >= 1990`)"
        ))
    })?;
    if col.is_empty() || val.is_empty() {
        return Err(KnowledgeError::Syntax(format!(
            "`{s}`: a column and a value are needed on each side of `{op}`"
        )));
    }
    let c = resolve(t, col, s)?;
    let kind_err = |kind: &str| {
        KnowledgeError::Unknown(format!(
            "`{s}`: `{op}` does not apply to `{}`, a {kind} column",
            t.columns()[c].name
        ))
    };
    let test = match (&t.columns()[c].values, op) {
        (FeatureValues::Categorical { .. }, "=" | "==") => {
            Test::AnyOf(labels(t, c, &values(val), s)?)
        }
        (FeatureValues::Categorical { .. }, "!=") => Test::NoneOf(labels(t, c, &values(val), s)?),
        (FeatureValues::Categorical { vocab, .. }, "~") => {
            let needle = val.to_lowercase();
            let hits: Vec<u32> = (0..vocab.len() as u32)
                .filter(|&l| {
                    vocab
                        .id(l)
                        .is_some_and(|x| x.to_lowercase().contains(&needle))
                })
                .collect();
            Test::LabelContains(hits)
        }
        (FeatureValues::Categorical { .. }, _) => return Err(kind_err("categorical")),
        (FeatureValues::Numeric(_), "=" | "==" | "!=") => {
            let v = values(val)
                .iter()
                .map(|x| number(x, s))
                .collect::<KResult<Vec<_>>>()?;
            if op == "!=" {
                Test::NumNotIn(v)
            } else {
                Test::NumIn(v)
            }
        }
        (FeatureValues::Numeric(_), ">=") => Test::Range(number(val, s)?, f32::INFINITY),
        (FeatureValues::Numeric(_), "<=") => Test::Range(f32::NEG_INFINITY, number(val, s)?),
        (FeatureValues::Numeric(_), ">") => Test::Greater(number(val, s)?),
        (FeatureValues::Numeric(_), "<") => Test::Less(number(val, s)?),
        (FeatureValues::Numeric(_), "in") => {
            let (lo, hi) = val.split_once("..").ok_or_else(|| {
                KnowledgeError::Syntax(format!(
                    "`{s}`: expected `in LO..HI`, e.g. `year in 1990..1999`"
                ))
            })?;
            let (lo, hi) = (number(lo, s)?, number(hi, s)?);
            if lo > hi {
                return Err(KnowledgeError::Syntax(format!(
                    "`{s}`: the range's low end is above its high end"
                )));
            }
            Test::Range(lo, hi)
        }
        (FeatureValues::Numeric(_), _) => return Err(kind_err("numeric")),
        (FeatureValues::Text(_), "=" | "==") => {
            Test::TextIn(values(val).iter().map(|x| x.to_lowercase()).collect())
        }
        (FeatureValues::Text(_), "!=") => {
            Test::TextNotIn(values(val).iter().map(|x| x.to_lowercase()).collect())
        }
        (FeatureValues::Text(_), "~") => Test::TextContains(val.to_lowercase()),
        (FeatureValues::Text(_), _) => return Err(kind_err("text")),
    };
    Ok((c, test))
}

fn passes(t: &FeatureTable, col: usize, test: &Test, item: usize) -> bool {
    match (&t.columns()[col].values, test) {
        (
            FeatureValues::Categorical {
                offsets, labels, ..
            },
            _,
        ) => {
            let has = &labels[offsets[item]..offsets[item + 1]];
            match test {
                Test::AnyOf(want) | Test::LabelContains(want) => {
                    has.iter().any(|l| want.contains(l))
                }
                Test::NoneOf(want) => !has.iter().any(|l| want.contains(l)),
                _ => false,
            }
        }
        (FeatureValues::Numeric(v), _) => match (v[item], test) {
            (None, Test::NumNotIn(_)) => true,
            (None, _) => false,
            (Some(x), Test::NumIn(w)) => w.contains(&x),
            (Some(x), Test::NumNotIn(w)) => !w.contains(&x),
            (Some(x), Test::Range(lo, hi)) => *lo <= x && x <= *hi,
            (Some(x), Test::Greater(y)) => x > *y,
            (Some(x), Test::Less(y)) => x < *y,
            _ => false,
        },
        (FeatureValues::Text(v), _) => {
            let x = v[item].as_deref().map(str::to_lowercase);
            match (x, test) {
                (None, Test::TextNotIn(_)) => true,
                (None, _) => false,
                (Some(x), Test::TextIn(w)) => w.contains(&x),
                (Some(x), Test::TextNotIn(w)) => !w.contains(&x),
                (Some(x), Test::TextContains(n)) => x.contains(n.as_str()),
                _ => false,
            }
        }
    }
}

impl Constraint {
    /// Parses `COLUMN OP VALUE` against the item features (see the module's grammar).
    pub fn parse(t: &FeatureTable, s: &str) -> KResult<Constraint> {
        let text = s.trim().to_string();
        let (column, test) = parse_test(t, &text)?;
        Ok(Constraint { text, column, test })
    }

    /// Whether item `i` meets it.
    pub fn matches(&self, t: &FeatureTable, i: ItemIdx) -> bool {
        i.get() < t.len() && passes(t, self.column, &self.test, i.get())
    }
}

impl Preference {
    /// Parses a preference (see the module's grammar), with its optional `^WEIGHT`.
    pub fn parse(t: &FeatureTable, s: &str) -> KResult<Preference> {
        let s = s.trim();
        let (body, weight) = match s.rsplit_once('^') {
            Some((b, w)) if w.trim().parse::<f32>().is_ok() => {
                let w = number(w, s)?;
                if w <= 0.0 {
                    return Err(KnowledgeError::Syntax(format!(
                        "`{s}`: a weight must be above 0"
                    )));
                }
                (b.trim(), w)
            }
            _ => (s, 1.0),
        };
        let words: Vec<&str> = body.split_whitespace().collect();
        let numeric = |name: &str| -> KResult<(usize, (f32, f32))> {
            let c = resolve(t, name, s)?;
            match &t.columns()[c].values {
                FeatureValues::Numeric(v) => {
                    let (lo, hi) = v
                        .iter()
                        .flatten()
                        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                            (lo.min(x), hi.max(x))
                        });
                    Ok((c, (lo, hi)))
                }
                _ => Err(KnowledgeError::Unknown(format!(
                    "`{s}`: `{}` is not a numeric column",
                    t.columns()[c].name
                ))),
            }
        };
        let (column, value, range) = match words.as_slice() {
            [col, "high" | "max" | "higher"] => {
                let (c, r) = numeric(col)?;
                (c, Value::High, r)
            }
            [col, "low" | "min" | "lower"] => {
                let (c, r) = numeric(col)?;
                (c, Value::Low, r)
            }
            [col, "near", v] => {
                let (c, r) = numeric(col)?;
                (c, Value::Near(number(v, s)?), r)
            }
            _ => {
                let (c, test) = parse_test(t, body)?;
                (c, Value::Meets(test), (0.0, 0.0))
            }
        };
        Ok(Preference {
            text: body.to_string(),
            weight,
            column,
            value,
            range,
        })
    }

    /// The item's value in `[0, 1]` (0 for a missing number).
    pub fn value(&self, t: &FeatureTable, i: ItemIdx) -> f32 {
        if i.get() >= t.len() {
            return 0.0;
        }
        let (lo, hi) = self.range;
        let span = hi - lo;
        let x = match &t.columns()[self.column].values {
            FeatureValues::Numeric(v) => v[i.get()],
            _ => None,
        };
        match &self.value {
            Value::Meets(test) => f32::from(u8::from(passes(t, self.column, test, i.get()))),
            Value::High => x.map_or(0.0, |x| if span > 0.0 { (x - lo) / span } else { 1.0 }),
            Value::Low => x.map_or(0.0, |x| if span > 0.0 { (hi - x) / span } else { 1.0 }),
            Value::Near(target) => x.map_or(0.0, |x| {
                if span > 0.0 {
                    (1.0 - (x - target).abs() / span).clamp(0.0, 1.0)
                } else {
                    f32::from(u8::from(x == *target))
                }
            }),
        }
    }
}

impl KnowledgeQuery {
    /// Parses constraints and preferences against the item features. `blend` is the model's weight,
    /// in `[0, 1]`.
    pub fn parse(
        t: &FeatureTable,
        constraints: &[impl AsRef<str>],
        preferences: &[impl AsRef<str>],
        blend: f32,
    ) -> KResult<KnowledgeQuery> {
        if constraints.len() > MAX_CONSTRAINTS {
            return Err(KnowledgeError::Syntax(format!(
                "{} constraints: at most {MAX_CONSTRAINTS} are accepted",
                constraints.len()
            )));
        }
        if !(0.0..=1.0).contains(&blend) {
            return Err(KnowledgeError::Syntax(format!(
                "blend {blend} is not in [0, 1]"
            )));
        }
        Ok(KnowledgeQuery {
            constraints: constraints
                .iter()
                .map(|c| Constraint::parse(t, c.as_ref()))
                .collect::<KResult<_>>()?,
            preferences: preferences
                .iter()
                .map(|p| Preference::parse(t, p.as_ref()))
                .collect::<KResult<_>>()?,
            blend,
            relax: false,
        })
    }

    /// The same query, relaxing automatically when nothing qualifies.
    pub fn relaxing(mut self, relax: bool) -> Self {
        self.relax = relax;
        self
    }

    /// Bit `c` set when item `i` fails constraint `c`.
    pub fn violations(&self, t: &FeatureTable, i: ItemIdx) -> u64 {
        self.constraints
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.matches(t, i))
            .fold(0u64, |m, (k, _)| m | (1 << k))
    }

    fn names(&self, mask: u64) -> Vec<String> {
        self.constraints
            .iter()
            .enumerate()
            .filter(|(k, _)| mask & (1 << k) != 0)
            .map(|(_, c)| c.text.clone())
            .collect()
    }

    /// The items of `universe` (those that may be recommended: not consumed, hidden or excluded) that
    /// meet every constraint; when there are none, the minimal conflict and minimal relaxations, and,
    /// with [`Self::relax`], the items of the first relaxation.
    pub fn select(
        &self,
        t: &FeatureTable,
        universe: impl IntoIterator<Item = ItemIdx>,
    ) -> Selection {
        // Each item's violation mask; the items and counts per distinct mask.
        let mut by_mask: HashMap<u64, Vec<ItemIdx>> = HashMap::new();
        for i in universe {
            by_mask.entry(self.violations(t, i)).or_default().push(i);
        }
        let all = if self.constraints.is_empty() {
            "no constraint".to_string()
        } else {
            join_and(
                &self
                    .names(u64::MAX)
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>(),
            )
        };
        if let Some(items) = by_mask.get(&0) {
            let mut items = items.clone();
            items.sort_unstable();
            let n = items.len();
            return Selection {
                items,
                outcome: Outcome {
                    satisfying: n,
                    message: format!(
                        "{n} item{} meet{} {all}",
                        plural(n),
                        if n == 1 { "s" } else { "" }
                    ),
                    ..Outcome::default()
                },
            };
        }
        let masks: Vec<(u64, usize)> = {
            let mut m: Vec<(u64, usize)> = by_mask.iter().map(|(&m, v)| (m, v.len())).collect();
            m.sort_unstable_by_key(|&(m, _)| (m.count_ones(), m));
            m
        };
        // A drop set D leaves an item iff the item's mask is a subset of D, so the minimal relaxations are
        // exactly the minimal masks (no other present mask is a proper subset of them).
        let mut minimal: Vec<u64> = Vec::new();
        for &(m, _) in &masks {
            if !minimal.iter().any(|&a| a & !m == 0) {
                minimal.push(m);
            }
        }
        let count = |d: u64| -> usize {
            masks
                .iter()
                .filter(|&&(m, _)| m & !d == 0)
                .map(|&(_, n)| n)
                .sum()
        };
        let mut relax: Vec<(u64, usize)> = minimal.iter().map(|&d| (d, count(d))).collect();
        relax.sort_by_key(|&(d, n)| (d.count_ones(), std::cmp::Reverse(n), d));
        // A minimal conflict (deletion-based, as QuickXPlain's result): constraints no item meets together.
        let mut conflict: u64 = if self.constraints.len() == 64 {
            u64::MAX
        } else {
            (1u64 << self.constraints.len()) - 1
        };
        let empty = |c: u64| masks.iter().all(|&(m, _)| m & c != 0);
        for k in (0..self.constraints.len()).rev() {
            let without = conflict & !(1 << k);
            if conflict & (1 << k) != 0 && empty(without) {
                conflict = without;
            }
        }
        let conflict_names = self.names(conflict);
        let mut message = if masks.is_empty() {
            "No item is left to recommend".to_string()
        } else if conflict_names.len() == 1 {
            format!("No item meets `{}`", conflict_names[0])
        } else {
            let quoted: Vec<String> = conflict_names.iter().map(|c| format!("`{c}`")).collect();
            format!("No item meets {} together", join_and(&quoted))
        };
        for &(d, n) in relax.iter().take(3) {
            let quoted: Vec<String> = self.names(d).iter().map(|c| format!("`{c}`")).collect();
            message.push_str(&format!(
                "; dropping {} gives {n} item{}",
                join_and(&quoted),
                plural(n)
            ));
        }
        let relaxations: Vec<Relaxation> = relax
            .iter()
            .take(MAX_RELAXATIONS)
            .map(|&(d, n)| Relaxation {
                drop: self.names(d),
                items: n,
            })
            .collect();
        let (items, relaxed) = match relax.first() {
            Some(&(d, _)) if self.relax => {
                let mut items: Vec<ItemIdx> = by_mask
                    .iter()
                    .filter(|&(&m, _)| m & !d == 0)
                    .flat_map(|(_, v)| v.iter().copied())
                    .collect();
                items.sort_unstable();
                let names = self.names(d);
                message.push_str(&format!(
                    "; recommending without {}",
                    join_and(&names.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>())
                ));
                (items, names)
            }
            _ => (Vec::new(), Vec::new()),
        };
        Selection {
            items,
            outcome: Outcome {
                satisfying: 0,
                conflict: if masks.is_empty() {
                    Vec::new()
                } else {
                    conflict_names
                },
                relaxations,
                relaxed,
                message,
            },
        }
    }

    /// The multi-attribute utility of item `i`, in `[0, 1]` (0 without preferences).
    pub fn utility(&self, t: &FeatureTable, i: ItemIdx) -> f32 {
        let total: f32 = self.preferences.iter().map(|p| p.weight).sum();
        if total <= 0.0 {
            return 0.0;
        }
        self.preferences
            .iter()
            .map(|p| p.weight * p.value(t, i))
            .sum::<f32>()
            / total
    }

    /// Ranks `items` (those [`Self::select`] chose) by `(1 - blend) * utility + blend * model`, where
    /// `model` is the model's score of each item (`scored`, any order) min-max scaled to `[0, 1]` over
    /// these items (0 for an item the model did not score). Ties keep the model's order, then index order.
    pub fn rank(&self, t: &FeatureTable, items: &[ItemIdx], scored: &[Scored]) -> Vec<Scored> {
        let model: HashMap<ItemIdx, f32> = scored.iter().map(|s| (s.item, s.score)).collect();
        let (lo, hi) = items
            .iter()
            .filter_map(|i| model.get(i))
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let scale = |x: f32| if hi > lo { (x - lo) / (hi - lo) } else { 1.0 };
        let mut out: Vec<(Scored, f32)> = items
            .iter()
            .map(|&i| {
                let m = model.get(&i).map_or(0.0, |&x| scale(x));
                let u = self.utility(t, i);
                let score = (1.0 - self.blend) * u + self.blend * m;
                let raw = model.get(&i).copied().unwrap_or(f32::NEG_INFINITY);
                (Scored { item: i, score }, raw)
            })
            .collect();
        out.sort_by(|a, b| {
            b.0.score
                .total_cmp(&a.0.score)
                .then(b.1.total_cmp(&a.1))
                .then(a.0.item.cmp(&b.0.item))
        });
        out.into_iter().map(|(s, _)| s).collect()
    }

    /// Why item `i` qualifies (the constraints it meets, minus `relaxed` ones) and its preference values.
    pub fn reason(&self, t: &FeatureTable, i: ItemIdx, relaxed: &[String]) -> ItemReason {
        ItemReason {
            meets: self
                .constraints
                .iter()
                .filter(|c| !relaxed.contains(&c.text) && c.matches(t, i))
                .map(|c| c.text.clone())
                .collect(),
            preferences: self
                .preferences
                .iter()
                .map(|p| (p.text.clone(), p.value(t, i)))
                .collect(),
            utility: (!self.preferences.is_empty()).then(|| self.utility(t, i)),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five films: (genres, year, title).
    fn table() -> FeatureTable {
        let rows: [(&[&str], Option<f32>, &str); 5] = [
            (&["Comedy"], Some(1995.0), "Toy Story"),
            (&["Comedy", "Romance"], Some(1999.0), "Notting Hill"),
            (&["Drama"], Some(2001.0), "Amelie Drama"),
            (&["Horror"], None, "Unknown Year"),
            (&["Comedy", "Drama"], Some(1990.0), "Old Mix"),
        ];
        let mut t = FeatureTable::new(rows.len());
        let mut g = t.categorical_builder();
        for (i, (gs, _, _)) in rows.iter().enumerate() {
            for x in *gs {
                g.push(i, x, 1.0);
            }
        }
        t.add("genres", g.finish()).unwrap();
        t.add_numeric("year", rows.iter().map(|r| r.1).collect())
            .unwrap();
        t.add_text(
            "title",
            rows.iter().map(|r| Some(r.2.to_string())).collect(),
        )
        .unwrap();
        t
    }

    fn all() -> impl Iterator<Item = ItemIdx> {
        (0..5).map(ItemIdx)
    }

    fn ids(v: &[ItemIdx]) -> Vec<u32> {
        v.iter().map(|i| i.0).collect()
    }

    fn sel(c: &[&str]) -> Selection {
        let t = table();
        KnowledgeQuery::parse(&t, c, &[] as &[&str], 0.5)
            .unwrap()
            .select(&t, all())
    }

    #[test]
    fn each_operator_selects_what_it_says() {
        assert_eq!(ids(&sel(&["genres = Comedy"]).items), [0, 1, 4]);
        assert_eq!(ids(&sel(&["genre = comedy|horror"]).items), [0, 1, 3, 4]);
        assert_eq!(ids(&sel(&["genres != Comedy"]).items), [2, 3]);
        assert_eq!(ids(&sel(&["year >= 1995"]).items), [0, 1, 2]);
        assert_eq!(ids(&sel(&["year > 1995"]).items), [1, 2]);
        assert_eq!(ids(&sel(&["year < 1995"]).items), [4]);
        assert_eq!(ids(&sel(&["year <= 1995"]).items), [0, 4]);
        assert_eq!(ids(&sel(&["year = 1999|2001"]).items), [1, 2]);
        // A missing year is "not 1999" but never in a range.
        assert_eq!(ids(&sel(&["year != 1999"]).items), [0, 2, 3, 4]);
        assert_eq!(ids(&sel(&["year in 1990..1995"]).items), [0, 4]);
        assert_eq!(ids(&sel(&["title ~ DRAMA"]).items), [2]);
        assert_eq!(ids(&sel(&["title = toy story"]).items), [0]);
        assert_eq!(ids(&sel(&["genres ~ rom"]).items), [1]);
        assert_eq!(
            ids(&sel(&["genres = Comedy", "year >= 1995"]).items),
            [0, 1]
        );
        assert_eq!(sel(&["genres = Comedy"]).outcome.satisfying, 3);
        assert!(sel(&["genres = Comedy"]).outcome.relaxations.is_empty());
    }

    #[test]
    fn bad_constraints_say_what_is_wrong() {
        let t = table();
        let err = |s: &str| Constraint::parse(&t, s).unwrap_err();
        assert!(matches!(err("genres Comedy"), KnowledgeError::Syntax(_)));
        assert!(matches!(err("year >= soon"), KnowledgeError::Syntax(_)));
        assert!(matches!(
            err("year in 2000..1990"),
            KnowledgeError::Syntax(_)
        ));
        assert!(matches!(err("= Comedy"), KnowledgeError::Syntax(_)));
        let e = err("colour = red");
        assert!(matches!(e, KnowledgeError::Unknown(_)));
        assert!(e.to_string().contains("genres, year, title"), "{e}");
        let e = err("genres = Comdy");
        assert!(e.to_string().contains("Comedy"), "{e}");
        assert!(matches!(err("genres >= 3"), KnowledgeError::Unknown(_)));
        assert!(matches!(err("title > a"), KnowledgeError::Unknown(_)));
        assert!(Preference::parse(&t, "genres high").is_err());
        assert!(Preference::parse(&t, "year high^0").is_err());
        assert!(KnowledgeQuery::parse(&t, &["year > 1"], &[] as &[&str], 1.5).is_err());
    }

    #[test]
    fn minimal_relaxations_are_every_minimal_drop_set() {
        // Comedy (0,1,4) and after 2000 (2) and not Drama (0,1,3): no item meets all three.
        let s = sel(&["genres = Comedy", "year > 2000", "genres != Drama"]);
        assert!(s.items.is_empty());
        assert_eq!(s.outcome.satisfying, 0);
        // Item masks: 0 -> {year}, 1 -> {year}, 2 -> {comedy, not drama}, 3 -> {comedy, year},
        // 4 -> {year, not drama}. Minimal: {year} (items 0, 1), {comedy, not drama} (item 2).
        let r = &s.outcome.relaxations;
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].drop, vec!["year > 2000"]);
        assert_eq!(r[0].items, 2);
        assert_eq!(r[1].drop, vec!["genres = Comedy", "genres != Drama"]);
        assert_eq!(r[1].items, 1);
        // The conflict is minimal: Comedy and after 2000 alone already have no item.
        assert_eq!(s.outcome.conflict, vec!["genres = Comedy", "year > 2000"]);
        assert!(
            s.outcome.message.starts_with(
                "No item meets `genres = Comedy` and `year > 2000` together; dropping `year > 2000` gives 2 items"
            ),
            "{}",
            s.outcome.message
        );
        assert!(s.outcome.relaxed.is_empty());
    }

    #[test]
    fn relaxing_recommends_from_the_first_relaxation() {
        let t = table();
        let q = KnowledgeQuery::parse(&t, &["genres = Comedy", "year > 2000"], &[] as &[&str], 0.5)
            .unwrap()
            .relaxing(true);
        let s = q.select(&t, all());
        assert_eq!(s.outcome.relaxed, vec!["year > 2000"]);
        assert_eq!(ids(&s.items), [0, 1, 4]);
        let r = q.reason(&t, ItemIdx(0), &s.outcome.relaxed);
        assert_eq!(r.meets, vec!["genres = Comedy"]);
    }

    #[test]
    fn an_unsatisfiable_single_constraint_is_its_own_conflict() {
        let s = sel(&["genres = Comedy", "year >= 2050"]);
        assert_eq!(s.outcome.conflict, vec!["year >= 2050"]);
        assert_eq!(s.outcome.relaxations[0].drop, vec!["year >= 2050"]);
        assert_eq!(s.outcome.relaxations[0].items, 3);
        // An empty universe: nothing to relax.
        let t = table();
        let q = KnowledgeQuery::parse(&t, &["genres = Comedy"], &[] as &[&str], 0.5).unwrap();
        let s = q.select(&t, std::iter::empty());
        assert!(s.outcome.relaxations.is_empty() && s.outcome.conflict.is_empty());
    }

    #[test]
    fn utility_weights_preferences_and_blends_with_the_model() {
        let t = table();
        let q = KnowledgeQuery::parse(
            &t,
            &[] as &[&str],
            &["genres = Romance^3", "year high"],
            0.0,
        )
        .unwrap();
        // Year range 1990..2001: item 2 (2001) has year value 1, item 1 (1999) 9/11 and Romance.
        let u1 = q.utility(&t, ItemIdx(1));
        assert!((u1 - (3.0 + 9.0 / 11.0) / 4.0).abs() < 1e-6, "{u1}");
        assert!((q.utility(&t, ItemIdx(2)) - 0.25).abs() < 1e-6);
        assert_eq!(q.utility(&t, ItemIdx(3)), 0.0, "missing year, no Romance");
        let items: Vec<ItemIdx> = all().collect();
        let ranked = q.rank(&t, &items, &[]);
        assert_eq!(
            ids(&ranked.iter().map(|s| s.item).collect::<Vec<_>>()),
            [1, 2, 0, 3, 4]
        );
        // Blend 1: the model's order; blend 0 with equal utilities: ties in the model's order.
        let model: Vec<Scored> = [(4, 9.0), (3, 5.0), (0, 1.0)]
            .iter()
            .map(|&(i, s)| Scored {
                item: ItemIdx(i),
                score: s,
            })
            .collect();
        let q1 = KnowledgeQuery {
            blend: 1.0,
            ..q.clone()
        };
        let r1 = q1.rank(&t, &items, &model);
        assert_eq!(r1[0].item, ItemIdx(4));
        assert_eq!(r1[1].item, ItemIdx(3));
        let q0 = KnowledgeQuery::parse(&t, &[] as &[&str], &[] as &[&str], 0.0).unwrap();
        let r0 = q0.rank(&t, &items, &model);
        assert_eq!(
            ids(&r0.iter().map(|s| s.item).collect::<Vec<_>>()),
            [4, 3, 0, 1, 2]
        );
        let near = Preference::parse(&t, "year near 1995").unwrap();
        assert_eq!(near.value(&t, ItemIdx(0)), 1.0);
        assert!((near.value(&t, ItemIdx(4)) - (1.0 - 5.0 / 11.0)).abs() < 1e-6);
        let low = Preference::parse(&t, "year low ^ 2").unwrap();
        assert_eq!((low.weight, low.value(&t, ItemIdx(4))), (2.0, 1.0));
        let r = q.reason(&t, ItemIdx(1), &[]).render();
        assert!(
            r.contains("genres = Romance (yes)") && r.contains("year high (0.82)"),
            "{r}"
        );
    }
}
