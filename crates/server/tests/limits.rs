//! The server's resource limits (issue "Trust", findings 1 and 5): the response cache bounded in bytes and
//! emptied at a swap, the memory budget checked at startup and at reload, the header-read timeout
//! (slowloris) and the cap on open connections.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Server, model_file};
use tastebud_core::{Dataset, Feedback, Interactions};
use tastebud_models::NoProgress;
use tastebud_models::file::ModelFile;
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_server::budget::{self, MIB};
use tastebud_server::{App, Config};

/// An EASE model over `items` items (its item-item matrix is `items^2` floats), saved in `dir`.
fn big_model(dir: &Path, items: u32) -> PathBuf {
    let users = 400u32;
    let mut t = Vec::new();
    for u in 0..users {
        for j in 0..25u32 {
            t.push((u, (u * 31 + j * 17) % items, 1.0));
        }
    }
    let x = Interactions::from_triplets(users as usize, items as usize, &t, Feedback::Implicit)
        .unwrap();
    let d = Dataset::from_parts(
        "wide",
        x,
        (0..users).map(|u| format!("u{u}")),
        (0..items).map(|i| format!("i{i}")),
    )
    .unwrap();
    let spec = ModelSpec::new("ease").unwrap();
    let (m, p) = fit(&spec, &d, &NoProgress).unwrap();
    let path = dir.join(format!("ease-{items}.tbm"));
    ModelFile::new(m, p, &d, true).save(&path).unwrap();
    path
}

fn cache_entries(s: &Server) -> u64 {
    let c = s.state.cache.as_ref().unwrap();
    c.run_pending_tasks();
    c.entry_count()
}

#[test]
fn many_new_users_at_k_1000_keep_the_cache_within_its_byte_cap() {
    let mut c = Config::default();
    c.cache.max_mb = Some(1);
    let s = Server::start(c, None);
    assert_eq!(s.state.memory.cache, MIB);
    for u in 0..400 {
        let (st, v) = s.get(&format!("/v1/users/new-{u}/recommendations?k=1000"));
        assert_eq!(st, 200, "{v}");
        // Never above the cap by more than what one maintenance batch admits (1/32 of it).
        assert!(
            s.state.cache.as_ref().unwrap().weighted_size() <= MIB + MIB / 32 + 64 * 1024,
            "after {u} users"
        );
    }
    let bytes = s.state.cache_bytes();
    let n = cache_entries(&s);
    assert!(bytes <= MIB, "{bytes} bytes cached, cap {MIB}");
    assert!(
        n > 10 && n < 400,
        "{n} entries: the cap must evict, and still hold some"
    );
}

#[test]
fn an_entry_weighs_at_least_its_json_and_items_and_not_wildly_more() {
    let s = Server::start(Config::default(), None);
    let (st, _) = s.get("/v1/users/u3/recommendations?k=1000");
    assert_eq!(st, 200);
    let cache = s.state.cache.as_ref().unwrap();
    cache.run_pending_tasks();
    let (k, v) = cache.iter().next().expect("one cached list");
    let bytes = budget::entry_bytes(&k, &v);
    let json = v.items_json.len() as u64;
    let strings: u64 = v
        .items
        .iter()
        .map(|i| {
            (i.item.len()
                + i.title.as_ref().map_or(0, String::len)
                + i.reason.as_ref().map_or(0, String::len)) as u64
        })
        .sum();
    // The JSON and the items it was serialised from are both held.
    assert!(bytes >= json + strings, "{bytes} < {json} + {strings}");
    assert!(
        bytes <= 6 * json + 4096,
        "{bytes} bytes for {json} bytes of JSON"
    );
    assert_eq!(
        s.state.cache_bytes(),
        u64::from(budget::entry_weight(&k, &v, 0))
    );
}

