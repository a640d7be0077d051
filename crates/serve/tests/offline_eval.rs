//! `tastebud evaluate --serving-config`'s core: a fitted model evaluated through the serving pipeline
//! ([`ServingRecommender`]) gives exactly the direct evaluation's lists when the pipeline changes
//! nothing (no re-ranker, exact retrieval), and other lists when the configuration re-ranks (so a
//! configuration that were ignored would fail here). ML-100K, `user:0.2` split, seed 42, 4+ stars
//! relevant.

use std::path::PathBuf;

use tastebud_core::{Dataset, Feedback, Interactions, Split, SplitSpec};
use tastebud_eval::metrics::{MetricKind, MetricSet};
use tastebud_eval::run::{EvalPlan, eval_data, run, run_adapted};
use tastebud_eval::{EvalOptions, ModelEval, evaluate};
use tastebud_models::registry::{self, ModelSpec};
use tastebud_models::{AnyModel, NoProgress, Query, Recommender};
use tastebud_serve::offline::{ServingRecommender, adapter, pipeline_config_from_toml};
use tastebud_serve::{PipelineConfig, RerankMethod, Serving, UserView};

fn ml100k() -> Dataset {
    let dir: PathBuf = tastebud_data::data_root(None).join("ml-100k");
    assert!(
        dir.join("u.data").is_file(),
        "ML-100K not found at {} (set TASTEBUD_DATA)",
        dir.display()
    );
    tastebud_data::load(&dir, &tastebud_data::LoadOptions::default()).unwrap()
}

fn split(data: &Dataset) -> Split {
    SplitSpec::PerUser { test_ratio: 0.2 }
        .apply(&data.interactions, 42)
        .unwrap()
        .remove(0)
}

fn opts() -> EvalOptions {
    EvalOptions {
        metrics: MetricSet::new(&[MetricKind::Ndcg, MetricKind::Recall], &[10]),
        threshold: Some(4.0),
        beyond: false,
        ..EvalOptions::default()
    }
}

/// A small ALS (fast in the test profile) fitted on the split's training data.
fn als(train: &Dataset) -> (AnyModel, serde_json::Value) {
    let spec = ModelSpec::new("als")
        .unwrap()
        .param("factors=32")
        .unwrap()
        .param("iterations=5")
        .unwrap();
    registry::fit(&spec, train, &NoProgress).unwrap()
}

struct Fixture {
    data: Dataset,
    split: Split,
    train: Dataset,
    model: AnyModel,
    params: serde_json::Value,
    direct: ModelEval,
}

fn fixture() -> Fixture {
    let data = ml100k();
    let split = split(&data);
    let train = data.with_interactions(split.train.clone()).unwrap();
    let (model, params) = als(&train);
    let direct = evaluate(
        model.as_recommender(),
        &eval_data(&data, &split),
        &opts(),
        true,
    )
    .unwrap();
    Fixture {
        data,
        split,
        train,
        model,
        params,
        direct,
    }
}

fn through(f: &Fixture, toml: &str) -> (ServingRecommender, ModelEval) {
    let config = pipeline_config_from_toml(toml).unwrap();
    let s =
        ServingRecommender::fitted(&config, f.model.clone(), f.params.clone(), &f.train).unwrap();
    let e = evaluate(&s, &eval_data(&f.data, &f.split), &opts(), true).unwrap();
    (s, e)
}

fn ndcg(e: &ModelEval) -> f64 {
    e.means["ndcg@10"]
}

#[test]
fn the_pipeline_without_reranking_or_ann_serves_the_direct_lists_and_mmr_changes_them() {
    let f = fixture();
    assert!(f.direct.users.len() > 500, "{} users", f.direct.users.len());

    let (s, plain) = through(&f, "[rerank]\nmethod = \"none\"\n");
    assert!(!s.uses_ann(), "1,682 items < the default ann.min_items");
    assert_eq!(plain.model, "als+serving");
    assert_eq!(plain.lists.len(), f.direct.lists.len());
    for (a, b) in plain.lists.iter().zip(&f.direct.lists) {
        assert_eq!(a.user, b.user);
        assert_eq!(a.items, b.items, "user {:?}", a.user);
    }
    assert_eq!(ndcg(&plain), ndcg(&f.direct));
    assert_eq!(plain.values, f.direct.values);

    let (s, mmr) = through(&f, "[rerank]\nmethod = \"mmr\"\nparam = 0.5\n");
    assert_eq!(s.pipeline().config().rerank.method, RerankMethod::Mmr);
    let differ = mmr
        .lists
        .iter()
        .zip(&f.direct.lists)
        .filter(|(a, b)| a.items != b.items)
        .count();
    assert!(
        differ * 2 > mmr.lists.len(),
        "MMR 0.5 changed only {differ} of {} lists",
        mmr.lists.len()
    );
    assert_ne!(ndcg(&mmr), ndcg(&f.direct));
    // Every served list still leaves the training history out.
    for l in &mmr.lists {
        let seen = f.split.train.user_items(l.user);
        assert!(l.items.iter().all(|i| !seen.contains(i)));
        assert_eq!(l.items.len(), 10);
    }

    // ANN retrieval when the configuration allows it on this catalogue: HNSW with the default breadth
    // and 4x oversampling then exact re-scoring loses almost nothing.
    let (s, ann) = through(&f, "[ann]\nmin_items = 1\n");
    assert!(s.uses_ann());
    let d = (ndcg(&ann) - ndcg(&f.direct)).abs();
    assert!(
        d < 0.01,
        "ANN NDCG@10 {} vs exact {}",
        ndcg(&ann),
        ndcg(&f.direct)
    );
}

