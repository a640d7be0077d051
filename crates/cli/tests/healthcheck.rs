//! `tastebud healthcheck` (the container image's HEALTHCHECK): exit 0 on a ready server, 1 on a 503, on a
//! refused connection and on a hung one, with the reason on standard error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tastebud");

fn healthcheck(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("healthcheck")
        .args(args)
        .output()
        .expect("binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A one-connection HTTP server answering `status` with `body`; returns its URL.
fn canned(status: &'static str, body: &'static str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(resp.as_bytes());
    });
    format!("http://{addr}/readyz")
}

#[test]
fn a_2xx_passes_and_a_503_fails_with_the_servers_reason() {
    let url = canned("200 OK", r#"{"status":"ready"}"#);
    let out = healthcheck(&["--url", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("200"), "{}", text(&out.stdout));

    let url = canned(
        "503 Service Unavailable",
        r#"{"error":{"message":"store: down"}}"#,
    );
    let out = healthcheck(&["--url", &url]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("503") && err.contains("store: down"), "{err}");
}

#[test]
fn a_refused_or_hung_connection_fails_within_the_timeout() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = healthcheck(&["--url", &format!("http://127.0.0.1:{port}/readyz")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no answer"),
        "{}",
        text(&out.stderr)
    );

    // A server that accepts and never answers: the probe gives up after --timeout-ms.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/readyz", l.local_addr().unwrap());
    let t = Instant::now();
    let out = healthcheck(&["--url", &url, "--timeout-ms", "300"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    drop(l);
}

#[test]
fn bad_flags_are_refused_before_any_request() {
    let out = healthcheck(&["--url", "https://127.0.0.1/readyz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("http://"),
        "{}",
        text(&out.stderr)
    );
    let out = healthcheck(&["--timeout-ms", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--timeout-ms"));
}

/// Against a real `tastebud serve`: ready while it runs, failing once it is gone.
#[test]
fn a_running_server_is_healthy_and_a_stopped_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let model = dir.path().join("m.tbm");
    for args in [
        vec![
            "datasets",
            "synth",
            "--users",
            "30",
            "--items",
            "20",
            "--interactions",
            "300",
            "--out",
            data.to_str().unwrap(),
        ],
        vec![
            "train",
            "--data",
            data.to_str().unwrap(),
            "--model",
            "popularity",
            "--out",
            model.to_str().unwrap(),
        ],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let mut child = Command::new(BIN)
        .args(["serve", "--model"])
        .arg(&model)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("store"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
        .to_string();
    let url = format!("http://{addr}/readyz");
    let out = healthcheck(&["--url", &url]);
    let shown = text(&out.stdout);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(shown.contains("\"ready\""), "{shown}");
    let out = healthcheck(&["--url", &url, "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
}
