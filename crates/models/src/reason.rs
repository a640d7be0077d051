//! Human-readable reasons for a recommendation: "because you rated Toy Story (1995) 5 stars", "popular in
//! Comedy this week", "people who watched Heat (1995) also watched this".
//!
//! A [`Reason`] is data (item indices, values, a genre), produced by [`Recommender::reason`] (every model
//! has one: by default it is built from [`Recommender::explain`]); [`Reason::render`] turns it into text
//! given item titles and whether values are ratings ([`RenderContext`]), so the CLI and the server word it
//! the same way. [`reason_for`] never fails to give one: a model with nothing specific to say gets
//! "similar to titles you watched" (it folds the history in) or "recommended for you" (no history).
//!
//! ```
//! use tastebud_core::ItemIdx;
//! use tastebud_models::reason::{Reason, RenderContext};
//! let titles = |i: ItemIdx| ["Toy Story (1995)", "Heat (1995)"][i.get()].to_string();
//! let r = Reason::BecauseYou { items: vec![(ItemIdx(0), 5.0), (ItemIdx(1), 4.0)] };
//! assert_eq!(r.render(&RenderContext::new(&titles).explicit(true)),
//!            "because you rated Toy Story (1995) 5 stars and Heat (1995) 4 stars");
//! let r = Reason::Popular { genre: Some("Comedy".into()), half_life_days: Some(7.0) };
//! assert_eq!(r.render(&RenderContext::new(&titles)), "popular in Comedy this week");
//! ```

use serde::{Deserialize, Serialize};
use tastebud_core::{ItemIdx, Result};

use crate::{Explanation, Query, Recommender};

/// Why an item is recommended, as data; [`Self::render`] words it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The history items that contributed most, with the user's value for each (KNN, EASE, ALS, ...).
    BecauseYou {
        /// `(history item, the user's value)`, most influential first.
        items: Vec<(ItemIdx, f32)>,
    },
    /// An association rule: people who consumed the antecedent also consumed the item.
    AlsoWatched {
        /// The rule's antecedent (items of the user's history).
        antecedent: Vec<ItemIdx>,
        /// The rule's confidence, P(item | antecedent).
        confidence: f32,
    },
    /// Popular overall, recently (trending), or within a genre.
    Popular {
        /// The genre the popularity is counted in, if any.
        genre: Option<String>,
        /// The trending half-life in days, if any (7 reads "this week").
        half_life_days: Option<f64>,
    },
    /// Rated highly by everyone (global and bias models).
    HighlyRated,
    /// Matches the user's history as a whole (models without per-item attributions).
    Taste {
        /// How many history items the model folded in.
        history_len: usize,
    },
    /// A random pick (the random baseline).
    Random,
    /// Nothing more specific is known.
    ForYou,
}

/// How a [`Reason`] is worded: item titles, ratings or plain consumption, and the verb.
pub struct RenderContext<'a> {
    title: &'a dyn Fn(ItemIdx) -> String,
    explicit: bool,
    verb: &'a str,
}

impl<'a> RenderContext<'a> {
    /// A context naming items with `title`; implicit feedback, verb `watched`.
    pub fn new(title: &'a dyn Fn(ItemIdx) -> String) -> Self {
        RenderContext {
            title,
            explicit: false,
            verb: "watched",
        }
    }
    /// Values are ratings ("you rated X 5 stars"). By default, false ("you watched X").
    pub fn explicit(mut self, yes: bool) -> Self {
        self.explicit = yes;
        self
    }
    /// The verb for consumption (`watched`, `bought`, `read`). By default, `watched`.
    pub fn verb(mut self, verb: &'a str) -> Self {
        self.verb = verb;
        self
    }
}

/// `a`, `a and b`, `a, b and c`.
fn list(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn stars(v: f32) -> String {
    let n = if (v - v.round()).abs() < 1e-4 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    };
    if n == "1" {
        "1 star".into()
    } else {
        format!("{n} stars")
    }
}

