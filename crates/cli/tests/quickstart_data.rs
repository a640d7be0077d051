//! Where `tastebud quickstart` finds its data (`--data`, `$TASTEBUD_DATA` or `../shared/data`, the download
//! cache, a download, a synthetic dataset), that it says which, and that on its synthetic dataset the
//! personalised model beats popularity (issue "One online pipeline outside HTTP", item 7).

use std::path::Path;
use std::process::Command;

/// Writes a tiny ML-100K folder (`u.data`, `u.item`) with `users` users, so a run shows which one it read.
fn tiny_ml100k(root: &Path, users: u32) {
    let dir = root.join("ml-100k");
    std::fs::create_dir_all(&dir).unwrap();
    let items = 20u32;
    let mut data = String::new();
    for u in 1..=users {
        for k in 0..10 {
            let i = (u * 3 + k * 7) % items + 1;
            data.push_str(&format!(
                "{u}\t{i}\t{}\t{}\n",
                1 + (u + k) % 5,
                880_000_000 + k
            ));
        }
    }
    std::fs::write(dir.join("u.data"), data).unwrap();
    let flags = vec!["0"; 19].join("|");
    let item: String = (1..=items)
        .map(|i| format!("{i}|Movie {i} (1995)|01-Jan-1995||http://x|{flags}\n"))
        .collect();
    std::fs::write(dir.join("u.item"), item).unwrap();
}

/// Runs `quickstart --no-serve` with `TASTEBUD_DATA` and `TASTEBUD_CACHE` set; returns stdout.
fn quickstart(data_env: &Path, cache: &Path, extra: &[&str]) -> String {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tastebud"))
        .args(["quickstart", "--no-serve", "--dir"])
        .arg(work.path())
        .args(extra)
        .env("TASTEBUD_DATA", data_env)
        .env("TASTEBUD_CACHE", cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `[1/4] data: ...` line.
fn data_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.starts_with("[1/4] data:"))
        .unwrap_or_else(|| panic!("no data line:\n{stdout}"))
}

#[test]
fn tastebud_data_is_used_before_the_cache_and_without_downloading() {
    let (data, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tiny_ml100k(data.path(), 30);
    tiny_ml100k(cache.path(), 40);
    // No --offline: had it looked past $TASTEBUD_DATA it would have found the cache's copy (40 users).
    let out = quickstart(data.path(), cache.path(), &[]);
    let line = data_line(&out);
    let expected = data.path().join("ml-100k").canonicalize().unwrap();
    assert!(
        line.contains(&format!(
            "found MovieLens 100K in {} ($TASTEBUD_DATA)",
            expected.display()
        )),
        "{line}"
    );
    assert!(
        out.contains("30 users, 20 items, 300 interactions"),
        "{out}"
    );
}

#[test]
fn the_download_cache_comes_next_and_the_data_flag_comes_first() {
    let (empty, cache, flag) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    tiny_ml100k(cache.path(), 40);
    let out = quickstart(empty.path(), cache.path(), &["--offline"]);
    let line = data_line(&out);
    assert!(
        line.contains(&format!(
            "found MovieLens 100K in {} (the download cache)",
            cache
                .path()
                .join("ml-100k")
                .canonicalize()
                .unwrap()
                .display()
        )),
        "{line}"
    );
    assert!(out.contains("40 users"), "{out}");

    tiny_ml100k(flag.path(), 25);
    let chosen = flag.path().join("ml-100k");
    let out = quickstart(
        empty.path(),
        cache.path(),
        &["--offline", "--data", chosen.to_str().unwrap()],
    );
    assert!(
        data_line(&out).contains(&format!("using {} (--data)", chosen.display())),
        "{out}"
    );
    assert!(out.contains("25 users"), "{out}");
}

/// NDCG@10 of `model` in the first accuracy table that quickstart prints.
fn ndcg_at_10(stdout: &str, model: &str) -> f64 {
    let mut lines = stdout
        .lines()
        .skip_while(|l| !l.contains("accuracy at K=10"));
    let header = lines
        .find(|l| l.contains(" model ") && l.contains(" ndcg "))
        .unwrap_or_else(|| panic!("no accuracy table:\n{stdout}"));
    let cells = |l: &str| -> Vec<String> {
        l.split(['│', '┆']).map(|c| c.trim().to_string()).collect()
    };
    let column = cells(header).iter().position(|c| c == "ndcg").unwrap();
    let row = lines
        .map(cells)
        .find(|c| c.get(1).map(String::as_str) == Some(model))
        .unwrap_or_else(|| panic!("no row for {model}:\n{stdout}"));
    row[column].parse().unwrap()
}

#[test]
fn synthetic_fallback_says_so_and_ease_beats_popularity_on_it() {
    let (empty, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = quickstart(empty.path(), cache.path(), &["--offline"]);
    let line = data_line(&out);
    assert!(
        line.contains("not downloaded (--offline)")
            && line.contains("generated a synthetic dataset")
            && line.contains("NOT MovieLens numbers"),
        "{line}"
    );
    assert!(
        out.contains("943 users, 1682 items, 100000 interactions"),
        "{out}"
    );
    let (pop, ease) = (ndcg_at_10(&out, "popularity"), ndcg_at_10(&out, "ease"));
    assert!(
        ease >= pop + 0.05,
        "EASE NDCG@10 {ease} should beat popularity {pop} by 0.05:\n{out}"
    );
}
