//! End-to-end tests of the `tastebud` binary.

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

#[test]
fn info_prints_the_ml100k_numbers() {
    let dir = ml100k();
    let (ok, out, err) = tastebud(&["datasets", "info", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    for needle in [
        "100,000",
        "943",
        "1,682",
        "6.3047 %",
        "19 labels",
        "1997-09-20",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in:\n{out}");
    }
    let (ok, out, _) = tastebud(&["datasets", "info", dir.to_str().unwrap(), "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["interactions"], 100_000);
    assert_eq!(v["users"], 943);
    assert_eq!(v["items"], 1_682);
    assert_eq!(v["value_histogram"][4], serde_json::json!([5.0, 21_201]));
}

#[test]
fn info_reads_a_generic_file_with_a_column_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("log.csv");
    std::fs::write(
        &f,
        "ts;who;what;stars\n10;alice;x;4\n20;bob;x;5\n30;alice;y;3\n",
    )
    .unwrap();
    let (ok, out, err) = tastebud(&[
        "datasets",
        "info",
        f.to_str().unwrap(),
        "--json",
        "--columns",
        "user=who,item=what,rating=stars,time=ts",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            v["users"].as_u64(),
            v["items"].as_u64(),
            v["interactions"].as_u64()
        ),
        (Some(2), Some(2), Some(3))
    );
}

#[test]
fn bad_input_is_a_clear_error_with_a_failing_status() {
    let (ok, _, err) = tastebud(&["datasets", "info", "/nonexistent/folder"]);
    assert!(!ok);
    assert!(
        err.starts_with("error:") && err.contains("/nonexistent/folder"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.tsv");
    std::fs::write(&f, "1\t2\t5\t100\n1\t3\tfive\t101\n").unwrap();
    let (ok, _, err) = tastebud(&["datasets", "info", f.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("r.tsv:2:") && err.contains("five"), "{err}");
    let (ok, out, err) = tastebud(&[
        "datasets",
        "info",
        f.to_str().unwrap(),
        "--skip-bad-lines",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("skipped 1"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["interactions"], 1);
    assert_eq!(v["skipped_lines"], 1);
}

#[test]
fn synth_then_info_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("synth");
    let (ok, _, err) = tastebud(&[
        "datasets",
        "synth",
        "--users",
        "50",
        "--items",
        "80",
        "--interactions",
        "600",
        "--seed",
        "3",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = tastebud(&["datasets", "info", out_dir.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"], 80);
    assert!(v["interactions"].as_u64().unwrap() <= 600);
}

#[test]
fn list_names_every_downloadable_dataset() {
    let (ok, out, _) = tastebud(&["datasets", "list"]);
    assert!(ok);
    for name in [
        "ml-100k",
        "ml-1m",
        "ml-latest-small",
        "ml-20m",
        "ml-25m",
        "goodbooks-10k",
        "netflix-prize",
    ] {
        assert!(out.contains(name), "{name} missing:\n{out}");
    }
    let (ok, _, err) = tastebud(&["datasets", "download", "no-such-dataset"]);
    assert!(!ok && err.contains("unknown dataset"), "{err}");
}

#[test]
fn split_writes_files_that_load_back_as_a_lossless_pair() {
    let dir = ml100k();
    let out = tempfile::tempdir().unwrap();
    let (ok, stdout, err) = tastebud(&[
        "datasets",
        "split",
        dir.to_str().unwrap(),
        "--split",
        "last:5",
        "--seed",
        "1",
        "--out",
        out.path().to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let m: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        m["folds"][0]["train"].as_u64().unwrap() + m["folds"][0]["test"].as_u64().unwrap(),
        100_000
    );
    assert_eq!(m["folds"][0]["test"], 943 * 5);
    let (train, test) = tastebud_data::load_pair(
        Some(&dir),
        &out.path().join("train.tsv"),
        &out.path().join("test.tsv"),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(train.interactions.nnz() + test.nnz(), 100_000);
    for r in test.iter() {
        assert!(train.interactions.get(r.user, r.item).is_none());
        let latest_train = train
            .interactions
            .user_times(r.user)
            .unwrap()
            .iter()
            .max()
            .copied()
            .unwrap();
        assert!(
            r.time.unwrap() >= latest_train,
            "leave-last-out leaked a later event into train"
        );
    }
    let (ok, _, _) = tastebud(&[
        "datasets",
        "split",
        dir.to_str().unwrap(),
        "--split",
        "kfold:3",
        "--out",
        out.path().join("k").to_str().unwrap(),
    ]);
    assert!(ok);
    assert!(out.path().join("k/fold3/test.tsv").is_file());
    let (ok, _, err) = tastebud(&[
        "datasets",
        "split",
        dir.to_str().unwrap(),
        "--split",
        "kfold:1",
        "--out",
        "/tmp/x",
    ]);
    assert!(
        !ok && err.contains("k-fold needs at least 2 folds"),
        "{err}"
    );
}

#[test]
fn evaluate_writes_table_json_html_and_trec_files_that_read_back() {
    let dir = ml100k();
    let out = tempfile::tempdir().unwrap();
    let p = |name: &str| out.path().join(name).to_str().unwrap().to_string();
    let (ok, stdout, err) = tastebud(&[
        "evaluate",
        "--data",
        dir.to_str().unwrap(),
        "--train",
        dir.join("u1.base").to_str().unwrap(),
        "--test",
        dir.join("u1.test").to_str().unwrap(),
        "--models",
        "popularity,random",
        "--k",
        "5,10",
        "--threshold",
        "4",
        "--format",
        "json",
        "--report",
        &p("report.html"),
        "--export-run",
        &p("run.trec"),
        "--export-qrels",
        &p("qrels.trec"),
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["models"][0]["model"], "popularity");
    let ndcg_pop = v["models"][0]["metrics"]["ndcg@10"]["mean"]
        .as_f64()
        .unwrap();
    let ndcg_rand = v["models"][1]["metrics"]["ndcg@10"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        ndcg_pop > 5.0 * ndcg_rand,
        "popularity {ndcg_pop} vs random {ndcg_rand}"
    );
    assert_eq!(
        v["comparisons"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["metric"] == "ndcg@10")
            .count(),
        1
    );
    let html = std::fs::read_to_string(p("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("popularity"));
    // The exported run, read back with --run, scores exactly as the model did.
    let (ok, stdout, err) = tastebud(&[
        "evaluate",
        "--data",
        dir.to_str().unwrap(),
        "--train",
        dir.join("u1.base").to_str().unwrap(),
        "--test",
        dir.join("u1.test").to_str().unwrap(),
        "--models",
        "",
        "--run",
        &p("run.popularity.trec"),
        "--k",
        "5,10",
        "--threshold",
        "4",
        "--format",
        "csv",
    ]);
    assert!(ok, "{err}");
    let header: Vec<&str> = stdout.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = stdout.lines().nth(1).unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "ndcg@10").unwrap();
    assert!((row[col].parse::<f64>().unwrap() - ndcg_pop).abs() < 1e-12);
    assert!(
        std::fs::read_to_string(p("qrels.trec"))
            .unwrap()
            .lines()
            .count()
            > 1000
    );
}

#[test]
fn evaluate_rejects_bad_flags_before_loading() {
    let (ok, _, err) = tastebud(&[
        "evaluate",
        "--data",
        "/nonexistent",
        "--metrics",
        "ndcg,bogus",
    ]);
    assert!(!ok && err.contains("unknown metric `bogus`"), "{err}");
    let (ok, _, err) = tastebud(&["evaluate", "--data", "/nonexistent", "--k", "0"]);
    assert!(!ok && err.contains("--k"), "{err}");
    let dir = ml100k();
    let (ok, _, err) = tastebud(&[
        "evaluate",
        "--data",
        dir.to_str().unwrap(),
        "--models",
        "nope",
    ]);
    assert!(!ok && err.contains("unknown model `nope`"), "{err}");
}

#[test]
fn recommend_with_constraints_on_ml100k_genres_and_years() {
    let dir = ml100k();
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("pop.tbm");
    let m = model.to_str().unwrap();
    let (ok, _, err) = tastebud(&[
        "train",
        "--data",
        dir.to_str().unwrap(),
        "--model",
        "pop",
        "--out",
        m,
    ]);
    assert!(ok, "{err}");
    // Comedies from 1990 on for user 1, preferring romance: every film meets both constraints.
    let (ok, stdout, err) = tastebud(&[
        "recommend",
        "--model",
        m,
        "--user",
        "1",
        "-k",
        "8",
        "--where",
        "genre = Comedy",
        "--where",
        "year >= 1990",
        "--prefer",
        "genres = Romance^2",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let k = &v["knowledge"];
    assert!(k["satisfying"].as_u64().unwrap() > 300, "{k}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    for r in items {
        assert_eq!(
            r["knowledge"]["meets"],
            serde_json::json!(["genre = Comedy", "year >= 1990"]),
            "{r}"
        );
        let title = r["title"].as_str().unwrap();
        let year: u32 = title[title.rfind('(').unwrap() + 1..title.len() - 1]
            .parse()
            .unwrap();
        assert!(year >= 1990, "{title}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .starts_with("meets genre = Comedy and year >= 1990")
        );
    }
    // Romance weighs 2 against the model's 1: the romantic comedies come first.
    assert_eq!(
        items[0]["knowledge"]["preferences"][0][1], 1.0,
        "{}",
        items[0]
    );
    // No comedy after 1998 in ML-100K: the table of relaxations, and no list.
    let (ok, stdout, err) = tastebud(&[
        "recommend",
        "--model",
        m,
        "--history",
        "50",
        "--where",
        "genres = Comedy",
        "--where",
        "year > 1998",
    ]);
    assert!(ok, "{err}");
    assert!(
        stdout.starts_with("No item meets `year > 1998`; dropping `year > 1998` gives 505 items"),
        "{stdout}"
    );
    assert!(
        stdout.contains("relaxation") && !stdout.contains("popularity for"),
        "{stdout}"
    );
    // --relax answers from that relaxation; no user or history is needed with constraints.
    let (ok, stdout, err) = tastebud(&[
        "recommend",
        "--model",
        m,
        "--where",
        "genres = Comedy",
        "--where",
        "year > 1998",
        "--relax",
        "-k",
        "3",
    ]);
    assert!(ok, "{err}");
    assert!(
        stdout.contains("recommending without `year > 1998`"),
        "{stdout}"
    );
    assert!(stdout.contains("meets genres = Comedy"), "{stdout}");
    let (ok, _, err) = tastebud(&["recommend", "--model", m, "--where", "colour = red"]);
    assert!(!ok && err.contains("no column `colour`"), "{err}");
}

/// ONNX import and export need the `onnx` feature; this test binary is built without it: both commands
/// say so and write nothing.
#[cfg(not(feature = "onnx"))]
#[test]
fn onnx_commands_without_the_feature_name_the_feature() {
    let out = tempfile::tempdir().unwrap();
    let dir = ml100k();
    let onnx = out.path().join("m.onnx");
    std::fs::write(&onnx, b"not onnx").unwrap();
    let tbm = out.path().join("m.tbm");
    let (ok, _, err) = tastebud(&[
        "import",
        "onnx",
        onnx.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--out",
        tbm.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("`onnx` feature"), "{err}");
    assert!(!tbm.exists());
    let (ok, _, err) = tastebud(&[
        "export",
        "onnx",
        "--model",
        tbm.to_str().unwrap(),
        "--out",
        out.path().join("x.onnx").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("`onnx` feature"), "{err}");
}

/// The deep models train only with the `deep` feature; this test binary is built without it.
#[cfg(not(feature = "deep"))]
#[test]
fn training_a_deep_model_without_the_feature_names_the_feature() {
    let out = tempfile::tempdir().unwrap();
    let dir = ml100k();
    for model in ["mult-vae", "sasrec", "gru4rec", "two-tower"] {
        let m = out.path().join(format!("{model}.tbm"));
        let (ok, _, err) = tastebud(&[
            "train",
            "--data",
            dir.to_str().unwrap(),
            "--model",
            model,
            "--out",
            m.to_str().unwrap(),
        ]);
        assert!(
            !ok && err.contains("`deep` cargo feature"),
            "{model}: {err}"
        );
        assert!(!m.exists());
    }
}

#[test]
fn train_recommend_similar_round_trip() {
    let dir = ml100k();
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("pop.tbm");
    let (ok, stdout, err) = tastebud(&[
        "train",
        "--data",
        dir.to_str().unwrap(),
        "--model",
        "pop",
        "--param",
        "by_value=true",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{err}");
    let header: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(header["model"], "popularity");
    assert_eq!(header["params"]["by_value"], true);
    assert_eq!(header["n_interactions"], 100_000);
    let (ok, stdout, err) = tastebud(&[
        "recommend",
        "--model",
        model.to_str().unwrap(),
        "--user",
        "1",
        "-k",
        "5",
        "--json",
    ]);
    assert!(ok, "{err}");
    let recs: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(recs.as_array().unwrap().len(), 5);
    assert!(
        recs[0]["title"].as_str().unwrap().contains('('),
        "titles come from u.item: {recs}"
    );
    // User 1 rated item 50 (Star Wars), the most popular film: it must not be recommended back.
    assert!(recs.as_array().unwrap().iter().all(|r| r["item"] != "50"));
    let (ok, stdout, _) = tastebud(&[
        "recommend",
        "--model",
        model.to_str().unwrap(),
        "--history",
        "50,181",
        "-k",
        "3",
    ]);
    assert!(ok);
    assert!(stdout.contains("a new user"), "{stdout}");
    let (ok, _, err) = tastebud(&[
        "recommend",
        "--model",
        model.to_str().unwrap(),
        "--user",
        "nobody",
    ]);
    assert!(!ok && err.contains("unknown user `nobody`"), "{err}");
    let m = model.to_str().unwrap();
    let (ok, _, err) = tastebud(&["recommend", "--model", m, "--history", "50:5,181:x"]);
    assert!(!ok && err.contains("`x` is not a number"), "{err}");
    let (ok, _, err) = tastebud(&["recommend", "--model", m, "--history", "99999"]);
    assert!(!ok && err.contains("unknown item `99999`"), "{err}");
    let (ok, stdout, _) = tastebud(&[
        "similar",
        "--model",
        model.to_str().unwrap(),
        "--item",
        "50",
    ]);
    assert!(
        ok && stdout.contains("no notion of item similarity"),
        "{stdout}"
    );
    let (ok, _, err) = tastebud(&[
        "train",
        "--data",
        dir.to_str().unwrap(),
        "--model",
        "pop",
        "--param",
        "nope=1",
        "--out",
        "/tmp/x.tbm",
    ]);
    assert!(!ok && err.contains("unknown field `nope`"), "{err}");
}
