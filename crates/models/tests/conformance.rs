//! The conformance suite every model passes (see CONTRIBUTING.md). One line per model at the bottom:
//! `conformance!(name, params, personalized)` expands to the shared checks.

use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx, UserIdx};
use tastebud_models::file::ModelFile;
use tastebud_models::{AnyModel, Exclude, Fit, NoProgress, Query, Recommender};

/// 40 users x 20 items in two blocks: users 0-19 interact with 6 of items 0-9, users 20-39 with 6 of
/// items 10-19 (a deterministic pattern), values 1-5. A personalised model must recommend from the user's
/// own block; that is the answer known in advance.
fn blocks() -> Dataset {
    let mut t = Vec::new();
    for u in 0..40u32 {
        let base = if u < 20 { 0 } else { 10 };
        for k in 0..6u32 {
            let i = base + (u * 3 + k * 7) % 10;
            t.push((u, i, ((u + k) % 5 + 1) as f32));
        }
    }
    let x = Interactions::from_triplets(40, 20, &t, Feedback::Explicit).unwrap();
    Dataset::from_parts(
        "blocks",
        x,
        (0..40).map(|u| format!("u{u}")),
        (0..20).map(|i| format!("i{i}")),
    )
    .unwrap()
}

/// [`blocks`] with timestamps: each user's items in the order they are generated, so every item of a
/// block is followed by others of the same block (the order the sequential models learn from).
#[cfg(feature = "deep")]
fn blocks_in_time() -> Dataset {
    let mut rows = Vec::new();
    for u in 0..40u32 {
        let base = if u < 20 { 0 } else { 10 };
        for k in 0..6u32 {
            rows.push(tastebud_core::Interaction {
                user: UserIdx(u),
                item: ItemIdx(base + (u * 3 + k * 7) % 10),
                value: ((u + k) % 5 + 1) as f32,
                time: Some(i64::from(k)),
            });
        }
    }
    let x = Interactions::from_records(40, 20, &rows, Feedback::Explicit).unwrap();
    Dataset::from_parts(
        "blocks in time",
        x,
        (0..40).map(|u| format!("u{u}")),
        (0..20).map(|i| format!("i{i}")),
    )
    .unwrap()
}

/// [`blocks`] with item features: genre `A` on items 0-9, `B` on 10-19, and a year (1990 + item % 3), for
/// models that read features (the content model needs them).
fn blocks_with_features() -> Dataset {
    let mut d = blocks();
    let mut t = tastebud_core::FeatureTable::new(20);
    let mut g = t.categorical_builder();
    for i in 0..20 {
        g.push(i, if i < 10 { "A" } else { "B" }, 1.0);
    }
    t.add("genres", g.finish()).unwrap();
    t.add_numeric(
        "year",
        (0..20).map(|i| Some(1990.0 + (i % 3) as f32)).collect(),
    )
    .unwrap();
    d.item_features = Some(t);
    d
}

fn items(recs: &[tastebud_core::Scored]) -> Vec<ItemIdx> {
    recs.iter().map(|s| s.item).collect()
}

/// Runs every conformance check on a model fitted with `params`.
fn check_all<P>(params: P, personalized: bool)
where
    P: Fit,
    P::Model: Into<AnyModel> + Clone + 'static,
{
    check_all_on(blocks(), params, personalized)
}