#[test]
fn run_adapted_evaluates_every_model_through_the_pipeline() {
    let data = ml100k();
    let splits = vec![split(&data)];
    let plan = EvalPlan {
        models: vec![ModelSpec::new("popularity").unwrap()],
        runs: vec![],
        opts: opts(),
        split: "user:0.2".into(),
        seed: 42,
        keep_lists: true,
        pretrained: Vec::new(),
    };
    let direct = run(&data, &splits, &plan, &NoProgress).unwrap();
    let none = adapter(pipeline_config_from_toml("[rerank]\nmethod = \"none\"").unwrap());
    let served = run_adapted(&data, &splits, &plan, None, Some(&none), &NoProgress).unwrap();
    assert_eq!(served.report.models[0].model, "popularity+serving");
    assert_eq!(direct.report.models[0].model, "popularity");
    let (a, b) = (&direct.evals[0][0], &served.evals[0][0]);
    assert_eq!(a.lists, b.lists);
    assert_eq!(a.means["ndcg@10"], b.means["ndcg@10"]);

    let cal = adapter(
        pipeline_config_from_toml("[rerank]\nmethod = \"calibration\"\nparam = 0.9").unwrap(),
    );
    let served = run_adapted(&data, &splits, &plan, None, Some(&cal), &NoProgress).unwrap();
    assert_ne!(served.evals[0][0].lists, a.lists);
}

#[test]
fn a_whole_server_configuration_is_read_for_its_pipeline_sections() {
    let c = pipeline_config_from_toml(
        r#"
        bind = "0.0.0.0:8080"
        data_dir = "state"
        mode = "batch"
        experiment_holdout = 0.1
        [cache]
        ttl_secs = 30
        [limits]
        max_k = 100
        [rerank]
        method = "calibration"
        param = 0.6
        [ann]
        min_items = 1
        ef_search = 16
        oversample = 1
        [[experiments]]
        name = "x"
        "#,
    )
    .unwrap();
    assert_eq!(c.rerank.method, RerankMethod::Calibration);
    assert_eq!(
        (c.ann.min_items, c.ann.ef_search, c.ann.oversample),
        (1, 16, 1)
    );
    assert_eq!(c.mode, tastebud_serve::Mode::Batch);
    assert_eq!(
        pipeline_config_from_toml("").unwrap(),
        PipelineConfig::default()
    );

    let e = pipeline_config_from_toml("[rerank]\nmethd = \"mmr\"").unwrap_err();
    assert!(e.to_string().contains("rerank"), "{e}");
    assert!(e.to_string().contains("methd"), "{e}");
    let e = pipeline_config_from_toml("[rerank]\nmethod = \"mmr\"\nparam = 7").unwrap_err();
    assert!(e.to_string().contains("mmr"), "{e}");
    assert!(pipeline_config_from_toml("[ann]\noversample = 0").is_err());
    assert!(pipeline_config_from_toml("mode = [").is_err());
}

#[test]
fn a_serving_model_in_batch_mode_is_still_ranked_in_real_time_and_views_match_the_server() {
    let x = Interactions::from_triplets(
        3,
        4,
        &[
            (0, 0, 5.0),
            (0, 1, 3.0),
            (1, 0, 4.0),
            (1, 2, 2.0),
            (2, 3, 1.0),
        ],
        Feedback::Explicit,
    )
    .unwrap();
    let data = Dataset::from_parts("toy", x, ["a", "b", "c"], ["w", "x", "y", "z"]).unwrap();
    let (model, params) =
        registry::fit(&ModelSpec::new("popularity").unwrap(), &data, &NoProgress).unwrap();
    let config = pipeline_config_from_toml("mode = \"batch\"").unwrap();
    let s = ServingRecommender::fitted(&config, model, params, &data).unwrap();
    assert_eq!(s.pipeline().config().mode, tastebud_serve::Mode::Realtime);

    // The view of a known user's training history is the server's view of that user with no events.
    let u = tastebud_core::UserIdx(1);
    let history = data.interactions.history(u);
    let q = Query::new(&history).user(u);
    let ours = ServingRecommender::view(&q);
    let server = UserView::build(s.serving(), s.pipeline().config(), Some(u), &[], 0, 0);
    assert_eq!(
        (ours.known, &ours.history, ours.changed),
        (server.known, &server.history, server.changed)
    );

    let recs = s.recommend(&q, 2).unwrap();
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| !history.iter().any(|h| h.0 == r.item)));
    let all = s
        .recommend(&q.exclude(tastebud_models::Exclude::Nothing), 4)
        .unwrap();
    assert_eq!(all.len(), 4);
    let _: &Serving = s.serving();
}
