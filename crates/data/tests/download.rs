//! Tests of `tastebud_data::download` against a tiny HTTP/1.1 server on 127.0.0.1.

use std::io::{Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tastebud_core::Error;
use tastebud_data::download::{self, ArchiveKind, DownloadOptions, Remote};
use zip::write::SimpleFileOptions;

const U_DATA: &str = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n";

/// Serves `body` at `/<name>` and 404 elsewhere; counts requests. Runs until the test process ends.
struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn start(name: &str, body: Vec<u8>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let hits = Arc::new(AtomicUsize::new(0));
        let path = format!("/{name}");
        let counter = Arc::clone(&hits);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = serve(stream, &path, &body);
            }
        });
        Server { base, hits }
    }

    fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, path: &str, body: &[u8]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request);
    let target = text.split_whitespace().nth(1).unwrap_or("");
    if target == path {
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        stream.write_all(body)?;
    } else {
        let msg = b"not found";
        write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            msg.len()
        )?;
        stream.write_all(msg)?;
    }
    stream.flush()
}

/// A zip holding `entries` (name, content); names ending in `/` are folders.
fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default();
    for (name, content) in entries {
        if name.ends_with('/') {
            zip.add_directory(*name, opts).expect("add folder");
        } else {
            zip.start_file(*name, opts).expect("start file");
            zip.write_all(content.as_bytes()).expect("write entry");
        }
    }
    zip.finish().expect("finish zip").into_inner()
}

fn tiny_zip() -> Vec<u8> {
    zip_of(&[("tiny/", ""), ("tiny/u.data", U_DATA)])
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn remote(name: &'static str) -> Remote {
    Remote {
        name,
        url: "http://127.0.0.1:9/unused.zip",
        sha256: None,
        md5: None,
        kind: ArchiveKind::Zip,
        folder: Some("tiny"),
        approx_bytes: 1_000,
        description: "a test archive",
    }
}

fn options(cache: &Path, url: String, sha256: Option<String>) -> DownloadOptions {
    DownloadOptions {
        url: Some(url),
        sha256,
        ..DownloadOptions::new(cache)
    }
}

fn no_leftovers(cache: &Path, name: &str) {
    assert!(!cache.join(name).exists(), "dataset folder left behind");
    assert!(
        !cache.join(format!("{name}.zip.part")).exists(),
        ".part left behind"
    );
    let stray: Vec<_> = std::fs::read_dir(cache)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".unpack-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(stray.is_empty(), "temporary unpack folders left: {stray:?}");
}

#[test]
fn right_checksum_unpacks_the_archive() {
    let body = tiny_zip();
    let server = Server::start("tiny.zip", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(
        cache.path(),
        server.url("tiny.zip"),
        Some(sha256_hex(&body)),
    );
    let dir = download::download(&remote("tiny"), &opts).unwrap();
    assert_eq!(dir, cache.path().join("tiny").join("tiny"));
    assert_eq!(std::fs::read_to_string(dir.join("u.data")).unwrap(), U_DATA);
    assert_eq!(
        std::fs::read(cache.path().join("tiny.zip")).unwrap(),
        body,
        "the archive is kept in the cache"
    );
    assert!(!cache.path().join("tiny.zip.part").exists());
    assert_eq!(
        download::sha256_file(&cache.path().join("tiny.zip")).unwrap(),
        sha256_hex(&body)
    );
}

#[test]
fn uppercase_checksum_is_accepted_and_none_means_unchecked() {
    let body = tiny_zip();
    let server = Server::start("tiny.zip", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let upper = sha256_hex(&body).to_uppercase();
    let opts = options(cache.path(), server.url("tiny.zip"), Some(upper));
    assert!(download::download(&remote("upper"), &opts).is_ok());
    // With progress on (a bar on stderr when it is a terminal, and the computed hash printed).
    let opts = DownloadOptions {
        progress: true,
        ..options(cache.path(), server.url("tiny.zip"), None)
    };
    let dir = download::download(&remote("unchecked"), &opts).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("u.data")).unwrap(), U_DATA);
}

#[test]
fn wrong_checksum_is_an_error_and_leaves_nothing() {
    let body = tiny_zip();
    let server = Server::start("tiny.zip", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    let opts = options(cache.path(), server.url("tiny.zip"), Some(wrong.clone()));
    let err = download::download(&remote("tiny"), &opts).unwrap_err();
    let Error::Download(msg) = &err else {
        panic!("expected Error::Download, got {err:?}")
    };
    assert!(msg.contains(&wrong), "{msg}");
    assert!(msg.contains(&sha256_hex(&body)), "{msg}");
    no_leftovers(cache.path(), "tiny");
    assert!(!cache.path().join("tiny.zip").exists());
}

#[test]
fn malformed_checksum_is_rejected_before_any_request() {
    let server = Server::start("tiny.zip", tiny_zip());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), server.url("tiny.zip"), Some("abc".into()));
    let err = download::download(&remote("tiny"), &opts).unwrap_err();
    assert!(
        matches!(err, Error::InvalidParam { name: "sha256", .. }),
        "{err:?}"
    );
    assert_eq!(server.hits(), 0);
}

#[test]
fn http_404_is_a_download_error_naming_the_url() {
    let server = Server::start("tiny.zip", tiny_zip());
    let cache = tempfile::tempdir().unwrap();
    let url = server.url("missing.zip");
    let opts = options(cache.path(), url.clone(), None);
    let err = download::download(&remote("tiny"), &opts).unwrap_err();
    let Error::Download(msg) = &err else {
        panic!("expected Error::Download, got {err:?}")
    };
    assert!(msg.contains(&url) && msg.contains("404"), "{msg}");
    no_leftovers(cache.path(), "tiny");
}

