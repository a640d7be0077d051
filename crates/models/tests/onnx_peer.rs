//! ONNX beside onnxruntime (issue 18, item 4). Needs the `onnx` feature and Python's `onnx` and
//! `onnxruntime` packages: `scripts/onnx/env.sh` installs them (pinned, in the user's cache folder); the
//! tests fail, not skip, when that fails.
//!
//! 1. A scoring model built outside Tastebud, with the `onnx` package (`scripts/onnx/peer.py external`),
//!    served by Tastebud (tract) gives onnxruntime's scores to 1e-4.
//! 2. EASE fitted on ML-100K and a Mult-VAE-shaped autoencoder, exported by Tastebud, give onnxruntime
//!    the models' own scores to 1e-4, and tract the same.
#![cfg(feature = "onnx")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tastebud_core::{ItemIdx, UserIdx};
use tastebud_models::autoencoder::{Autoencoder, AutoencoderParams, Layer, MultVae};
use tastebud_models::ease::EaseParams;
use tastebud_models::onnx::{OnnxModel, export};
use tastebud_models::{AnyModel, Exclude, Fit, NoProgress, Query, Recommender};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python interpreter with onnx and onnxruntime (installed by scripts/onnx/env.sh when missing).
fn python() -> PathBuf {
    let out = Command::new(repo().join("scripts/onnx/env.sh"))
        .output()
        .expect("scripts/onnx/env.sh runs");
    assert!(
        out.status.success(),
        "scripts/onnx/env.sh failed (onnx and onnxruntime are needed):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn peer(args: &[&str]) {
    let out = Command::new(python())
        .arg(repo().join("scripts/onnx/peer.py"))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "peer.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn an_external_onnx_model_scores_in_tastebud_as_in_onnxruntime() {
    for form in ["scores", "embeddings"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        peer(&[
            "external", d, "--items", "200", "--dim", "16", "--seed", "7", "--form", form,
        ]);
        let bytes = std::fs::read(dir.path().join("model.onnx")).unwrap();
        let m = OnnxModel::new(bytes, 200).unwrap();
        // The embeddings form gives the server's ANN index its table; the scores form has none.
        match form {
            "embeddings" => assert_eq!(
                m.item_embeddings().map(|e| (e.0, e.1.len())),
                Some((16, 3200))
            ),
            _ => assert!(m.item_embeddings().is_none()),
        }
        let cases = read_json(&dir.path().join("cases.json"));
        let mut worst = 0f32;
        for c in cases.as_array().unwrap() {
            let items: Vec<u32> = c["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect();
            let weights = floats(&c["weights"]);
            let h: Vec<(ItemIdx, f32)> = items.iter().map(|&i| ItemIdx(i)).zip(weights).collect();
            let got = m.scores(&h).unwrap();
            worst = worst.max(max_diff(&got, &floats(&c["scores"])));
            // The ranking is the scores' (training items excluded as usual).
            let top = m.recommend(&Query::new(&h), 5).unwrap();
            assert!(top.iter().all(|s| !items.contains(&s.item.0)));
            // In the embeddings form, the query vector's inner products are the scores.
            if let Some((dim, table)) = m.item_embeddings() {
                let u = m.query_embedding(&Query::new(&h)).unwrap().unwrap();
                let s: Vec<f32> = table
                    .chunks_exact(dim)
                    .map(|r| r.iter().zip(&u).map(|(a, b)| a * b).sum())
                    .collect();
                assert!(max_diff(&s, &got) < 1e-5);
            }
        }
        println!("external model ({form}): largest |tract - onnxruntime| = {worst:e}");
        assert!(worst < 1e-4, "{form}: {worst}");
        // Not the catalogue it was built for: refused at load.
        let bytes = std::fs::read(dir.path().join("model.onnx")).unwrap();
        let e = OnnxModel::new(bytes, 201).unwrap_err();
        assert!(e.to_string().contains("201 items"), "{e}");
    }
}

#[test]
fn an_external_model_reading_user_features_gets_each_known_users_row() {
    use tastebud_core::FeatureTable;
    // 10 users: a categorical `group` (A, B, C) and a numeric `age` (one missing): 4 inputs.
    let mut t = FeatureTable::new(10);
    let mut g = t.categorical_builder();
    for u in 0..10 {
        g.push(u, ["A", "B", "C"][u % 3], 1.0);
    }
    t.add("group", g.finish()).unwrap();
    t.add_numeric(
        "age",
        (0..10)
            .map(|u| (u != 4).then_some(18.0 + u as f32 * 0.1))
            .collect(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    peer(&[
        "external",
        d,
        "--items",
        "50",
        "--dim",
        "8",
        "--user-features",
        "4",
    ]);
    let bytes = std::fs::read(dir.path().join("model.onnx")).unwrap();
    // Without the user features, the model's third input is missing: refused at load.
    assert!(OnnxModel::new(bytes.clone(), 50).is_err());
    let m = OnnxModel::with_user_features(bytes, 50, &t, "group,age").unwrap();
    assert_eq!(
        m.user_feature_names(),
        ["group=A", "group=B", "group=C", "age"]
    );
    let (_, rows) = tastebud_models::onnx::encode_user_features(&t, "group,age").unwrap();
    // Users 0-9 and an unknown user (zeros), each with a history.
    let users: Vec<Option<u32>> = (0..10).map(Some).chain([None]).collect();
    let histories: Vec<Vec<(ItemIdx, f32)>> = (0..users.len() as u32)
        .map(|k| vec![(ItemIdx(k), 1.0), (ItemIdx(k * 3 + 1), 2.0)])
        .collect();
    let cases: Vec<Value> = users
        .iter()
        .zip(&histories)
        .map(|(u, h)| {
            let uf = u.map_or(vec![0.0; 4], |u| rows[u as usize * 4..][..4].to_vec());
            json!({"items": h.iter().map(|x| x.0.0).collect::<Vec<_>>(),
                   "weights": h.iter().map(|x| x.1).collect::<Vec<_>>(),
                   "user_features": uf})
        })
        .collect();
    let cases_path = dir.path().join("users.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = dir.path().join("ort.json");
    peer(&[
        "score",
        dir.path().join("model.onnx").to_str().unwrap(),
        cases_path.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    let ort = read_json(&out);
    let mut worst = 0f32;
    for ((u, h), o) in users.iter().zip(&histories).zip(ort.as_array().unwrap()) {
        let got = m.scores_for(h, u.map(UserIdx)).unwrap();
        worst = worst.max(max_diff(&got, &floats(&o["scores"])));
        // Through the Recommender trait: the query's user is passed on.
        let mut q = Query::new(h).exclude(Exclude::Nothing);
        if let Some(u) = u {
            q = q.user(UserIdx(*u));
        }
        let top = m.recommend(&q, 1).unwrap();
        let best = got.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert!((top[0].score - best).abs() < 1e-6);
    }
    println!("user features: largest |tract - onnxruntime| = {worst:e}");
    assert!(worst < 1e-4, "{worst}");
    // Different users, same history: different scores; a user index past the data reads as unknown.
    let h = &histories[0];
    assert_eq!(
        m.scores_for(h, Some(UserIdx(99))).unwrap(),
        m.scores_for(h, None).unwrap()
    );
    assert_ne!(
        m.scores_for(h, Some(UserIdx(0))).unwrap(),
        m.scores_for(h, Some(UserIdx(1))).unwrap()
    );
}

/// An autoencoder's shape with fixed pseudo-random weights: 1682 items, 600 tanh, 200 tanh (the mean
/// path), 600 tanh, output.
fn autoencoder(n: usize) -> MultVae {
    let w = |r: usize, c: usize, s: f32| -> Vec<f32> {
        (0..r * c)
            .map(|k| ((k as f32 * 0.618 + s) % 1.0 - 0.5) * 0.2)
            .collect()
    };
    let layer = |i, o, s, tanh| Layer {
        inputs: i,
        outputs: o,
        weights: w(i, o, s),
        bias: w(1, o, s + 0.3),
        tanh,
    };
    MultVae(Autoencoder::new(
        AutoencoderParams::vae(),
        n,
        vec![
            layer(n, 600, 0.1, true),
            layer(600, 200, 0.2, true),
            layer(200, 600, 0.3, true),
        ],
        layer(600, n, 0.4, false),
    ))
}

#[test]
fn exported_ease_and_autoencoder_score_in_onnxruntime_as_in_tastebud() {
    let data = tastebud_data::load(&common::shared().join("ml-100k"), &Default::default()).unwrap();
    let n = data.n_items();
    let ease = EaseParams::default().fit(&data, &NoProgress).unwrap();
    let models = [
        ("ease", AnyModel::Ease(ease)),
        ("autoencoder", AnyModel::MultVae(autoencoder(n))),
    ];
    // The first 40 users' histories (ratings as weights), and an empty one.
    let x = &data.interactions;
    let mut histories: Vec<Vec<(ItemIdx, f32)>> =
        (0..40u32).map(|u| x.history(UserIdx(u))).collect();
    histories.push(Vec::new());
    let cases: Vec<Value> = histories
        .iter()
        .map(|h| {
            json!({
                "items": h.iter().map(|x| x.0.0).collect::<Vec<_>>(),
                "weights": h.iter().map(|x| x.1).collect::<Vec<_>>(),
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();
    for (name, model) in &models {
        let onnx_path = dir.path().join(format!("{name}.onnx"));
        let bytes = export(model).unwrap();
        std::fs::write(&onnx_path, &bytes).unwrap();
        let out = dir.path().join(format!("{name}.json"));
        peer(&[
            "score",
            onnx_path.to_str().unwrap(),
            cases_path.to_str().unwrap(),
            out.to_str().unwrap(),
        ]);
        let ort = read_json(&out);
        let tract = OnnxModel::new(bytes, n).unwrap();
        let (mut worst_ort, mut worst_tract) = (0f32, 0f32);
        for (h, o) in histories.iter().zip(ort.as_array().unwrap()) {
            let native = match model {
                AnyModel::Ease(m) => m.scores(h).unwrap(),
                AnyModel::MultVae(m) => m.inner().scores(h).unwrap(),
                _ => unreachable!(),
            };
            worst_ort = worst_ort.max(max_diff(&native, &floats(&o["scores"])));
            worst_tract = worst_tract.max(max_diff(&native, &tract.scores(h).unwrap()));
            // Same top 10 through the Recommender trait.
            let q = Query::new(h).exclude(Exclude::Seen);
            let a: Vec<u32> = model
                .recommend(&q, 10)
                .unwrap()
                .iter()
                .map(|s| s.item.0)
                .collect();
            let b: Vec<u32> = tract
                .recommend(&q, 10)
                .unwrap()
                .iter()
                .map(|s| s.item.0)
                .collect();
            let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
            assert!(same >= 9, "{name}: {a:?} vs {b:?}");
        }
        println!(
            "{name}: largest |native - onnxruntime| = {worst_ort:e}, |native - tract| = {worst_tract:e}"
        );
        assert!(worst_ort < 1e-4, "{name} onnxruntime {worst_ort}");
        assert!(worst_tract < 1e-4, "{name} tract {worst_tract}");
    }
}