impl Reason {
    /// The reason in words (lower case, no final full stop).
    pub fn render(&self, ctx: &RenderContext<'_>) -> String {
        let title = |i: ItemIdx| (ctx.title)(i);
        match self {
            Reason::BecauseYou { items } if ctx.explicit => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|&(i, v)| format!("{} {}", title(i), stars(v)))
                    .collect();
                format!("because you rated {}", list(&parts))
            }
            Reason::BecauseYou { items } => {
                let parts: Vec<String> = items.iter().map(|&(i, _)| title(i)).collect();
                format!("because you {} {}", ctx.verb, list(&parts))
            }
            Reason::AlsoWatched { antecedent, .. } => {
                let parts: Vec<String> = antecedent.iter().map(|&i| title(i)).collect();
                format!(
                    "people who {} {} also {} this",
                    ctx.verb,
                    list(&parts),
                    ctx.verb
                )
            }
            Reason::Popular {
                genre,
                half_life_days,
            } => {
                let when = match half_life_days {
                    Some(d) if *d <= 7.0 => " this week",
                    Some(d) if *d <= 31.0 => " this month",
                    Some(_) => " lately",
                    None => "",
                };
                match genre {
                    Some(g) => format!("popular in {g}{when}"),
                    None if when.is_empty() => "popular with everyone".into(),
                    None => format!("popular{when}"),
                }
            }
            Reason::HighlyRated => "highly rated by everyone".into(),
            Reason::Taste { .. } if ctx.explicit => "similar to titles you rated".into(),
            Reason::Taste { .. } => format!("similar to titles you {}", ctx.verb),
            Reason::Random => "a random pick, to explore".into(),
            Reason::ForYou => "recommended for you".into(),
        }
    }

    /// The reason an [`Explanation`] gives: its positively contributing history items (at most 3), with
    /// the user's values from `history`; `None` when no item contributed positively.
    pub fn from_explanation(e: &Explanation, history: &[(ItemIdx, f32)]) -> Option<Reason> {
        let items: Vec<(ItemIdx, f32)> = e
            .because
            .iter()
            .filter(|c| c.1 > 0.0)
            .take(3)
            .filter_map(|&(i, _)| history.iter().find(|h| h.0 == i).copied())
            .collect();
        (!items.is_empty()).then_some(Reason::BecauseYou { items })
    }
}

/// The reason `model` gives for `item`, or the generic one: "similar to titles you watched" when the
/// query has a history, "recommended for you" otherwise. Fails only on bad input (an unknown item).
pub fn reason_for(model: &dyn Recommender, q: &Query<'_>, item: ItemIdx) -> Result<Reason> {
    Ok(match model.reason(q, item)? {
        Some(r) => r,
        None if q.history.is_empty() => Reason::ForYou,
        None => Reason::Taste {
            history_len: q.history.len(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        let t = |i: ItemIdx| format!("T{}", i.0);
        let implicit = RenderContext::new(&t);
        let explicit = RenderContext::new(&t).explicit(true);
        let three = Reason::BecauseYou {
            items: vec![(ItemIdx(1), 1.0), (ItemIdx(2), 4.5), (ItemIdx(3), 3.0)],
        };
        assert_eq!(
            three.render(&explicit),
            "because you rated T1 1 star, T2 4.5 stars and T3 3 stars"
        );
        assert_eq!(
            three.render(&implicit.verb("bought")),
            "because you bought T1, T2 and T3"
        );
        let rule = Reason::AlsoWatched {
            antecedent: vec![ItemIdx(4)],
            confidence: 0.5,
        };
        assert_eq!(
            rule.render(&RenderContext::new(&t)),
            "people who watched T4 also watched this"
        );
        let pop = |g: Option<&str>, d: Option<f64>| Reason::Popular {
            genre: g.map(str::to_string),
            half_life_days: d,
        };
        let ctx = RenderContext::new(&t);
        assert_eq!(pop(None, None).render(&ctx), "popular with everyone");
        assert_eq!(pop(None, Some(30.0)).render(&ctx), "popular this month");
        assert_eq!(
            pop(Some("Drama"), Some(90.0)).render(&ctx),
            "popular in Drama lately"
        );
        assert_eq!(
            Reason::Taste { history_len: 2 }.render(&explicit),
            "similar to titles you rated"
        );
    }

    #[test]
    fn explanation_keeps_positive_history_items() {
        let e = Explanation {
            because: vec![(ItemIdx(2), 0.5), (ItemIdx(1), 0.2), (ItemIdx(0), -0.1)],
        };
        let h = [(ItemIdx(0), 1.0), (ItemIdx(1), 4.0), (ItemIdx(2), 5.0)];
        assert_eq!(
            Reason::from_explanation(&e, &h),
            Some(Reason::BecauseYou {
                items: vec![(ItemIdx(2), 5.0), (ItemIdx(1), 4.0)]
            })
        );
        let none = Explanation {
            because: vec![(ItemIdx(0), -0.1)],
        };
        assert_eq!(Reason::from_explanation(&none, &h), None);
    }
}