#[test]
fn connection_refused_is_a_download_error() {
    // Bind and drop to find a port that nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/tiny.zip");
    let opts = options(cache.path(), url.clone(), None);
    let err = download::download(&remote("tiny"), &opts).unwrap_err();
    let Error::Download(msg) = &err else {
        panic!("expected Error::Download, got {err:?}")
    };
    assert!(msg.contains(&url), "{msg}");
    no_leftovers(cache.path(), "tiny");
}

#[test]
fn second_call_uses_the_cache_unless_forced() {
    let body = tiny_zip();
    let server = Server::start("tiny.zip", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let mut opts = options(
        cache.path(),
        server.url("tiny.zip"),
        Some(sha256_hex(&body)),
    );
    let first = download::download(&remote("tiny"), &opts).unwrap();
    assert_eq!(server.hits(), 1);
    let second = download::download(&remote("tiny"), &opts).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        server.hits(),
        1,
        "a cached dataset must not be downloaded again"
    );

    // With the folder gone, a verified archive in the cache is reused.
    std::fs::remove_dir_all(cache.path().join("tiny")).unwrap();
    let third = download::download(&remote("tiny"), &opts).unwrap();
    assert_eq!(third, first);
    assert_eq!(server.hits(), 1, "a verified cached archive must be reused");

    opts.force = true;
    let forced = download::download(&remote("tiny"), &opts).unwrap();
    assert_eq!(forced, first);
    assert_eq!(server.hits(), 2, "force downloads again");
    assert_eq!(
        std::fs::read_to_string(forced.join("u.data")).unwrap(),
        U_DATA
    );
}

#[test]
fn archive_escaping_the_folder_is_rejected() {
    let body = zip_of(&[("tiny/u.data", U_DATA), ("../evil", "gotcha")]);
    let server = Server::start("evil.zip", body.clone());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(
        cache.path(),
        server.url("evil.zip"),
        Some(sha256_hex(&body)),
    );
    let err = download::download(&remote("evil"), &opts).unwrap_err();
    assert!(matches!(err, Error::BadInput { .. }), "{err:?}");
    assert!(err.to_string().contains("../evil"), "{err}");
    assert!(!cache.path().parent().unwrap().join("evil").exists());
    no_leftovers(cache.path(), "evil");
}

#[test]
fn absolute_entry_is_rejected() {
    let body = zip_of(&[("/tmp/tastebud-absolute-evil", "gotcha")]);
    let server = Server::start("abs.zip", body);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), server.url("abs.zip"), None);
    let err = download::download(&remote("abs"), &opts).unwrap_err();
    assert!(matches!(err, Error::BadInput { .. }), "{err:?}");
    no_leftovers(cache.path(), "abs");
}

#[test]
fn garbage_body_is_a_bad_archive() {
    let server = Server::start("junk.zip", b"<html>not a zip</html>".to_vec());
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), server.url("junk.zip"), None);
    let err = download::download(&remote("junk"), &opts).unwrap_err();
    assert!(matches!(err, Error::BadInput { .. }), "{err:?}");
    no_leftovers(cache.path(), "junk");
    assert!(!cache.path().join("junk.zip").exists());
}

#[test]
fn flat_archive_returns_the_unpack_folder() {
    let body = zip_of(&[
        ("ratings.csv", "user_id,book_id,rating\n1,2,5\n"),
        ("books.csv", "x\n"),
    ]);
    let server = Server::start("flat.zip", body);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), server.url("flat.zip"), None);
    let dir = download::download(&remote("flat"), &opts).unwrap();
    assert_eq!(dir, cache.path().join("flat"));
    assert!(dir.join("ratings.csv").is_file());
}

#[test]
fn unsafe_names_are_rejected() {
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), "http://127.0.0.1:9/x.zip".into(), None);
    for name in ["", "../up", "a/b", ".hidden"] {
        let err = download::download(&remote(name), &opts).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParam { name: "name", .. }),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn registry_is_well_formed() {
    let known = download::known();
    assert!(known.len() >= 6);
    for r in known {
        assert!(r.url.starts_with("https://"), "{}", r.url);
        assert!(r.url.ends_with(".zip"), "{}", r.url);
        assert!(!r.description.is_empty() && r.approx_bytes > 0);
        if let Some(hex) = r.sha256 {
            assert!(hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        assert_eq!(download::find(r.name), Some(r));
    }
    for name in [
        "ml-100k",
        "ml-1m",
        "ml-latest-small",
        "ml-20m",
        "ml-25m",
        "goodbooks-10k",
    ] {
        assert!(download::find(name).is_some(), "{name}");
    }
    assert!(download::find("ML-100K").is_some());
    assert!(download::find("nope").is_none());
}

/// The publisher's MD5 (GroupLens publishes no SHA-256) is checked when no SHA-256 is pinned.
#[test]
fn published_md5_is_verified() {
    let body = tiny_zip();
    let md5_hex: String = {
        use md5::Digest;
        md5::Md5::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let server = Server::start("tiny.zip", body);
    let dir = tempfile::tempdir().unwrap();
    let leaked_md5: &'static str = Box::leak(md5_hex.into_boxed_str());
    let good = Remote {
        md5: Some(leaked_md5),
        ..remote("good-md5")
    };
    download::download(&good, &options(dir.path(), server.url("tiny.zip"), None)).unwrap();
    let bad = Remote {
        md5: Some("00000000000000000000000000000000"),
        ..remote("bad-md5")
    };
    let err = download::download(&bad, &options(dir.path(), server.url("tiny.zip"), None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("md5") && err.contains(leaked_md5), "{err}");
    no_leftovers(dir.path(), "bad-md5");
}