#[test]
fn a_swap_empties_the_old_models_entries() {
    let s = Server::start(Config::default(), None);
    for u in 0..50 {
        assert_eq!(
            s.get(&format!("/v1/users/u{u}/recommendations?k=20")).0,
            200
        );
    }
    assert_eq!(cache_entries(&s), 50);
    let gen_before = s.state.model_gen();
    s.state.reload(None).unwrap();
    assert_eq!(s.state.model_gen(), gen_before + 1);
    assert_eq!(cache_entries(&s), 0, "stale lists stay after the swap");
    assert_eq!(s.state.cache_bytes(), 0);
    let (_, v) = s.get("/v1/users/u1/recommendations?k=20");
    assert_eq!(v["cached"], false);
    let (_, v) = s.get("/v1/users/u1/recommendations?k=20");
    assert_eq!(v["cached"], true);
    assert_eq!(cache_entries(&s), 1);
}

#[test]
fn a_budget_below_the_model_refuses_to_start_and_a_larger_model_is_not_swapped_in() {
    let dir = tempfile::tempdir().unwrap();
    let big = big_model(dir.path(), 1500);
    let len = std::fs::metadata(&big).unwrap().len();
    assert!(len > 8 * MIB, "the model file has {len} bytes");
    let mut c = Config {
        data_dir: dir.path().join("store"),
        ..Config::default()
    };
    c.server.memory_budget_mb = 8;
    let e = App::open(c.clone(), &big).err().expect("refused");
    assert!(
        e.contains("the model needs about") && e.contains("memory_budget_mb = 8"),
        "{e}"
    );
    // Room for the model, not for the rest: the message lists every part and the keys to change.
    c.server.memory_budget_mb = 96;
    let e = App::open(c.clone(), &big).err().expect("refused");
    assert!(
        e.contains("too small") && e.contains("max_connections"),
        "{e}"
    );
    c.server.memory_budget_mb = 512;
    assert!(App::open(c, &big).is_ok());

    // A server planned around a small model refuses to swap in one that needs more than its slot.
    let mut c = Config::default();
    c.server.memory_budget_mb = 128;
    c.server.max_connections = 256;
    let s = Server::start(c, None);
    assert_eq!(s.state.memory.model, 16 * MIB, "an eighth of the budget");
    let before = s.state.serving().version.clone();
    let e = s.state.reload(Some(&big)).unwrap_err().to_string();
    assert!(e.contains("memory budget planned"), "{e}");
    assert_eq!(s.state.serving().version, before);
}

#[test]
fn a_cache_cap_above_the_budget_is_a_config_error() {
    let c: Config =
        toml::from_str("[server]\nmemory_budget_mb = 128\n[cache]\nmax_mb = 200").unwrap();
    let e = c.validate().unwrap_err();
    assert!(
        e.contains("max_mb = 200") && e.contains("memory_budget_mb = 128"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let model = model_file(dir.path(), "ease", &[]);
    let e = App::open(c, &model).err().expect("refused");
    assert!(e.contains("max_mb"), "{e}");
}

/// Reads until EOF or error; the bytes read and how long it took.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    s.set_read_timeout(Some(limit)).unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    (out, t.elapsed())
}

#[test]
fn slowloris_a_partial_header_is_disconnected_after_the_header_timeout() {
    let mut c = Config::default();
    c.server.header_read_timeout_ms = 600;
    let s = Server::start(c, None);
    let mut conns: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut t = TcpStream::connect(s.addr).unwrap();
            t.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            t
        })
        .collect();
    let started = Instant::now();
    for t in &mut conns {
        let (_, took) = read_until_closed(t, Duration::from_secs(10));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "held for {took:?}"
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(400));
    // A client that sends its request in time is served as before, with keep-alive.
    let (st, v) = s.get("/healthz");
    assert_eq!(st, 200, "{v}");
}

#[test]
fn past_the_connection_cap_a_connection_waits_until_one_closes() {
    let mut c = Config::default();
    c.server.max_connections = 2;
    let s = Server::start(c, None);
    let a = TcpStream::connect(s.addr).unwrap();
    let b = TcpStream::connect(s.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(s.addr).unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (got, _) = read_until_closed(&mut third, Duration::from_millis(800));
    assert!(
        got.is_empty(),
        "served past the cap: {}",
        String::from_utf8_lossy(&got)
    );
    drop(a);
    let (got, took) = read_until_closed(&mut third, Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "after one closed ({took:?}): {text}"
    );
    drop(b);
}
