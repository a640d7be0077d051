//! Model files written by earlier versions keep loading (tantivy-style compatibility data).
//!
//! `tests/golden/NAME-vN.tbm` were written by format version N with a small fixed dataset. Write the
//! missing ones (a new model type, a new format version) with `cargo test -p tastebud-models --test
//! golden_files -- --ignored write_golden`; it never overwrites an existing file: old files must keep
//! loading as they are.

use std::path::PathBuf;

use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx};
use tastebud_models::file::ModelFile;
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_models::{NoProgress, Query};

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn small() -> Dataset {
    let x = Interactions::from_triplets(
        4,
        5,
        &[
            (0, 0, 5.0),
            (0, 1, 3.0),
            (1, 0, 4.0),
            (1, 2, 5.0),
            (2, 1, 2.0),
            (2, 3, 4.0),
            (3, 0, 1.0),
            (3, 4, 5.0),
        ],
        Feedback::Explicit,
    )
    .unwrap();
    Dataset::from_parts("small", x, ["a", "b", "c", "d"], ["v", "w", "x", "y", "z"]).unwrap()
}

/// Every golden file: `(file stem, spec, expected top-3 item ids for history [v])`. Each model has one file
/// per format version (`NAME-v1`, `NAME-v2`, `NAME-v3`: v3 adds the checksum); a version-1 file is refitted with the hyperparameters that
/// reproduce how version 1 trained (a hyperparameter added since defaults to the new behaviour).
fn cases() -> Vec<(String, ModelSpec, Vec<&'static str>)> {
    let legacy = |name: &str, spec: ModelSpec| match name {
        "svd" => spec.param("users_start_at_mean=false").unwrap(),
        "bpr" => [
            "refit_users=false",
            "uniform_negatives=false",
            "fold_in_epochs=100",
        ]
        .iter()
        .fold(spec, |s, p| s.param(p).unwrap()),
        _ => spec,
    };
    models()
        .into_iter()
        .flat_map(|(name, spec, want)| {
            [
                (
                    format!("{name}-v1"),
                    legacy(name, spec.clone()),
                    want.clone(),
                ),
                (format!("{name}-v2"), spec.clone(), want.clone()),
                (format!("{name}-v3"), spec, want),
            ]
        })
        .collect()
}

/// The models with golden files: `(name, spec, expected top-3 item ids for history [v])`.
fn models() -> Vec<(&'static str, ModelSpec, Vec<&'static str>)> {
    vec![
        (
            "popularity",
            ModelSpec::new("popularity").unwrap(),
            vec!["w", "x", "y"],
        ),
        (
            "random",
            ModelSpec::new("random").unwrap().param("seed=7").unwrap(),
            vec![],
        ),
        ("itemknn", ModelSpec::new("itemknn").unwrap(), vec![]),
        (
            "svd",
            ModelSpec::new("svd").unwrap().param("n_factors=4").unwrap(),
            vec![],
        ),
        ("slope_one", ModelSpec::new("slope_one").unwrap(), vec![]),
        ("baseline", ModelSpec::new("baseline").unwrap(), vec![]),
        (
            "als",
            ModelSpec::new("als").unwrap().param("factors=4").unwrap(),
            vec![],
        ),
        (
            "bpr",
            ModelSpec::new("bpr")
                .unwrap()
                .param("factors=4")
                .unwrap()
                .param("threads=1")
                .unwrap(),
            vec![],
        ),
        (
            "ease",
            ModelSpec::new("ease").unwrap().param("lambda=5").unwrap(),
            vec![],
        ),
        ("userknn", ModelSpec::new("userknn").unwrap(), vec![]),
        (
            "knn_baseline",
            ModelSpec::new("knn_baseline").unwrap(),
            vec![],
        ),
        (
            "lightfm",
            ModelSpec::new("lightfm")
                .unwrap()
                .param("no_components=4")
                .unwrap(),
            vec![],
        ),
        (
            "blend",
            ["models=ease:0.7,popularity:0.3", "ease.lambda=5"]
                .iter()
                .fold(ModelSpec::new("blend").unwrap(), |s, p| s.param(p).unwrap()),
            vec![],
        ),
        (
            "switch",
            ["cold=popularity", "warm=itemknn", "min_history=2"]
                .iter()
                .fold(ModelSpec::new("switch").unwrap(), |s, p| {
                    s.param(p).unwrap()
                }),
            vec![],
        ),
        (
            "rules",
            ModelSpec::new("rules")
                .unwrap()
                .param("min_support=0.25")
                .unwrap(),
            vec![],
        ),
    ]
}

#[test]
fn golden_files_still_load_and_recommend_the_same() {
    for (stem, _, want) in cases() {
        let path = golden().join(format!("{stem}.tbm"));
        let f = ModelFile::load(&path).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let version: u32 = stem.rsplit("-v").next().unwrap().parse().unwrap();
        assert_eq!(f.header.format_version, version, "{stem}");
        let m = f.model.as_recommender();
        let v = f.context.items.get("v").unwrap();
        let got: Vec<&str> = m
            .recommend(&Query::new(&[(v, 1.0)]), 3)
            .unwrap()
            .iter()
            .map(|s| f.context.items.id(s.item).unwrap())
            .collect();
        if !want.is_empty() {
            assert_eq!(got, want, "{stem}");
        }
        assert!(got.len() <= 3, "{stem}");
        // Recommendations equal a freshly fitted model's (the algorithm has not drifted).
        let (fresh, _) = fit(
            &cases().into_iter().find(|c| c.0 == stem).unwrap().1,
            &small(),
            &NoProgress,
        )
        .unwrap();
        let again = fresh
            .as_recommender()
            .recommend(&Query::new(&[(ItemIdx(0), 1.0)]), 3)
            .unwrap();
        assert_eq!(
            m.recommend(&Query::new(&[(v, 1.0)]), 3).unwrap(),
            again,
            "{stem}"
        );
    }
}

#[test]
fn corrupt_and_future_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.tbm");
    std::fs::write(&p, b"not a model").unwrap();
    assert!(
        ModelFile::load(&p)
            .unwrap_err()
            .to_string()
            .contains("not a Tastebud model file")
    );
    let bytes = std::fs::read(golden().join("popularity-v1.tbm")).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
    assert!(
        ModelFile::load(&p)
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    let text = String::from_utf8_lossy(&bytes).replacen(
        "\"format_version\":1",
        "\"format_version\":99",
        1,
    );
    std::fs::write(&p, text.as_bytes()).unwrap();
    let err = ModelFile::load(&p).unwrap_err().to_string();
    assert!(err.contains("newer"), "{err}");
}

#[test]
#[ignore = "writes golden files; run only when adding a model type"]
fn write_golden() {
    for (stem, spec, _) in cases() {
        let path = golden().join(format!("{stem}.tbm"));
        // Only files of the version this build writes, and never over an existing one.
        if path.exists() || !stem.ends_with(&format!("-v{}", tastebud_models::file::FORMAT_VERSION))
        {
            continue;
        }
        let (model, params) = fit(&spec, &small(), &NoProgress).unwrap();
        ModelFile::new(model, params, &small(), true)
            .save(&path)
            .unwrap();
    }
}