/// [`check_all`] on another fixture of the same shape.
fn check_all_on<P>(data: Dataset, params: P, personalized: bool)
where
    P: Fit,
    P::Model: Into<AnyModel> + Clone + 'static,
{
    let model = params.fit(&data, &NoProgress).unwrap();
    let m: &dyn Recommender = &model;
    let x = &data.interactions;
    let n = m.n_items();
    assert_eq!(n, 20);

    // recovers the blocks (personalised models): each user's best recommendation comes from their own
    // block. (Only the best: models with negative weights, like EASE, may rightly score some own-block items
    // below unrelated ones.)
    if personalized {
        for u in 0..40u32 {
            let h = x.history(UserIdx(u));
            let seq = x.sequence(UserIdx(u));
            let q = Query::new(&h).user(UserIdx(u)).sequence(&seq);
            let recs = m.recommend(&q, 3).unwrap();
            let own = if u < 20 { 0..10 } else { 10..20 };
            assert!(
                own.contains(&recs[0].item.0),
                "{}: user {u} got {:?}",
                m.name(),
                items(&recs)
            );
        }
        // A new user (no index) with a block-B history gets a block-B item first.
        let h = [(ItemIdx(11), 5.0), (ItemIdx(14), 4.0), (ItemIdx(17), 5.0)];
        let recs = m.recommend(&Query::new(&h), 3).unwrap();
        assert!(
            recs[0].item.0 >= 10,
            "{}: new user got {:?}",
            m.name(),
            items(&recs)
        );
    }

    // batch equals single
    let hs: Vec<Vec<(ItemIdx, f32)>> = (0..40).map(|u| x.history(UserIdx(u))).collect();
    let qs: Vec<Query<'_>> = hs
        .iter()
        .enumerate()
        .map(|(u, h)| Query::new(h).user(UserIdx(u as u32)))
        .collect();
    let batch = m.recommend_batch(&qs, 5).unwrap();
    for (q, b) in qs.iter().zip(&batch) {
        assert_eq!(
            &m.recommend(q, 5).unwrap(),
            b,
            "{}: batch differs from single",
            m.name()
        );
    }

    // never returns excluded items; respects candidates; k larger than the catalogue
    for (u, h) in hs.iter().enumerate() {
        let q = Query::new(h).user(UserIdx(u as u32));
        let all = m.recommend(&q, 1000).unwrap();
        assert!(all.len() <= n - h.len());
        let mut seen = std::collections::HashSet::new();
        for s in &all {
            assert!(
                !h.iter().any(|(i, _)| *i == s.item),
                "{}: returned a seen item",
                m.name()
            );
            assert!(seen.insert(s.item), "{}: duplicate item", m.name());
            assert!(!s.score.is_nan());
        }
        let blocked = [ItemIdx(0), ItemIdx(19)];
        let r = m
            .recommend(&q.exclude(Exclude::SeenAnd(&blocked)), 1000)
            .unwrap();
        assert!(r.iter().all(|s| !blocked.contains(&s.item)));
        let cands = [ItemIdx(2), ItemIdx(12), ItemIdx(15), ItemIdx(2)];
        let r = m
            .recommend(
                &Query::new(h).user(UserIdx(u as u32)).candidates(&cands),
                10,
            )
            .unwrap();
        assert!(
            r.iter().all(|s| cands.contains(&s.item)),
            "{}: left the candidates",
            m.name()
        );
        assert!(r.len() <= 3);
    }

    // a query embedding, when given, reproduces every score as an inner product (ANN retrieval relies on it)
    if let Some((dim, emb)) = m.item_embeddings() {
        for (u, h) in hs.iter().enumerate().step_by(7) {
            let q = Query::new(h).user(UserIdx(u as u32));
            let Some(v) = m.query_embedding(&q).unwrap() else {
                break;
            };
            assert_eq!(v.len(), dim, "{}: query embedding dimension", m.name());
            for s in m.recommend(&q, 5).unwrap() {
                let row = &emb[s.item.get() * dim..][..dim];
                let ip: f32 = row.iter().zip(&v).map(|(a, b)| a * b).sum();
                assert!(
                    (ip - s.score).abs() <= 1e-4 * (1.0 + s.score.abs()),
                    "{}: inner product {ip} != score {}",
                    m.name(),
                    s.score
                );
            }
        }
    }

    // explaining a list at once equals explaining its items one by one
    {
        let q = Query::new(&hs[3]).user(UserIdx(3));
        let items: Vec<ItemIdx> = m.recommend(&q, 4).unwrap().iter().map(|s| s.item).collect();
        let many = m.explain_many(&q, &items, 3).unwrap();
        let one: Vec<_> = items
            .iter()
            .map(|&i| m.explain(&q, i, 3).unwrap())
            .collect();
        assert_eq!(many, one, "{}: explain_many differs from explain", m.name());
        let (recs, e) = m.recommend_explained(&q, 4, 3).unwrap();
        assert_eq!(
            recs,
            m.recommend(&q, 4).unwrap(),
            "{}: recommend_explained ranks differently",
            m.name()
        );
        assert_eq!(
            e,
            many,
            "{}: recommend_explained explains differently",
            m.name()
        );
    }

    // empty history works (cold start) and k = 0 returns nothing
    let r = m.recommend(&Query::new(&[]), 5).unwrap();
    assert!(r.len() <= 5);
    assert!(m.recommend(&Query::new(&hs[0]), 0).unwrap().is_empty());

    // bad input is an error, not a panic
    assert!(m.recommend(&Query::new(&[(ItemIdx(99), 1.0)]), 5).is_err());
    assert!(
        m.recommend(&Query::new(&[]).candidates(&[ItemIdx(20)]), 5)
            .is_err()
    );
    let _ = m.similar_items(ItemIdx(3), 5);

    // save / load round trip through the model file
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tbm");
    let any: AnyModel = model.clone().into();
    ModelFile::new(any, serde_json::json!({}), &data, true)
        .save(&path)
        .unwrap();
    let back = ModelFile::load(&path).unwrap();
    let b = back.model.as_recommender();
    for (q, want) in qs.iter().zip(&batch) {
        assert_eq!(
            &b.recommend(q, 5).unwrap(),
            want,
            "{}: differs after save/load",
            m.name()
        );
    }
    assert_eq!(back.context.items.get("i7"), Some(ItemIdx(7)));
    assert_eq!(back.context.train.as_ref().unwrap(), x);
}

