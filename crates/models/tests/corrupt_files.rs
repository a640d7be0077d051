//! Issue "Trust" #4: a corrupted model file must never load into something that panics on a request.
//! Random byte flips and truncations of every golden model file (version 3, with a checksum) either fail
//! to load with a clear error or load a model that answers every user; flips in the bodies are always
//! caught by the checksum. Flips re-sealed with a valid checksum (a file that is consistent on disk but
//! wrong inside) must be caught by the structural validation or answer every user too.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tastebud_core::{Error, ItemIdx, UserIdx};
use tastebud_models::file::{ModelFile, checksum};
use tastebud_models::{AnyModel, Query};

fn golden_v3() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut v: Vec<(String, Vec<u8>)> = AnyModel::KINDS
        .iter()
        .chain(&["knn_baseline"])
        .filter_map(|k| {
            let p = dir.join(format!("{k}-v3.tbm"));
            std::fs::read(&p).ok().map(|b| (k.to_string(), b))
        })
        .collect();
    v.sort();
    assert!(v.len() >= 14, "golden v3 files missing: {}", v.len());
    v
}

/// Where the bodies start (after the magic line and the header line).
fn bodies_start(bytes: &[u8]) -> usize {
    let first = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    first + bytes[first..].iter().position(|&b| b == b'\n').unwrap() + 1
}

/// Recomputes the header's checksum over the (modified) bodies.
fn reseal(bytes: &[u8]) -> Vec<u8> {
    let start = bodies_start(bytes);
    let first = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[first..start - 1]).unwrap();
    header["checksum"] = checksum(&bytes[start..]).into();
    let mut out = bytes[..first].to_vec();
    out.extend_from_slice(serde_json::to_string(&header).unwrap().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&bytes[start..]);
    out
}

/// Every user (with its training history), an empty history and every item's neighbours: no panic.
fn answers_everyone(f: &ModelFile) {
    let m = f.model.as_recommender();
    for u in 0..f.context.users.len() {
        let h = f
            .context
            .train
            .as_ref()
            .map(|x| x.history(UserIdx(u as u32)))
            .unwrap_or_default();
        let _ = m.recommend(&Query::new(&h).user(UserIdx(u as u32)), 10);
        let _ = m.recommend(&Query::new(&h), 10);
        let _ = m.explain(&Query::new(&h).user(UserIdx(u as u32)), ItemIdx(0), 3);
        if let Some(p) = m.rating_predictor() {
            let _ = p.predict(Some(UserIdx(u as u32)), &h, ItemIdx(0));
        }
    }
    let _ = m.recommend(&Query::new(&[]), 10);
    for i in 0..f.context.items.len() {
        let _ = m.similar_items(ItemIdx(i as u32), 5);
    }
}

fn load(bytes: &[u8]) -> Result<ModelFile, Error> {
    ModelFile::from_bytes(Path::new("fuzzed.tbm"), bytes)
}

#[test]
fn golden_v3_files_answer_everyone() {
    for (kind, bytes) in golden_v3() {
        let f = load(&bytes).unwrap_or_else(|e| panic!("{kind}: {e}"));
        answers_everyone(&f);
        // Re-sealing an untouched file changes nothing.
        assert!(load(&reseal(&bytes)).is_ok(), "{kind}");
    }
}

#[test]
fn a_flipped_body_byte_is_a_checksum_error() {
    for (kind, bytes) in golden_v3() {
        let mut b = bytes.clone();
        let at = bodies_start(&b) + (b.len() - bodies_start(&b)) / 2;
        b[at] ^= 0x20;
        let e = load(&b).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Corrupt {
                    check: "checksum",
                    ..
                }
            ),
            "{kind}: {e}"
        );
        assert!(e.to_string().contains("checksum mismatch"), "{kind}: {e}");
    }
}

fn flips() -> impl Strategy<Value = (usize, Vec<(f64, u8)>)> {
    (
        0..15usize,
        proptest::collection::vec((0.0..1.0f64, 1..=255u8), 1..50),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Up to 50 flipped bytes anywhere: a flip in the bodies is always refused (checksum); a file that
    /// still loads (flips in the header's informational fields) answers everyone.
    #[test]
    fn random_flips_never_panic((model, fl) in flips()) {
        let files = golden_v3();
        let (_, bytes) = &files[model % files.len()];
        let start = bodies_start(bytes);
        let mut b = bytes.clone();
        let mut body_touched = false;
        for (at, x) in fl {
            let p = (at * b.len() as f64) as usize % b.len();
            b[p] ^= x;
            body_touched |= p >= start;
        }
        match load(&b) {
            Ok(f) => {
                prop_assert!(!body_touched, "a flipped body loaded");
                answers_everyone(&f);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Any truncation is refused.
    #[test]
    fn truncations_are_refused(model in 0..15usize, cut in 0.0..1.0f64) {
        let files = golden_v3();
        let (_, bytes) = &files[model % files.len()];
        let n = (cut * bytes.len() as f64) as usize;
        prop_assert!(load(&bytes[..n]).is_err());
    }

    /// Flips in the bodies with a valid checksum (the file was written wrong, or forged): the structural
    /// validation refuses it, or the model answers everyone.
    #[test]
    fn resealed_flips_validate_or_answer((model, fl) in flips()) {
        let files = golden_v3();
        let (_, bytes) = &files[model % files.len()];
        let start = bodies_start(bytes);
        let mut b = bytes.clone();
        let n = b.len() - start;
        for (at, x) in fl.iter().take(1 + fl.len() / 10) {
            let p = start + (at * n as f64) as usize % n;
            b[p] ^= x;
        }
        if let Ok(f) = load(&reseal(&b)) {
            answers_everyone(&f);
        }
    }
}
