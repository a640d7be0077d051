//! Every registered model gives a human-readable reason for each item it recommends on ML-100K, and the
//! models that can attribute a score to history items name those items.

use tastebud_core::{FeatureValues, ItemIdx, UserIdx};
use tastebud_models::reason::{Reason, RenderContext, reason_for};
use tastebud_models::registry::{MODELS, ModelSpec, fit, trainable};
use tastebud_models::{NoProgress, Query};

mod common;

fn ml100k() -> tastebud_core::Dataset {
    tastebud_data::load(&common::shared().join("ml-100k"), &Default::default()).unwrap()
}

/// Small settings so every model fits in seconds in a test build.
fn params(name: &str) -> &'static [&'static str] {
    match name {
        "als" => &["factors=16", "iterations=3"],
        "bpr" => &["factors=16", "iterations=5"],
        "svd" | "svdpp" | "nmf" => &["n_epochs=3"],
        "blend" => &["models=ease:0.7,popularity:0.3", "ease.lambda=200"],
        "switch" => &["cold=popularity", "warm=itemknn", "min_history=5"],
        "rules" => &["session_gap_minutes=30"],
        "popularity" => &["half_life_days=7", "genre=Comedy"],
        "multvae" | "multdae" | "sasrec" | "gru4rec" => &["epochs=1"],
        _ => &[],
    }
}

#[test]
fn every_model_gives_a_reason_on_ml100k() {
    let data = ml100k();
    let features = data.item_features.as_ref().unwrap();
    let title = |i: ItemIdx| features.text("title", i.get()).unwrap_or("?").to_string();
    let ctx = RenderContext::new(&title).explicit(true);
    assert!(matches!(
        features.column("genres"),
        Some(FeatureValues::Categorical { .. })
    ));
    let u = UserIdx(0);
    let h = data.interactions.history(u);
    let q = Query::new(&h).user(u);
    let history_titles: Vec<String> = h.iter().map(|&(i, _)| title(i)).collect();
    // The deep models fit only with the `deep` feature (their reason is the generic one).
    for &(name, _) in MODELS.iter().filter(|(n, _)| trainable(n)) {
        let spec = params(name)
            .iter()
            .fold(ModelSpec::new(name).unwrap(), |s, p| s.param(p).unwrap());
        let (model, _) = fit(&spec, &data, &NoProgress).unwrap_or_else(|e| panic!("{name}: {e}"));
        let m = model.as_recommender();
        let recs = m.recommend(&q, 3).unwrap();
        assert!(!recs.is_empty(), "{name}: no recommendations");
        for s in &recs {
            let r = reason_for(m, &q, s.item).unwrap();
            let text = r.render(&ctx);
            println!("{name:>15} | {:<45} | {text}", title(s.item));
            assert!(!text.trim().is_empty(), "{name}: empty reason");
            match name {
                "itemknn" | "userknn" | "ease" | "als" | "blend" => {
                    let Reason::BecauseYou { items } = &r else {
                        panic!("{name}: expected history items, got {r:?}");
                    };
                    assert!(items.iter().all(|(i, _)| h.iter().any(|x| x.0 == *i)));
                    assert!(history_titles.iter().any(|t| text.contains(t.as_str())));
                    assert!(text.contains("stars") || text.contains("1 star"), "{text}");
                }
                "popularity" => assert_eq!(text, "popular in Comedy this week"),
                "random" => assert_eq!(r, Reason::Random),
                "baseline" => assert_eq!(r, Reason::HighlyRated),
                "rules" => assert!(
                    matches!(r, Reason::AlsoWatched { .. }) && text.starts_with("people who"),
                    "{text}"
                ),
                _ => {}
            }
        }
    }
    // A new user with no history still gets a reason.
    let (pop, _) = fit(&ModelSpec::new("svd").unwrap(), &data, &NoProgress).unwrap();
    let empty = Query::new(&[]);
    let r = reason_for(pop.as_recommender(), &empty, ItemIdx(0)).unwrap();
    assert_eq!(r.render(&ctx), "recommended for you");
}
