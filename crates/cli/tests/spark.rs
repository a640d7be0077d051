//! Issue "Spark and Python": a Spark MLlib ALS model trained by PySpark (`local[2]`) on an ML-100K split,
//! saved, imported with `tastebud import spark-als`, ranks each user's unseen items as Spark does, and
//! scores the RMSE and NDCG@10 Spark computes for it on the held-out part. The interactions Spark wrote
//! as Parquet read as the same dataset.
//!
//! Needs the `parquet` feature and PySpark: `scripts/spark/env.sh` installs it (pinned, in the user's
//! cache folder) and Java 17 when missing; the test fails, not skips, when that fails.
#![cfg(feature = "parquet")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ml100k() -> PathBuf {
    let dir = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/data"))
        .join("ml-100k");
    assert!(
        dir.join("u.data").is_file(),
        "ML-100K not found at {} (set TASTEBUD_DATA)",
        dir.display()
    );
    dir
}

/// The Python interpreter with PySpark (installed by scripts/spark/env.sh when missing).
fn spark_python() -> PathBuf {
    let out = Command::new(repo().join("scripts/spark/env.sh"))
        .output()
        .expect("scripts/spark/env.sh runs");
    assert!(
        out.status.success(),
        "scripts/spark/env.sh failed (PySpark is needed):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("env.sh prints the interpreter")
        .trim()
        .to_string();
    PathBuf::from(path)
}

fn tastebud(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tastebud"))
        .args(args)
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "tastebud {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn spark_als_imported_ranks_and_scores_as_spark() {
    let data = ml100k();
    let py = spark_python();
    let w = tempfile::tempdir().unwrap();
    let w = w.path();
    let split = w.join("split");
    tastebud(&[
        "datasets",
        "split",
        s(&data),
        "--split",
        "user:0.2",
        "--seed",
        "7",
        "--out",
        s(&split),
    ]);
    let (train, test) = (split.join("train.tsv"), split.join("test.tsv"));
    let model = w.join("model");
    let results = w.join("spark.json");
    let parquet = w.join("train.parquet");
    let out = Command::new(&py)
        .arg(repo().join("scripts/spark/als.py"))
        .args([
            "--train",
            s(&train),
            "--test",
            s(&test),
            "--model",
            s(&model),
        ])
        .args(["--results", s(&results), "--train-parquet", s(&parquet)])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "scripts/spark/als.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spark: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();

    // Parquet in: the train part as Spark wrote it (a folder of parts) is the same dataset.
    let info = |args: &[&str]| -> serde_json::Value {
        serde_json::from_str(&tastebud(
            &[&["datasets", "info"], args, &["--json"]].concat(),
        ))
        .unwrap()
    };
    let from_parquet = info(&[
        s(&parquet),
        "--columns",
        "user=user,item=item,rating=rating,time=ts",
    ]);
    let from_tsv = info(&[s(&train)]);
    for key in ["interactions", "users", "items", "value_histogram"] {
        assert_eq!(from_parquet[key], from_tsv[key], "{key}");
    }

    // Import: the fold-in of each training history reproduces Spark's user factor.
    let tbm = w.join("spark.tbm");
    let summary: serde_json::Value = serde_json::from_str(&tastebud(&[
        "import",
        "spark-als",
        s(&model),
        "--data",
        s(&train),
        "--out",
        s(&tbm),
        "--json",
    ]))
    .unwrap();
    println!("import: {summary}");
    assert_eq!(summary["users_matched"], summary["users_in_model"]);
    assert_eq!(summary["items_matched"], summary["items_in_model"]);
    assert!(
        summary["fold_in_median_rel_diff"].as_f64().unwrap() < 1e-5,
        "{summary}"
    );

    // A wrong regParam does not reproduce Spark's factors: the import fails, says why, writes nothing.
    let wrong = w.join("wrong.tbm");
    let out = Command::new(env!("CARGO_BIN_EXE_tastebud"))
        .args(["import", "spark-als", s(&model), "--data", s(&train)])
        .args(["--out", s(&wrong), "--reg-param", "1.0"])
        .output()
        .expect("binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a wrong --reg-param was accepted");
    assert!(
        err.contains("does not reproduce Spark's user factors") && err.contains("--reg-param"),
        "{err}"
    );
    assert!(!wrong.exists());

    // Top 10 over unseen items: Tastebud's batch lists equal Spark's ranking, ties aside.
    let lists = w.join("lists.jsonl");
    let store = w.join("store");
    tastebud(&[
        "batch",
        "--model",
        s(&tbm),
        "--out",
        s(&lists),
        "-k",
        "10",
        "--data-dir",
        s(&store),
    ]);
    let ours: HashMap<String, Vec<(String, f64)>> = std::fs::read_to_string(&lists)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let items = v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    (
                        x["item"].as_str().unwrap().to_string(),
                        x["score"].as_f64().unwrap(),
                    )
                })
                .collect();
            (v["user"].as_str().unwrap().to_string(), items)
        })
        .collect();
    let sample = spark["lists"].as_object().unwrap();
    assert!(sample.len() >= 50, "{} sampled users", sample.len());
    let (mut identical, mut tie_swaps) = (0, 0);
    for (user, theirs) in sample {
        let theirs: Vec<(String, f64)> = theirs
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_f64().unwrap()))
            .collect();
        let mine = &ours[user];
        assert_eq!(mine.len(), theirs.len(), "user {user}");
        if mine.iter().map(|p| &p.0).eq(theirs.iter().map(|p| &p.0)) {
            identical += 1;
        } else {
            tie_swaps += 1;
        }
        // Position by position the scores agree (float rounding), so where the items differ they tie.
        for (r, (a, b)) in mine.iter().zip(&theirs).enumerate() {
            assert!(
                (a.1 - b.1).abs() <= 1e-4 * b.1.abs().max(1.0),
                "user {user} rank {}: tastebud {a:?} vs spark {b:?}",
                r + 1
            );
        }
    }
    println!(
        "top-10 over unseen items, {} sampled users: {identical} identical, {tie_swaps} differing only in tied items",
        sample.len()
    );

    // RMSE and NDCG@10 on the held-out part, as Spark computes them.
    let report: serde_json::Value = serde_json::from_str(&tastebud(&[
        "evaluate",
        s(&data),
        "--train",
        s(&train),
        "--test",
        s(&test),
        "--models",
        "popularity",
        "--model-file",
        s(&tbm),
        "--metrics",
        "ndcg",
        "--k",
        "10",
        "--no-beyond",
        "--format",
        "json",
    ]))
    .unwrap();
    let row = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "spark")
        .unwrap_or_else(|| panic!("no `spark` row in {report}"));
    let metric = |name: &str| -> f64 {
        row["metrics"][name]["mean"]
            .as_f64()
            .unwrap_or_else(|| panic!("no {name} in {row}"))
    };
    let (rmse, ndcg) = (metric("rmse"), metric("ndcg@10"));
    let (spark_rmse, spark_ndcg) = (
        spark["rmse"].as_f64().unwrap(),
        spark["ndcg_at_10"].as_f64().unwrap(),
    );
    println!(
        "RMSE tastebud {rmse:.6} spark {spark_rmse:.6}; NDCG@10 tastebud {ndcg:.6} spark {spark_ndcg:.6}"
    );
    assert!(
        (rmse - spark_rmse).abs() < 1e-6,
        "RMSE {rmse} vs Spark {spark_rmse}"
    );
    assert!(
        (ndcg - spark_ndcg).abs() < 1e-4,
        "NDCG@10 {ndcg} vs Spark {spark_ndcg}"
    );
}
