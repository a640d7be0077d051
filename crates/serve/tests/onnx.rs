//! An ONNX model file served like any other (feature `onnx`): EASE exported to ONNX, imported as an
//! `onnx` model file, saved and loaded, then served through the pipeline, gives the lists EASE's own
//! model file gives, for a known user and for an ad-hoc history.
#![cfg(feature = "onnx")]

use tastebud_core::{Dataset, Feedback, Interactions, ItemIdx};
use tastebud_models::NoProgress;
use tastebud_models::file::ModelFile;
use tastebud_models::onnx::{OnnxModel, export};
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_serve::config::{Ann, PipelineConfig};
use tastebud_serve::{Input, Pipeline, Serving};
use tastebud_store::MemoryStore;

/// 40 users, 30 items in two blocks.
fn dataset() -> Dataset {
    let mut t = Vec::new();
    for u in 0..40u32 {
        let base = if u < 20 { 0 } else { 15 };
        for j in 0..6 {
            t.push((u, base + (u * 7 + j * 4) % 15, 1.0 + (j % 3) as f32));
        }
    }
    let x = Interactions::from_triplets(40, 30, &t, Feedback::Explicit).unwrap();
    Dataset::from_parts(
        "blocks",
        x,
        (0..40).map(|u| format!("u{u}")),
        (0..30).map(|i| format!("i{i}")),
    )
    .unwrap()
}

#[test]
fn an_onnx_model_file_serves_the_lists_of_the_model_it_was_exported_from() {
    let data = dataset();
    let (ease, params) = fit(&ModelSpec::new("ease").unwrap(), &data, &NoProgress).unwrap();
    let onnx = OnnxModel::new(export(&ease).unwrap(), data.n_items()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ease-onnx.tbm");
    ModelFile::new(onnx.into(), serde_json::json!({}), &data, true)
        .save(&path)
        .unwrap();
    let loaded = ModelFile::load(&path).unwrap();
    assert_eq!(loaded.model.kind(), "onnx");
    let native = Serving::new(
        ModelFile::new(ease, params, &data, true),
        "ease".into(),
        &Ann::default(),
    )
    .unwrap();
    let served = Serving::new(loaded, "ease-onnx".into(), &Ann::default()).unwrap();
    let p = Pipeline::new(PipelineConfig::default()).unwrap();
    let store = MemoryStore::new();
    let req = p.request(5);
    let adhoc: Vec<(ItemIdx, f32)> = vec![(ItemIdx(16), 2.0), (ItemIdx(20), 1.0)];
    for input in [
        Input::User {
            id: "u3",
            adhoc: None,
        },
        Input::User {
            id: "u33",
            adhoc: None,
        },
        Input::History(&adhoc),
    ] {
        let a = p.recommend(&native, &store, &[], input, &req, 0).unwrap();
        let b = p.recommend(&served, &store, &[], input, &req, 0).unwrap();
        assert_eq!(a.idx, b.idx);
        assert_eq!(a.items.len(), 5);
        for (x, y) in a.items.iter().zip(&b.items) {
            assert!((x.score - y.score).abs() < 1e-4, "{x:?} vs {y:?}");
        }
    }
}
