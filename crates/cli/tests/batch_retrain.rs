//! `tastebud batch`, `retrain` and `registry` from the command line, on a synthetic dataset.

use std::process::Command;

fn tastebud(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tastebud"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn batch_retrain_and_rollback_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    let (ok, _, err) = tastebud(&[
        "datasets",
        "synth",
        "--users",
        "40",
        "--items",
        "60",
        "--interactions",
        "800",
        "--out",
        &p("data"),
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = tastebud(&[
        "train",
        "--data",
        &p("data"),
        "--model",
        "popularity",
        "--out",
        &p("m.tbm"),
    ]);
    assert!(ok, "{err}");

    // batch: JSON lines, one line per user with k items; and into the store.
    let (ok, out, err) = tastebud(&[
        "batch",
        "--model",
        &p("m.tbm"),
        "--out",
        &p("lists.jsonl"),
        "-k",
        "5",
        "--data-dir",
        &p("store"),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("precomputed top-5 for 40 users"), "{out}");
    let text = std::fs::read_to_string(p("lists.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 40);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 5);
    let (ok, out, err) = tastebud(&[
        "batch",
        "--model",
        &p("m.tbm"),
        "--out",
        "store",
        "--data-dir",
        &p("store"),
        "--json",
    ]);
    assert!(ok, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["users"], 40);
    // Bad input names the problem.
    let (ok, _, err) = tastebud(&["batch", "--model", &p("m.tbm"), "--out", "lists.csv"]);
    assert!(!ok && err.contains("--out must be"), "{err}");
    let (ok, _, err) = tastebud(&["batch", "--model", &p("m.tbm"), "--out", "store", "-k", "0"]);
    assert!(!ok && err.contains("-k"), "{err}");

    // retrain twice (the second compares with the first), then list and roll back.
    std::fs::write(
        p("retrain.toml"),
        format!(
            "base_data = {:?}\nregistry = \"registry\"\nmodel = \"popularity\"\n[gate]\nmargin = 1.0\n",
            p("data")
        ),
    )
    .unwrap();
    let retrain = || {
        let (ok, out, err) = tastebud(&[
            "retrain",
            "--config",
            &p("retrain.toml"),
            "--data-dir",
            &p("store"),
            "--json",
        ]);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let r1 = retrain();
    assert_eq!(r1["promoted"], true, "{r1}");
    let v1 = r1["candidate_version"].as_str().unwrap().to_string();
    let r2 = retrain();
    assert_eq!(r2["current_version"], v1.as_str());
    let (ok, out, err) = tastebud(&["registry", "list", "--dir", &p("registry"), "--json"]);
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(!list.as_array().unwrap().is_empty());
    let (ok, out, err) = tastebud(&["registry", "rollback", "--dir", &p("registry"), &v1]);
    assert!(ok, "{err}");
    assert!(out.contains(&v1), "{out}");
    let (ok, _, err) = tastebud(&["registry", "rollback", "--dir", &p("registry"), "nope"]);
    assert!(!ok && err.contains("no version `nope`"), "{err}");
    // A config typo is an error naming it.
    std::fs::write(
        p("bad.toml"),
        "base_data = \"x\"\nregistry = \"r\"\nmodel = \"popularity\"\nmargn = 1\n",
    )
    .unwrap();
    let (ok, _, err) = tastebud(&[
        "retrain",
        "--config",
        &p("bad.toml"),
        "--data-dir",
        &p("store"),
    ]);
    assert!(!ok && err.contains("margn"), "{err}");
}
