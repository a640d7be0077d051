//! Content-based recommendation: items described by their features, users by the items they interacted with
//! (Pazzani & Billsus 2007, "Content-Based Recommendation Systems").
//!
//! **Item vectors.** Each chosen feature column becomes a block (see the encodings in `featurize`):
//! categorical columns (genres, tags) one-hot with their weights, numeric columns (year) as buckets of width
//! `numeric_bucket` with half weight on the neighbouring buckets, and text columns (titles) as **TF-IDF**
//! over stemmed Unicode words (`tf = 1 + ln(count)`, `idf = ln((1 + n) / (1 + df)) + 1`, scikit-learn's
//! smooth idf). Each block is scaled to unit length and multiplied by its weight (`categorical_weight`,
//! `numeric_weight`, `text_weight`), then the whole vector is scaled to unit length.
//!
//! **Profiles.** A user's profile is the sum of their history's item vectors, each weighted by the
//! interaction's value (a rating, a count), or with `centered` by the value minus the history's mean value
//! (items rated below the user's mean then count against their features; a history whose values are all
//! equal falls back to plain weights). Items are ranked by the cosine between the profile and their vector,
//! so items nobody has touched rank as well as any other: only their features count. An empty history gives
//! every item a score of 0.
//!
//! `similar_items` is the cosine between item vectors; `explain` names the history items whose weighted
//! cosine with the recommended item contributed most to its score. Works with implicit and explicit data.

use serde::{Deserialize, Serialize};
use tastebud_core::{Dataset, Error, ItemIdx, Result, TopK, ensure_param, top_k};

use crate::featurize::{Kind, SparseRows, encode, select};
use crate::{Explanation, Fit, Progress, Query, Recommender, Scored};

/// Hyperparameters of [`Content`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentParams {
    /// Item feature columns: `auto` (every categorical and numeric column, and text columns named title,
    /// description, overview, plot or summary) or a comma-separated list. By default, auto.
    pub features: String,
    /// Weight of the categorical blocks. By default, 1.
    pub categorical_weight: f32,
    /// Weight of the numeric blocks. By default, 0.5.
    pub numeric_weight: f32,
    /// Weight of the text (TF-IDF) blocks. By default, 0.5.
    pub text_weight: f32,
    /// Width of the numeric buckets (a year into its decade). By default, 10.
    pub numeric_bucket: f32,
    /// Weight history items by value minus the history's mean value. By default, false.
    pub centered: bool,
}

impl Default for ContentParams {
    fn default() -> Self {
        ContentParams {
            features: "auto".into(),
            categorical_weight: 1.0,
            numeric_weight: 0.5,
            text_weight: 0.5,
            numeric_bucket: 10.0,
            centered: false,
        }
    }
}

impl ContentParams {
    /// Sets the feature columns. By default, auto.
    pub fn features(mut self, v: &str) -> Self {
        self.features = v.into();
        self
    }
    /// Sets the categorical weight. By default, 1.
    pub fn categorical_weight(mut self, v: f32) -> Self {
        self.categorical_weight = v;
        self
    }
    /// Sets the numeric weight. By default, 0.5.
    pub fn numeric_weight(mut self, v: f32) -> Self {
        self.numeric_weight = v;
        self
    }
    /// Sets the text weight. By default, 0.5.
    pub fn text_weight(mut self, v: f32) -> Self {
        self.text_weight = v;
        self
    }
    /// Sets the numeric bucket width. By default, 10.
    pub fn numeric_bucket(mut self, v: f32) -> Self {
        self.numeric_bucket = v;
        self
    }
    /// Centres history values on their mean. By default, false.
    pub fn centered(mut self, v: bool) -> Self {
        self.centered = v;
        self
    }
    /// Checks every parameter (the columns are checked against the dataset when fitting).
    pub fn validate(&self) -> Result<()> {
        for (v, name) in [
            (self.categorical_weight, "categorical_weight"),
            (self.numeric_weight, "numeric_weight"),
            (self.text_weight, "text_weight"),
        ] {
            ensure_param(
                v.is_finite() && v >= 0.0,
                name,
                "must be a finite number >= 0",
            )?;
        }
        ensure_param(
            self.categorical_weight + self.numeric_weight + self.text_weight > 0.0,
            "categorical_weight",
            "at least one block weight must be > 0",
        )?;
        ensure_param(
            self.numeric_bucket.is_finite() && self.numeric_bucket > 0.0,
            "numeric_bucket",
            "must be a finite number > 0",
        )
    }
}

