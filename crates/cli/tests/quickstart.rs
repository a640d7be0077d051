//! `tastebud quickstart` end to end on MovieLens 100K: finds the data, prints the evaluation table, trains,
//! serves, and the printed example requests work.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn data_root() -> PathBuf {
    let root = std::env::var_os("TASTEBUD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    assert!(
        root.join("ml-100k/u.data").is_file(),
        "ML-100K not found under {} (set TASTEBUD_DATA)",
        root.display()
    );
    root
}

#[test]
fn quickstart_finds_ml100k_evaluates_trains_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tastebud"))
        .args(["quickstart", "--offline", "--bind", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .env("TASTEBUD_DATA", data_root())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("quickstart ended early:\n{}", seen.join("\n")))
            .unwrap();
        if let Some(rest) = line.strip_prefix("listening on http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        seen.push(line);
    };
    let text = seen.join("\n");
    assert!(text.contains("found MovieLens 100K"), "{text}");
    assert!(
        text.contains("943 users, 1682 items, 100000 interactions"),
        "{text}"
    );
    assert!(
        text.contains("ndcg@10") || text.contains("NDCG@10"),
        "no table:\n{text}"
    );
    assert!(text.contains("ease"), "{text}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let body = agent
        .get(&format!("http://{addr}/v1/users/1/recommendations?k=5"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 5, "{v}");
    assert_eq!(v["model"], "ease");
    assert!(
        v["items"][0]["title"].is_string(),
        "titles from u.item: {v}"
    );
    // The printed hints name this address.
    let hints: Vec<String> = (0..3).filter_map(|_| lines.next()?.ok()).collect();
    assert!(hints.iter().any(|h| h.contains(&addr)), "{hints:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}
