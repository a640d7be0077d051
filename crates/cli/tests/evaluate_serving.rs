//! `tastebud evaluate --serving-config`: models evaluated through the serving pipeline. With no
//! re-ranker and exact retrieval the numbers are the direct evaluation's; a configured re-ranker
//! changes them (so a configuration that were ignored would fail here); a whole server configuration
//! is accepted and a bad pipeline key is refused before any work.

use std::path::PathBuf;
use std::process::Command;

fn tastebud(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tastebud"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ml100k() -> PathBuf {
    let dir = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("ml-100k");
    assert!(
        dir.join("u.data").is_file(),
        "ML-100K not found at {} (set TASTEBUD_DATA)",
        dir.display()
    );
    dir
}

/// `(model name, NDCG@10)` of each row of `evaluate --format json`.
fn evaluate(extra: &[&str]) -> Vec<(String, f64)> {
    let dir = ml100k();
    let mut args = vec![
        "evaluate",
        "--data",
        dir.to_str().unwrap(),
        "--split",
        "user:0.2",
        "--threshold",
        "4",
        "--models",
        "popularity,itemknn",
        "--k",
        "10",
        "--metrics",
        "ndcg",
        "--no-beyond",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (ok, out, err) = tastebud(&args);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["model"].as_str().unwrap().to_string(),
                m["metrics"]["ndcg@10"]["mean"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn serving_config_evaluates_through_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let none = tmp.path().join("none.toml");
    // A whole server configuration: only the pipeline's sections are read.
    std::fs::write(
        &none,
        "bind = \"127.0.0.1:9\"\n[cache]\nttl_secs = 5\n[rerank]\nmethod = \"none\"\n",
    )
    .unwrap();
    let mmr = tmp.path().join("mmr.toml");
    std::fs::write(&mmr, "[rerank]\nmethod = \"mmr\"\nparam = 0.5\n").unwrap();

    let direct = evaluate(&[]);
    let plain = evaluate(&["--serving-config", none.to_str().unwrap()]);
    let reranked = evaluate(&["--serving-config", mmr.to_str().unwrap()]);
    assert_eq!(direct.len(), 2);
    for ((d, p), r) in direct.iter().zip(&plain).zip(&reranked) {
        assert_eq!(p.0, format!("{}+serving", d.0));
        assert_eq!(r.0, p.0);
        assert_eq!(
            p.1, d.1,
            "{}: the pipeline without re-ranking changed NDCG",
            d.0
        );
        assert_ne!(r.1, d.1, "{}: MMR 0.5 left NDCG unchanged", d.0);
    }

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[rerank]\nmethd = \"mmr\"\n").unwrap();
    let dir = ml100k();
    let (ok, _, err) = tastebud(&[
        "evaluate",
        "--data",
        dir.to_str().unwrap(),
        "--serving-config",
        bad.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("methd"), "{err}");
}