/// A fitted content-based model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Content {
    #[serde(with = "crate::params_body")]
    params: ContentParams,
    /// Feature names (`genres=Comedy`, `year=1990..2000`, `title~star`).
    feature_names: Vec<String>,
    /// Unit-length item vectors over the features.
    items: SparseRows,
}

fn l2(v: &[(u32, f32)]) -> f32 {
    v.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt()
}

impl Fit for ContentParams {
    type Model = Content;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Content> {
        self.validate()?;
        let n = data.n_items();
        let table = data.item_features.as_ref();
        let cols = select(table, &self.features, true, "features")?;
        let Some(table) = table.filter(|_| !cols.is_empty()) else {
            return Err(Error::InvalidParam {
                name: "features",
                reason: "the content model needs item features (genres, year, titles...) and this \
                         dataset has none"
                    .into(),
            });
        };
        progress.start("feature columns", cols.len() as u64);
        let mut names: Vec<String> = Vec::new();
        let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
        for c in &cols {
            let mut b = encode(table, c, self.numeric_bucket)?;
            let weight = match b.kind {
                Kind::Categorical => self.categorical_weight,
                Kind::Numeric => self.numeric_weight,
                Kind::Text => self.text_weight,
            };
            if b.kind == Kind::Text {
                let mut df = vec![0u32; b.names.len()];
                for r in &b.rows {
                    for &(f, _) in r {
                        df[f as usize] += 1;
                    }
                }
                for r in &mut b.rows {
                    for (f, w) in r.iter_mut() {
                        let idf = ((1.0 + n as f32) / (1.0 + df[*f as usize] as f32)).ln() + 1.0;
                        *w = (1.0 + w.ln()) * idf;
                    }
                }
            }
            let base = names.len() as u32;
            for (r, br) in rows.iter_mut().zip(b.rows) {
                let norm = l2(&br);
                if norm > 0.0 && weight > 0.0 {
                    r.extend(br.into_iter().map(|(f, w)| (base + f, weight * w / norm)));
                }
            }
            names.extend(b.names);
            progress.inc(1);
        }
        for r in &mut rows {
            let norm = l2(r);
            if norm > 0.0 {
                r.iter_mut().for_each(|x| x.1 /= norm);
            }
        }
        Ok(Content {
            params: self.clone(),
            feature_names: names,
            items: SparseRows::from_rows(rows),
        })
    }
}

impl Content {
    /// Feature names, in vector order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    /// Item `i`'s unit vector as `(feature, weight)` pairs.
    pub fn item_vector(&self, i: ItemIdx) -> Result<(&[u32], &[f32])> {
        self.check(i)?;
        Ok(self.items.row(i.get()))
    }

    fn check(&self, i: ItemIdx) -> Result<()> {
        if i.get() >= self.items.len() {
            return Err(Error::IndexOutOfRange {
                kind: "item",
                index: i.0,
                len: self.items.len(),
            });
        }
        Ok(())
    }

    /// The weight of each history item in the profile (see the module documentation).
    fn weights(&self, history: &[(ItemIdx, f32)]) -> Vec<f32> {
        let plain: Vec<f32> = history
            .iter()
            .map(|h| if h.1.is_finite() { h.1 } else { 0.0 })
            .collect();
        if !self.params.centered || plain.is_empty() {
            return plain;
        }
        let mean = plain.iter().sum::<f32>() / plain.len() as f32;
        let c: Vec<f32> = plain.iter().map(|v| v - mean).collect();
        if c.iter().all(|v| v.abs() < 1e-6) {
            plain
        } else {
            c
        }
    }

    /// The unit-length profile of a history (dense over the features; zero for an empty history).
    pub fn profile(&self, history: &[(ItemIdx, f32)]) -> Result<Vec<f32>> {
        let mut p = vec![0f32; self.feature_names.len()];
        for (&(i, _), w) in history.iter().zip(self.weights(history)) {
            self.check(i)?;
            let (cols, vals) = self.items.row(i.get());
            for (&f, &x) in cols.iter().zip(vals) {
                p[f as usize] += w * x;
            }
        }
        let norm = p.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            p.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(p)
    }