fn assert_send_sync<T: Send + Sync>() {}

macro_rules! conformance {
    ($name:ident, $params:expr, $personalized:expr) => {
        #[test]
        fn $name() {
            check_all($params, $personalized);
            fn _send_sync<P: Fit>(_: &P) {
                assert_send_sync::<P::Model>();
            }
            _send_sync(&$params);
        }
    };
    ($name:ident, $params:expr, $personalized:expr, $data:expr) => {
        #[test]
        fn $name() {
            check_all_on($data, $params, $personalized);
            fn _send_sync<P: Fit>(_: &P) {
                assert_send_sync::<P::Model>();
            }
            _send_sync(&$params);
        }
    };
}

conformance!(
    popularity,
    tastebud_models::popularity::PopularityParams::default(),
    false
);
conformance!(
    random,
    tastebud_models::random::RandomParams::default(),
    false
);
conformance!(
    itemknn,
    tastebud_models::knn::ItemKnnParams::default(),
    true
);
conformance!(
    userknn,
    tastebud_models::knn::UserKnnParams::default(),
    true
);
conformance!(
    knn_basic,
    tastebud_models::knn::KnnRatingParams::basic(),
    false
);
conformance!(
    knn_with_means,
    tastebud_models::knn::KnnRatingParams::with_means(),
    false
);
conformance!(
    knn_baseline,
    tastebud_models::knn::KnnRatingParams::baseline(),
    false
);
conformance!(
    als,
    tastebud_models::als::AlsParams::default()
        .factors(8)
        .iterations(10),
    true
);
conformance!(
    bpr,
    tastebud_models::bpr::BprParams::default()
        .factors(8)
        .threads(1),
    true
);
conformance!(
    ease,
    tastebud_models::ease::EaseParams::default().lambda(10.0),
    true
);
conformance!(
    baseline,
    tastebud_models::baseline::BaselineParams::default(),
    false
);
conformance!(
    svd,
    tastebud_models::svd::SvdParams::default().n_factors(8),
    false
);
conformance!(
    svdpp,
    tastebud_models::svdpp::SvdppParams::default().n_factors(4),
    false
);
conformance!(nmf, tastebud_models::nmf::NmfParams::default(), false);
conformance!(
    slope_one,
    tastebud_models::slope_one::SlopeOneParams::default(),
    false
);
conformance!(
    content,
    tastebud_models::content::ContentParams::default(),
    true,
    blocks_with_features()
);
conformance!(
    lightfm,
    tastebud_models::hybrid::HybridParams::default().epochs(30),
    true
);
conformance!(
    lightfm_features,
    tastebud_models::hybrid::HybridParams::default().epochs(30),
    true,
    blocks_with_features()
);
conformance!(
    lightfm_bpr_features_only,
    tastebud_models::hybrid::HybridParams::default()
        .loss(tastebud_models::hybrid::HybridLoss::Bpr)
        .item_identity(false)
        .epochs(30),
    true,
    blocks_with_features()
);
conformance!(
    blend,
    tastebud_models::ensemble::BlendParams::default()
        .models("ease:0.7,popularity:0.3")
        .part_param("ease", "lambda", 10.0.into()),
    true
);
conformance!(
    blend_rank,
    tastebud_models::ensemble::BlendParams::default()
        .models("itemknn:1,popularity:0.2")
        .normalise(tastebud_models::ensemble::Normalise::Rank)
        .depth(8),
    true
);
conformance!(
    switch,
    tastebud_models::ensemble::SwitchParams::default()
        .cold("popularity")
        .warm("itemknn")
        .min_history(3),
    true
);
conformance!(
    rules,
    tastebud_models::rules::RulesParams::default().min_support(0.1),
    true
);
conformance!(
    spark_als,
    tastebud_models::spark_als::SparkAlsParams {
        rank: 8,
        implicit_prefs: true,
        ..Default::default()
    },
    true
);
conformance!(
    spark_als_explicit,
    tastebud_models::spark_als::SparkAlsParams::default(),
    false
);
#[cfg(feature = "deep")]
conformance!(
    multvae,
    tastebud_models::autoencoder::MultVaeParams(tastebud_models::autoencoder::AutoencoderParams {
        hidden: 32,
        latent: 16,
        epochs: 150,
        batch_size: 20,
        lr: 0.01,
        ..tastebud_models::autoencoder::AutoencoderParams::vae()
    }),
    true
);
#[cfg(feature = "deep")]
conformance!(
    multdae,
    tastebud_models::autoencoder::MultDaeParams(tastebud_models::autoencoder::AutoencoderParams {
        latent: 16,
        epochs: 150,
        batch_size: 20,
        lr: 0.01,
        ..tastebud_models::autoencoder::AutoencoderParams::dae()
    }),
    true
);
#[cfg(feature = "deep")]
conformance!(
    sasrec,
    tastebud_models::sequential::sasrec::SasRecParams {
        dim: 16,
        max_len: 8,
        epochs: 60,
        batch_size: 16,
        lr: 0.01,
        ..Default::default()
    },
    true,
    blocks_in_time()
);
#[cfg(feature = "deep")]
conformance!(
    gru4rec,
    tastebud_models::sequential::gru4rec::Gru4RecParams {
        hidden: 16,
        epochs: 30,
        batch_size: 8,
        lr: 0.02,
        ..Default::default()
    },
    true,
    blocks_in_time()
);
#[cfg(feature = "deep")]
conformance!(
    twotower,
    tastebud_models::twotower::TwoTowerParams {
        dim: 16,
        hidden: 32,
        epochs: 20,
        batch_size: 16,
        lr: 0.01,
        ..Default::default()
    },
    true,
    blocks_with_features()
);
