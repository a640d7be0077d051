//! Association rules on ML-100K: baskets are sessions cut from the rating timestamps by an inactivity gap
//! (or each user's whole history), rules mined by FP-growth from the training part of the fixed implicit
//! split (../shared/bench/splits/ml-100k), scored on its test part (NDCG@10 / Recall@10, full ranking).
//! The peers are the popularity and cosine item-kNN numbers of ../shared/bench/RESULTS.md on the same
//! split (numpy popularity 0.1499, implicit item-kNN 0.2577). Run with `--release -- --nocapture`.

use std::time::Instant;

use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx, UserIdx};
use tastebud_models::reason::{Reason, reason_for};
use tastebud_models::rules::{RulesParams, baskets};
use tastebud_models::{Fit, NoProgress, Query, Recommender};

mod common;

/// The fixed split: train with timestamps, and test.
fn split() -> (Dataset, Interactions) {
    let (train, test) = common::fixed_split();
    assert!(train.interactions.has_times());
    (train, test)
}

const POPULARITY_PEER: f64 = 0.1499;
const ITEMKNN_PEER: f64 = 0.2577;

/// A model whose queries carry the user's training history oldest first (so `recent` means recent).
struct TimeOrdered<'a, M> {
    inner: &'a M,
    train: &'a Interactions,
}

impl<M: Recommender> Recommender for TimeOrdered<'_, M> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn n_items(&self) -> usize {
        self.inner.n_items()
    }
    fn recommend(
        &self,
        q: &Query<'_>,
        k: usize,
    ) -> tastebud_core::Result<Vec<tastebud_core::Scored>> {
        let Some(u) = q.user else {
            return self.inner.recommend(q, k);
        };
        let times = self.train.user_times(u).unwrap();
        let mut h: Vec<(i64, ItemIdx, f32)> = self
            .train
            .user_items(u)
            .iter()
            .zip(self.train.user_values(u))
            .zip(times)
            .map(|((&i, &v), &t)| (t, i, v))
            .collect();
        h.sort_by_key(|x| (x.0, x.1));
        let h: Vec<(ItemIdx, f32)> = h.into_iter().map(|(_, i, v)| (i, v)).collect();
        self.inner.recommend(&Query { history: &h, ..*q }, k)
    }
    fn similar_items(
        &self,
        item: ItemIdx,
        k: usize,
    ) -> tastebud_core::Result<Vec<tastebud_core::Scored>> {
        self.inner.similar_items(item, k)
    }
}

#[test]
fn rules_on_ml100k_sessions() {
    let (train, test) = split();
    let x = &train.interactions;
    for gap in [30.0, 120.0] {
        let b = baskets(&train, Some(gap * 60.0)).unwrap();
        let sizes: Vec<usize> = b.iter().map(Vec::len).collect();
        let mean = sizes.iter().sum::<usize>() as f64 / b.len() as f64;
        println!(
            "gap {gap} min: {} sessions, mean {mean:.1} items, {} with one item",
            b.len(),
            sizes.iter().filter(|&&s| s == 1).count()
        );
    }
    println!(
        "| baskets | min_support | rules | fit s | NDCG@10 | Recall@10 |\n|---|---|---|---|---|---|"
    );
    let mut best = 0.0f64;
    let configs: [(Option<f64>, f64, usize); 4] = [
        (Some(30.0), 0.01, 0),
        (Some(30.0), 0.005, 0),
        (Some(120.0), 0.01, 0),
        (None, 0.1, 0),
    ];
    let mut session_model = None;
    for (gap, support, recent) in configs {
        let mut p = RulesParams::default().min_support(support).recent(recent);
        if let Some(g) = gap {
            p = p.session_gap_minutes(g);
        }
        let t = Instant::now();
        let m = p.fit(&train, &NoProgress).unwrap();
        let secs = t.elapsed().as_secs_f64();
        let (ndcg, recall) = common::ndcg_recall_at_10(&m, &train, &test);
        println!(
            "| {} | {support} | {} | {secs:.2} | {ndcg:.4} | {recall:.4} |",
            gap.map_or("user histories".into(), |g| format!(
                "sessions, gap {g} min"
            )),
            m.rules().len()
        );
        if gap == Some(30.0) && support == 0.01 {
            session_model = Some(m);
        }
        best = best.max(ndcg);
    }
    // Recent history only: the last 20 items by time fire the rules.
    let recent = RulesParams::default()
        .min_support(0.01)
        .session_gap_minutes(30.0)
        .recent(20)
        .fit(&train, &NoProgress)
        .unwrap();
    let (ndcg, recall) = common::ndcg_recall_at_10(
        &TimeOrdered {
            inner: &recent,
            train: x,
        },
        &train,
        &test,
    );
    println!(
        "| sessions, gap 30 min, last 20 items | 0.01 | {} | - | {ndcg:.4} | {recall:.4} |",
        recent.rules().len()
    );
    println!("peers: popularity {POPULARITY_PEER}, implicit item-kNN {ITEMKNN_PEER}");
    assert!(
        best > POPULARITY_PEER + 0.03,
        "rules {best:.4} do not beat popularity {POPULARITY_PEER}"
    );

    // Explanations name the antecedent, which is in the user's history.
    let m = session_model.unwrap();
    let u = UserIdx(0);
    let h = x.history(u);
    let q = Query::new(&h).user(u);
    let recs = m.recommend(&q, 5).unwrap();
    for s in &recs {
        match reason_for(&m, &q, s.item).unwrap() {
            Reason::AlsoWatched { antecedent, .. } => {
                assert!(antecedent.iter().all(|a| h.iter().any(|(i, _)| i == a)));
            }
            other => panic!("expected a rule for a top item, got {other:?}"),
        }
    }
    let sims = m.similar_items(recs[0].item, 5).unwrap();
    assert!(!sims.is_empty());
    assert!(sims.windows(2).all(|w| w[0].score >= w[1].score));
    let _ = Feedback::Implicit;
}