    fn dot_row(&self, dense: &[f32], i: usize) -> f32 {
        let (cols, vals) = self.items.row(i);
        cols.iter()
            .zip(vals)
            .map(|(&f, &x)| dense[f as usize] * x)
            .sum()
    }

    fn dense(&self, i: usize) -> Vec<f32> {
        let mut d = vec![0f32; self.feature_names.len()];
        let (cols, vals) = self.items.row(i);
        for (&f, &x) in cols.iter().zip(vals) {
            d[f as usize] = x;
        }
        d
    }

    /// The cosine of every item with a profile.
    pub fn scores(&self, profile: &[f32]) -> Vec<f32> {
        (0..self.items.len())
            .map(|i| self.dot_row(profile, i))
            .collect()
    }
}

impl Recommender for Content {
    fn name(&self) -> &str {
        "content"
    }
    fn n_items(&self) -> usize {
        self.items.len()
    }
    fn recommend(&self, q: &Query<'_>, k: usize) -> Result<Vec<Scored>> {
        let filter = q.filter(self.items.len())?;
        let p = self.profile(q.history)?;
        top_k(&self.scores(&p), k, &filter)
    }
    /// Items by the cosine of their feature vectors, the item itself left out.
    fn similar_items(&self, item: ItemIdx, k: usize) -> Result<Vec<Scored>> {
        self.check(item)?;
        let d = self.dense(item.get());
        let mut top = TopK::new(k);
        for j in 0..self.items.len() {
            if j != item.get() {
                top.push(ItemIdx(j as u32), self.dot_row(&d, j));
            }
        }
        Ok(top.into_sorted())
    }
    /// The history items with the largest positive share of the item's score (weight × cosine).
    fn explain(&self, q: &Query<'_>, item: ItemIdx, n: usize) -> Result<Option<Explanation>> {
        self.check(item)?;
        let d = self.dense(item.get());
        let mut because: Vec<(ItemIdx, f32)> = Vec::new();
        for (&(h, _), w) in q.history.iter().zip(self.weights(q.history)) {
            self.check(h)?;
            let c = w * self.dot_row(&d, h.get());
            if c > 0.0 && h != item {
                match because.iter_mut().find(|b| b.0 == h) {
                    Some(b) => b.1 += c,
                    None => because.push((h, c)),
                }
            }
        }
        because.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        because.truncate(n);
        Ok(Some(Explanation { because }))
    }
}

