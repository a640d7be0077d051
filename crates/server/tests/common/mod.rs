//! A small two-block dataset, model files trained on it, and a server on a free port.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tastebud_core::{Dataset, FeatureTable, Feedback, Interactions};
use tastebud_models::NoProgress;
use tastebud_models::file::ModelFile;
use tastebud_models::registry::{ModelSpec, fit};
use tastebud_server::{App, AppState, Config};

/// 60 users, 40 items: users u0..u29 use items i0..i19 (genre Comedy), users u30..u59 use i20..i39
/// (Drama). Within a block, low item numbers are more popular.
pub fn dataset() -> Dataset {
    let mut t = Vec::new();
    for u in 0..60u32 {
        let base = if u < 30 { 0 } else { 20 };
        let mut items: Vec<u32> = (0..8).map(|j| base + (u * 7 + j * 3) % 20).collect();
        items.extend([base, base + 1, base + 2].iter().take(1 + (u % 3) as usize));
        items.sort_unstable();
        items.dedup();
        for i in items {
            t.push((u, i, 1.0));
        }
    }
    let x = Interactions::from_triplets(60, 40, &t, Feedback::Implicit).unwrap();
    let mut d = Dataset::from_parts(
        "two-blocks",
        x,
        (0..60).map(|u| format!("u{u}")),
        (0..40).map(|i| format!("i{i}")),
    )
    .unwrap();
    let mut f = FeatureTable::new(40);
    let mut g = f.categorical_builder();
    for i in 0..40 {
        g.push(i, if i < 20 { "Comedy" } else { "Drama" }, 1.0);
    }
    f.add("genres", g.finish()).unwrap();
    f.add_text(
        "title",
        (0..40).map(|i| Some(format!("Film {i}"))).collect(),
    )
    .unwrap();
    // Release years 1980 (i0) to 2019 (i39): the comedies are from 1980-1999, the dramas 2000-2019.
    f.add_numeric("year", (0..40).map(|i| Some(1980.0 + i as f32)).collect())
        .unwrap();
    d.item_features = Some(f);
    d
}

/// Trains `model` (with `key=value` params) on [`dataset`] and saves it in `dir`.
pub fn model_file(dir: &Path, model: &str, params: &[&str]) -> PathBuf {
    let data = dataset();
    let mut spec = ModelSpec::new(model).unwrap();
    for p in params {
        spec = spec.param(p).unwrap();
    }
    let (m, p) = fit(&spec, &data, &NoProgress).unwrap();
    let path = dir.join(format!("{model}-{}.tbm", params.join("_")));
    ModelFile::new(m, p, &data, true).save(&path).unwrap();
    path
}

/// The service key [`Server::start`] configures.
pub const SERVICE_KEY: &str = "svc-k3y";

/// A running server on 127.0.0.1 and a blocking HTTP client.
pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    agent: ureq::Agent,
}

impl Server {
    /// Starts a server on `model` (a file in a fresh temp dir is created when `None`: EASE).
    pub fn start(mut config: Config, model: Option<PathBuf>) -> Server {
        // The user-data routes need a key: the helpers below send this one to them.
        if config.auth.service_key.is_none() {
            config.auth.service_key = Some(SERVICE_KEY.into());
        }
        Self::start_bare(config, model)
    }

    /// [`Server::start`] without the service key it adds.
    pub fn start_bare(mut config: Config, model: Option<PathBuf>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let model = model.unwrap_or_else(|| model_file(dir.path(), "ease", &[]));
        // An absolute data_dir is kept (a restart on the same store); otherwise a fresh one.
        if !config.data_dir.is_absolute() {
            config.data_dir = dir.path().join("store");
        }
        config.bind = "127.0.0.1:0".into();
        let app = App::open(config, &model).unwrap();
        let state = app.state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(l.local_addr().unwrap()).unwrap();
                app.serve_on(l, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Server {
            addr,
            state,
            dir,
            stop: Some(tx),
            thread: Some(thread),
            agent,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    fn finish(mut r: ureq::http::Response<ureq::Body>) -> (u16, Value) {
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("status {status}, content-type {ct}: body is not JSON ({e}): {text}")
        });
        (status, v)
    }

    /// The service key for the user-data routes (`/v1/users/{id}` and `/v1/users/{id}/events`).
    fn user_data_key(&self, path: &str) -> Option<String> {
        let user_data = path.starts_with("/v1/users/") && !path.contains("/recommendations");
        user_data
            .then(|| self.state.config.auth.service_key.clone())
            .flatten()
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self.agent.get(&self.url(path));
        if let Some(k) = self.user_data_key(path) {
            r = r.header("x-api-key", k);
        }
        Self::finish(r.call().unwrap())
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let mut r = self.agent.delete(&self.url(path));
        if let Some(k) = self.user_data_key(path) {
            r = r.header("x-api-key", k);
        }
        Self::finish(r.call().unwrap())
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        Self::finish(
            self.agent
                .post(&self.url(path))
                .header("content-type", "application/json")
                .send(body)
                .unwrap(),
        )
    }

    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post(path, &body.to_string())
    }

    /// A request with an admin key header (or none).
    pub fn admin(&self, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, Value) {
        let url = self.url(path);
        let r = match method {
            "PUT" => {
                let mut b = self
                    .agent
                    .put(&url)
                    .header("content-type", "application/json");
                if let Some(k) = key {
                    b = b.header("x-api-key", k);
                }
                b.send(body)
            }
            "POST" => {
                let mut b = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json");
                if let Some(k) = key {
                    b = b.header("x-api-key", k);
                }
                b.send(body)
            }
            _ => {
                let mut b = self.agent.get(&url);
                if let Some(k) = key {
                    b = b.header("x-api-key", k);
                }
                b.call()
            }
        };
        Self::finish(r.unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The item ids of a recommendation response.
pub fn items(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect()
}

/// A click event body.
pub fn event(user: &str, item: &str, kind: &str) -> Value {
    serde_json::json!({"user": user, "item": item, "type": kind, "timestamp": tastebud_server::now_unix()})
}

/// Prometheus sample values by full series name (`name{labels}`).
pub fn metric_samples(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}
