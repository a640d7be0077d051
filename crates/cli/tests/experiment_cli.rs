//! `tastebud experiment create|list|report|stop` against a running `tastebud serve`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tastebud");

fn tastebud(args: &[&str], server: &str, key: Option<&str>) -> (bool, String, String) {
    let mut c = Command::new(BIN);
    c.args(args).env("TASTEBUD_SERVER", server);
    match key {
        Some(k) => c.env("TASTEBUD_ADMIN_KEY", k),
        None => c.env_remove("TASTEBUD_ADMIN_KEY"),
    };
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn experiments_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
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
    run(&[
        "train",
        "--data",
        &p("data"),
        "--model",
        "popularity",
        "--out",
        &p("pop.tbm"),
    ]);
    run(&[
        "train",
        "--data",
        &p("data"),
        "--model",
        "itemknn",
        "--out",
        &p("knn.tbm"),
    ]);
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--model",
            &p("pop.tbm"),
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            &p("store"),
        ])
        .env("TASTEBUD_ADMIN_KEY", "s3cret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _guard = Killed(child);
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in `{line}`"));
    let server = format!("http://{addr}");

    let (ok, out, _) = tastebud(&["experiment", "list"], &server, None);
    assert!(ok && out.contains("no experiments"), "{out}");
    // Create needs the key; a bad arm spec is named.
    let create = [
        "experiment",
        "create",
        "--id",
        "knn-vs-pop",
        "--arm",
        "control=1",
        "--arm",
    ];
    let knn_arm = format!("treatment=1:{}", p("knn.tbm"));
    let mut args = create.to_vec();
    args.push(&knn_arm);
    let (ok, _, err) = tastebud(&args, &server, None);
    assert!(!ok && err.contains("admin key"), "{err}");
    let (ok, out, err) = tastebud(&args, &server, Some("s3cret"));
    assert!(ok, "{err}");
    assert!(out.contains("created experiment `knn-vs-pop`"), "{out}");
    let (ok, _, err) = tastebud(&args, &server, Some("s3cret"));
    assert!(!ok && err.contains("409"), "duplicate: {err}");
    let (ok, _, err) = tastebud(
        &[
            "experiment",
            "create",
            "--id",
            "x",
            "--arm",
            "a=one",
            "--arm",
            "b=1",
        ],
        &server,
        Some("s3cret"),
    );
    assert!(!ok && err.contains("weight `one`"), "{err}");
    let (ok, _, err) = tastebud(
        &[
            "experiment",
            "create",
            "--id",
            "x",
            "--arm",
            "a=1",
            "--arm",
            "b=1",
            "--allocation",
            "greedy",
        ],
        &server,
        Some("s3cret"),
    );
    assert!(!ok && err.contains("--allocation greedy"), "{err}");
    let (ok, out, err) = tastebud(&["experiment", "list", "--json"], &server, None);
    assert!(ok, "{err}");
    let defs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(defs[0]["id"], "knn-vs-pop");
    assert_eq!(defs[0]["arms"][1]["model"], p("knn.tbm"));

    // Traffic: recommendations for every user, their impressions and one click each, echoing the arm.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let users: Vec<String> = (0..40).map(|u| format!("u{u}")).collect();
    let mut events = Vec::new();
    for (n, u) in users.iter().enumerate() {
        let mut r = agent
            .get(&format!(
                "{server}/v1/users/{u}/recommendations?k=5&explain=false"
            ))
            .call()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(v["experiment"], "knn-vs-pop", "{v}");
        let items: Vec<String> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item"].as_str().unwrap().to_string())
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let tag = |mut e: serde_json::Value| {
            e["experiment"] = v["experiment"].clone();
            e["arm"] = v["arm"].clone();
            e["attrs"] = serde_json::json!({"country": if n % 2 == 0 { "NL" } else { "US" }});
            e
        };
        events.push(tag(
            serde_json::json!({"user": u, "items": items, "type": "impression", "timestamp": now}),
        ));
        events.push(tag(
            serde_json::json!({"user": u, "item": items[0], "type": "click", "timestamp": now}),
        ));
    }
    let mut r = agent
        .post(&format!("{server}/v1/events"))
        .header("content-type", "application/json")
        .send(serde_json::Value::Array(events).to_string())
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );

    let (ok, out, err) = tastebud(&["experiment", "report", "knn-vs-pop"], &server, None);
    assert!(ok, "{err}");
    assert!(
        out.contains("control") && out.contains("treatment") && out.contains("20.00%"),
        "{out}"
    );
    assert!(
        out.contains("decision:") && out.contains("segment new"),
        "{out}"
    );
    let (ok, _, err) = tastebud(
        &[
            "experiment",
            "report",
            "knn-vs-pop",
            "--format",
            "html",
            "--out",
            &p("r.html"),
        ],
        &server,
        None,
    );
    assert!(ok, "{err}");
    let html = std::fs::read_to_string(p("r.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("knn-vs-pop"));
    // Broken down by a user attribute the events carry.
    let (ok, out, err) = tastebud(
        &[
            "experiment",
            "report",
            "knn-vs-pop",
            "--segment-by",
            "country",
        ],
        &server,
        None,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("country=NL") && out.contains("country=US"),
        "{out}"
    );
    let (ok, _, err) = tastebud(
        &["experiment", "report", "knn-vs-pop", "--segment-by", "a b"],
        &server,
        None,
    );
    assert!(!ok && err.contains("letters, digits"), "{err}");
    let (ok, _, err) = tastebud(&["experiment", "report", "nope"], &server, None);
    assert!(!ok && err.contains("no experiment `nope`"), "{err}");

    let (ok, out, err) = tastebud(
        &["experiment", "stop", "knn-vs-pop"],
        &server,
        Some("s3cret"),
    );
    assert!(ok, "{err}");
    assert!(out.contains("stopped experiment `knn-vs-pop`"), "{out}");
    let (ok, out, _) = tastebud(&["experiment", "list"], &server, None);
    assert!(ok && out.contains("stopped"), "{out}");
}