impl Content {
    /// Checks a decoded model (see [`crate::AnyModel::validate`]): item rows over the named features.
    pub(crate) fn validate(&self) -> Result<()> {
        self.params.validate()?;
        self.items
            .validate("content item rows", self.feature_names.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;
    use tastebud_core::{FeatureTable, Feedback, Interactions, UserIdx};

    /// 4 items: 0 Comedy 1995 "Toy Story", 1 Comedy 1996 "Toy Soldiers", 2 Drama 1971 "Harold and Maude",
    /// 3 Drama 1994 (no title, never interacted with).
    fn data() -> Dataset {
        let x = Interactions::from_triplets(
            2,
            4,
            &[(0, 0, 5.0), (1, 2, 4.0), (1, 1, 1.0)],
            Feedback::Explicit,
        )
        .unwrap();
        let mut d = Dataset::from_parts("c", x, ["a", "b"], ["0", "1", "2", "3"]).unwrap();
        let mut t = FeatureTable::new(4);
        let mut g = t.categorical_builder();
        for (i, genre) in ["Comedy", "Comedy", "Drama", "Drama"].iter().enumerate() {
            g.push(i, genre, 1.0);
        }
        t.add("genres", g.finish()).unwrap();
        t.add_numeric(
            "year",
            vec![Some(1995.0), Some(1996.0), Some(1971.0), Some(1994.0)],
        )
        .unwrap();
        t.add_text(
            "title",
            vec![
                Some("Toy Story (1995)".into()),
                Some("Toy Soldiers (1996)".into()),
                Some("Harold and Maude (1971)".into()),
                None,
            ],
        )
        .unwrap();
        d.item_features = Some(t);
        d
    }

    #[test]
    fn vectors_are_unit_and_blocks_weighted_as_documented() {
        let m = ContentParams::default().fit(&data(), &NoProgress).unwrap();
        for i in 0..4 {
            let (_, v) = m.item_vector(ItemIdx(i)).unwrap();
            let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-5);
        }
        // Item 3 (no title): genre block 1 and year block 0.5 before the final scaling.
        let (cols, vals) = m.item_vector(ItemIdx(3)).unwrap();
        let names: Vec<&str> = cols
            .iter()
            .map(|&c| m.feature_names()[c as usize].as_str())
            .collect();
        assert_eq!(
            names,
            ["genres=Drama", "year=1980..1990", "year=1990..2000"]
        );
        let total = (1.0f32 + 0.25).sqrt();
        assert!((vals[0] - 1.0 / total).abs() < 1e-6);
        // The year block: 1 and 0.5 scaled to length 0.5.
        let yl = (1.0f32 + 0.25).sqrt();
        assert!((vals[2] - 0.5 / yl / total).abs() < 1e-6);
        // TF-IDF: "toy" (in 2 of 4 titles) weighs less than "stori" (in 1).
        let (cols, vals) = m.item_vector(ItemIdx(0)).unwrap();
        let w = |name: &str| {
            let f = m.feature_names().iter().position(|n| n == name).unwrap() as u32;
            vals[cols.iter().position(|&c| c == f).unwrap()]
        };
        assert!(w("title~toy") < w("title~stori"));
        let idf = |df: f32| (5.0f32 / (1.0 + df)).ln() + 1.0;
        assert!((w("title~toy") / w("title~stori") - idf(2.0) / idf(1.0)).abs() < 1e-5);
    }

    #[test]
    fn ranks_by_cosine_serves_untouched_items_and_explains() {
        let d = data();
        let m = ContentParams::default().fit(&d, &NoProgress).unwrap();
        // User a liked a 1995 comedy: the other comedy first, then the 1994 drama (untouched) over 1971's.
        let h = d.interactions.history(UserIdx(0));
        let r = m.recommend(&Query::new(&h), 3).unwrap();
        let order: Vec<u32> = r.iter().map(|s| s.item.0).collect();
        assert_eq!(order, [1, 3, 2]);
        let p = m.profile(&h).unwrap();
        let (c1, v1) = m.item_vector(ItemIdx(1)).unwrap();
        let cos: f32 = c1.iter().zip(v1).map(|(&c, &v)| p[c as usize] * v).sum();
        assert!((r[0].score - cos).abs() < 1e-6);
        // User b: a drama rated 4 and a comedy rated 1. Plain weights still favour drama; centred
        // weights count the comedy against its features.
        let h = d.interactions.history(UserIdx(1));
        let r = m.recommend(&Query::new(&h), 2).unwrap();
        assert_eq!(r[0].item, ItemIdx(3));
        let c = ContentParams::default()
            .centered(true)
            .fit(&d, &NoProgress)
            .unwrap();
        let s = c.scores(&c.profile(&h).unwrap());
        assert!(s[0] < 0.0 && s[3] > 0.0, "{s:?}");
        let e = m.explain(&Query::new(&h), ItemIdx(3), 5).unwrap().unwrap();
        assert_eq!(e.because[0].0, ItemIdx(2));
        let sim = m.similar_items(ItemIdx(0), 1).unwrap();
        assert_eq!(sim[0].item, ItemIdx(1));
        // Empty history: every score 0.
        assert!(
            m.recommend(&Query::new(&[]), 4)
                .unwrap()
                .iter()
                .all(|s| s.score == 0.0)
        );
        assert!(m.recommend(&Query::new(&[(ItemIdx(4), 1.0)]), 1).is_err());
    }

    #[test]
    fn params_and_missing_features_are_clear_errors() {
        let d = data();
        for p in [
            ContentParams::default().numeric_weight(-1.0),
            ContentParams::default()
                .categorical_weight(0.0)
                .numeric_weight(0.0)
                .text_weight(0.0),
            ContentParams::default().numeric_bucket(0.0),
            ContentParams::default().features("colour"),
            ContentParams::default().features("none"),
        ] {
            assert!(
                matches!(p.fit(&d, &NoProgress), Err(Error::InvalidParam { .. })),
                "{p:?}"
            );
        }
        let mut bare = d.clone();
        bare.item_features = None;
        let err = ContentParams::default()
            .fit(&bare, &NoProgress)
            .unwrap_err();
        assert!(err.to_string().contains("needs item features"), "{err}");
    }
}
