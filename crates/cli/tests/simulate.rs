//! `tastebud simulate` end to end on real MovieLens 100K (`TASTEBUD_DATA`).

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

fn ml100k() -> String {
    let dir = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("ml-100k");
    assert!(
        dir.join("u.data").is_file(),
        "ML-100K not found at {} (set TASTEBUD_DATA)",
        dir.display()
    );
    dir.display().to_string()
}

#[test]
fn simulate_aa_and_ab_print_tables_and_json() {
    let data = ml100k();
    let common = ["--data", &data, "--users", "1000", "--days", "3"];
    let (ok, out, err) =
        tastebud(&[&["simulate", "aa", "--experiments", "20"], &common[..]].concat());
    assert!(ok, "{err}");
    for needle in [
        "A/A: 20 experiments",
        "CTR per user",
        "per impression",
        "mSPRT per user",
        "SRM flagged",
    ] {
        assert!(out.contains(needle), "{needle} missing from\n{out}");
    }
    let (ok, out, err) = tastebud(
        &[
            &["simulate", "aa", "--experiments", "20", "--json"],
            &common[..],
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["experiments"], 20);
    assert_eq!(v["model"], "ease");
    for key in [
        "ctr",
        "ctr_user_level",
        "conversion",
        "naive_peeking",
        "msprt_peeking",
        "srm",
    ] {
        let r = &v[key];
        let rate = r["rate"].as_f64().unwrap();
        assert!(
            r["ci"]["low"].as_f64().unwrap() <= rate && rate <= r["ci"]["high"].as_f64().unwrap()
        );
        assert_eq!(r["n"], 20);
    }
    // both arms serve the same slates, so the true CTRs are equal
    assert_eq!(v["true_ctr"][0], v["true_ctr"][1]);

    let (ok, out, err) = tastebud(
        &[
            &[
                "simulate",
                "ab",
                "--control",
                "pop",
                "--treatment",
                "ease",
                "--experiments",
                "4",
                "--json",
            ],
            &common[..],
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["control"], "popularity");
    let arms = v["report"]["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 2);
    assert!(arms[1]["ctr_p_value"].as_f64().is_some());
    assert!(arms[1]["ctr_lift"]["ci"]["low"].as_f64().is_some());
    assert_eq!(v["simulated_power"]["n"], 4);
    let planned = v["planned_power"].as_f64().unwrap();
    assert!(planned > 0.0 && planned <= 1.0);

    let (ok, out, err) = tastebud(&[&["simulate", "ab"], &common[..]].concat());
    assert!(ok, "{err}");
    for needle in [
        "true CTR: control",
        "CTR lift",
        "power of the CTR test",
        "users for 80% power",
    ] {
        assert!(out.contains(needle), "{needle} missing from\n{out}");
    }
}

#[test]
fn simulate_rejects_bad_input_clearly() {
    let data = ml100k();
    let (ok, _, err) = tastebud(&["simulate", "aa", "--data", &data, "--experiments", "0"]);
    assert!(!ok && err.contains("--experiments"), "{err}");
    let (ok, _, err) = tastebud(&[
        "simulate",
        "ab",
        "--data",
        &data,
        "--treatment",
        "nope",
        "--users",
        "10",
    ]);
    assert!(!ok && err.contains("unknown model"), "{err}");
    let (ok, _, err) = tastebud(&["simulate", "aa", "--data", "/nonexistent/dir"]);
    assert!(!ok && err.contains("not found"), "{err}");
}
