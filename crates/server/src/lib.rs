//! The Tastebud server: a REST API over one model file and the embedded store.
//!
//! - `GET /v1/users/{id}/recommendations`, `POST /v1/recommendations`, `GET /v1/items/{id}/similar`
//! - `POST /v1/events` (acknowledged once durable), `GET /v1/users/{id}/events`, `DELETE /v1/users/{id}`
//! - `/healthz`, `/readyz`, `/openapi.json`, `GET /v1/model`, admin under `/v1/admin/` (API key)
//! - `GET /dashboard` (a wall-screen page) over `GET /v1/dashboard/summary`, `GET /v1/items/{id}`
//!
//! Modes ([`Mode`]): real time (every request folds the user's history into the model), batch
//! (precomputed lists from `tastebud batch`) and hybrid (precomputed for users idle since the batch, real
//! time for the others). Bad input is always a 4xx with a JSON body naming the problem ([`error`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), String> {
//! let config = tastebud_server::Config::default();
//! let app = tastebud_server::App::open(config, std::path::Path::new("model.tbm"))?;
//! app.serve(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod budget;
mod cache_key;
pub mod config;
pub mod dashboard;
pub mod dto;
pub mod error;
pub mod experiment_html;
pub mod experiments;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod routes;
mod shared_cache;
pub mod state;

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use config::{Config, Mode};
pub use error::ApiError;
pub use state::AppState;
pub use tastebud_serve::{Serving, batch, now_unix, shadow};

use routes::{admin, events, recommend, system, users};

/// The OpenAPI document's frame: title, the schemas no route names. The paths come from [`api_routes`];
/// [`openapi::complete`] adds the security schemes, hand-written bodies and the common statuses.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tastebud",
        description = "Recommendations, events and administration."
    ),
    components(schemas(
        error::ErrorBody,
        dto::RecommendationResponse,
        dto::AdHocRequest,
        dto::HistoryItem,
        dto::SimilarResponse,
        dto::ItemInfo,
        dto::EventsResponse,
        dto::UserEventsResponse,
        dto::DeleteResponse,
        dto::Health,
        dto::Ready,
        dto::ModelInfo,
        dto::ReloadRequest,
        dto::ReloadResponse,
        dto::FlagsRequest,
        dto::FlagsResponse,
        dashboard::DashboardSummary,
        dashboard::Kpis,
        dashboard::RegistryRow,
        metrics::SeriesPoint,
        metrics::SecondPoint,
        dto::ExperimentReportDoc,
        dto::NoDataDoc
    ))
)]
pub struct ApiDoc;

/// Every documented route, in one list: the router and the OpenAPI document are both made from it.
pub fn api_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(recommend::user_recommendations))
        .routes(routes!(recommend::adhoc_recommendations))
        .routes(routes!(recommend::similar_items))
        .routes(routes!(recommend::item_info))
        .routes(routes!(recommend::shadow_report))
        .routes(routes!(events::post_events))
        .routes(routes!(events::user_events))
        .routes(routes!(events::delete_user, users::user_info))
        .routes(routes!(users::set_consent))
        .routes(routes!(system::model_info))
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::metrics))
        .routes(routes!(admin::admin_reload))
        .routes(routes!(admin::admin_config))
        .routes(routes!(admin::admin_item_flags))
        .routes(routes!(admin::admin_ope))
        .routes(routes!(ops::admin_retrain))
        .routes(routes!(experiments::list, experiments::create))
        .routes(routes!(experiments::stop))
        .routes(routes!(experiments::report))
        .routes(routes!(dashboard::page))
        .routes(routes!(dashboard::summary))
}

/// The OpenAPI document as pretty JSON (what `/openapi.json` serves and `openapi.json` holds).
pub fn openapi_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc = api_routes().into_openapi();
        serde_json::to_value(&doc)
            .map(|mut v| {
                openapi::complete(&mut v);
                v
            })
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
    .clone()
}

/// The router over a state, with limits (body size, timeout) and JSON errors for unknown routes.
pub fn router(state: Arc<AppState>) -> Router {
    let limits = &state.config.limits;
    let timeout = Duration::from_millis(limits.request_timeout_ms);
    let (api, _) = api_routes().split_for_parts();
    api.route("/openapi.json", get(system::openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(tokio::sync::Semaphore::new(state.memory.max_in_flight)),
            admit,
        ))
        // Outside `admit`: a request's recorded latency includes its wait for a turn.
        .layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|e: tower::BoxError| async move {
                    if e.is::<tower::timeout::error::Elapsed>() {
                        ApiError::unavailable("request timed out").into_response()
                    } else {
                        ApiError::internal(e.to_string()).into_response()
                    }
                }))
                .timeout(timeout),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("the server failed on this request").into_response()
            },
        ))
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(state)
}

/// Routes that never wait for a turn: the health probes and the Prometheus scrape are cheap, and an
/// orchestrator must not restart a server for being busy.
const UNQUEUED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Lets at most `[server] max_in_flight` requests be handled at once (what the memory budget reserves
/// for them); the others wait inside the request timeout, before their body is read.
async fn admit(
    axum::extract::State(turns): axum::extract::State<Arc<tokio::sync::Semaphore>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if UNQUEUED.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let Ok(_turn) = turns.acquire().await else {
        return ApiError::unavailable("the server is shutting down").into_response();
    };
    next.run(req).await
}

/// The longest request target (path and query) answered; longer ones get 414 with a JSON error. (Hyper
/// itself answers 414 with an empty body only past 64 KiB, before any middleware sees the request.)
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The outermost layer: refuses over-long URIs (414), and gives every error status that a layer or the
/// framework answered with an empty body (a 405 of the router, a 408, ...) the JSON error body, keeping
/// its status and headers.
async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the URI is {target} bytes; at most {MAX_URI_BYTES} are accepted"),
        )
        .into_response();
    }
    let resp = next.run(req).await;
    let status = resp.status();
    let empty = axum::body::HttpBody::size_hint(resp.body()).exact() == Some(0);
    if !(status.is_client_error() || status.is_server_error()) || !empty {
        return resp;
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    };
    let (mut parts, _) = resp.into_parts();
    let json = ApiError::new(
        status,
        code,
        status.canonical_reason().unwrap_or("request failed"),
    )
    .into_response();
    let (json_parts, body) = json.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    for (name, value) in &json_parts.headers {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, body)
}

/// The experiment arm that served a response (set by handlers; `none` outside experiments).
#[derive(Clone, Debug)]
pub struct Arm(pub String);

/// Records every request's route template, status and latency.
async fn track(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let t = std::time::Instant::now();
    let resp = next.run(req).await;
    let secs = t.elapsed().as_secs_f64();
    let arm = resp
        .extensions()
        .get::<Arm>()
        .map_or("none", |a| a.0.as_str())
        .to_string();
    let model = state.serving().file.header.model.clone();
    state
        .metrics
        .http(&route, &method, resp.status().as_u16(), &model, &arm, secs);
    resp
}

async fn not_found(uri: Uri) -> Response {
    ApiError::not_found(format!("no route {}", uri.path())).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
    .into_response()
}

/// Opens the store the configuration names: PostgreSQL (`[store] url`, with Redis for lists and the
/// shared cache when `[cache] redis_url` is set), or the embedded redb file in `data_dir`.
pub fn open_storage(config: &Config) -> Result<tastebud_store::Storage, String> {
    if let Some(url) = config.store_url() {
        let mut pg = tastebud_store::pg::PgConfig::new(&url);
        pg.pool_size = config.store.pool_size;
        pg.timeout = Duration::from_millis(config.store.timeout_ms);
        pg.vacuum_on_erase = config.store.vacuum_on_erase;
        let pg = tastebud_store::pg::PgStore::open(pg).map_err(|e| e.to_string())?;
        let redis = match config.redis_url() {
            Some(url) => {
                let mut r = tastebud_store::redis::RedisConfig::new(&url);
                r.prefix = config.cache.redis_prefix.clone();
                r.timeout = Duration::from_millis(config.cache.redis_timeout_ms);
                r.cache_ttl = Duration::from_secs(config.cache.ttl_secs.max(1));
                r.list_ttl = Duration::from_secs(config.cache.list_ttl_secs.max(1));
                Some(tastebud_store::redis::RedisStore::open(r).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        return Ok(tastebud_store::Storage::shared(
            tastebud_store::shared::SharedStore::new(pg, redis),
        ));
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", config.data_dir.display()))?;
    let store = tastebud_store::Store::open_with_cache(
        &config.data_dir.join("events.redb"),
        budget::store_cache_bytes(config) as usize,
    )
    .map_err(|e| e.to_string())?;
    let documents = Arc::new(tastebud_store::DirDocuments::new(&config.data_dir));
    Ok(tastebud_store::Storage::embedded(store, documents))
}

/// A configured server: state, ready to listen.
pub struct App {
    /// The shared state.
    pub state: Arc<AppState>,
}

impl App {
    /// Loads the model and opens the store in `config.data_dir`.
    pub fn open(config: Config, model: &Path) -> Result<App, String> {
        config.validate()?;
        let serving = Serving::load(model, &config.ann).map_err(|e| e.to_string())?;
        let storage = open_storage(&config)?;
        let state = AppState::new(config, serving, storage)?;
        Ok(App {
            state: Arc::new(state),
        })
    }

    /// Serves on `config.bind` until `shutdown` completes, then finishes in-flight requests. Every
    /// acknowledged event is already durable; the store is closed last.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind(&self.state.config.bind)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", self.state.config.bind))?;
        self.serve_on(listener, shutdown).await
    }

    /// Serves on an already bound listener (tests bind port 0).
    pub async fn serve_on(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        if self.state.config.admin.watch_model {
            tokio::spawn(watch_model(self.state.clone()));
        }
        if let Some(shared) = &self.state.storage.shared {
            let wake = self.state.sync_wake.clone();
            shared.pg.listen(move |_| wake.notify_one());
            tokio::spawn(sync_loop(self.state.clone()));
        }
        if self.state.config.retrain.enabled {
            tokio::spawn(ops::retrain_loop(self.state.clone()));
        }
        accept_loop(
            listener,
            router(self.state.clone()),
            &self.state.config,
            shutdown,
        )
        .await;
        Ok(())
    }
}

/// Accepts connections until `shutdown` completes, then lets open connections finish their requests.
///
/// HTTP/1.1 with keep-alive, as `axum::serve` did, plus what it lacks: a connection must send each
/// request's head within `[server] header_read_timeout_ms` (which also closes idle keep-alive
/// connections), its head may not exceed `max_header_bytes`, and at most `max_connections` are open; past
/// that the loop stops accepting, so new connections wait in the kernel's listen backlog until one closes.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = &config.server;
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn =
            graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away, or a head that does not arrive in time, ends the connection; either
            // is the client's business, not an error of the server.
            if let Err(e) = conn.await {
                tracing::debug!("connection closed: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A failed `accept`: a connection reset before it was accepted is skipped; anything else (out of file
/// descriptors) is logged and waited out for a second, as hyper 0.14 and axum do.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Reloads the model when its file's modification time changes (a new file renamed into place).
///
/// A file that fails to load (checksum, validation; counted in `tastebud_model_load_failures_total`) is
/// logged once and not swapped in: the model in use keeps serving, and the same file (same modification
/// time) is not retried until it changes again.
async fn watch_model(state: Arc<AppState>) {
    let every = Duration::from_millis(state.config.admin.watch_interval_ms.max(10));
    let mut refused: Option<std::time::SystemTime> = None;
    loop {
        tokio::time::sleep(every).await;
        reload_if_changed(&state, &mut refused).await;
    }
}

/// Reloads the model when its file's modification time changed since it was loaded (and it is not the
/// file refused last time).
async fn reload_if_changed(state: &Arc<AppState>, refused: &mut Option<std::time::SystemTime>) {
    let s = state.serving();
    let mtime = std::fs::metadata(&s.path).and_then(|m| m.modified()).ok();
    if mtime.is_none() || mtime == s.mtime || mtime == *refused {
        return;
    }
    let _guard = state.reload_lock.lock().await;
    let st = state.clone();
    match tokio::task::spawn_blocking(move || st.reload(None)).await {
        Ok(Ok((old, new))) => {
            *refused = None;
            tracing::info!("model file changed: {old} -> {new}");
        }
        Ok(Err(e)) => {
            *refused = mtime;
            tracing::warn!(
                "model file changed but was refused; the previous model keeps serving: {e}"
            );
        }
        Err(e) => tracing::warn!("reload task failed: {e}"),
    }
}

/// A replica of a shared store: every second, and at once on a notice from another replica (`NOTIFY
/// tastebud`: flags, documents, erasures, a batch), applies what changed ([`AppState::sync_all`]) and
/// reloads the model when its file changed (a promotion by `tastebud retrain` on the shared volume
/// writes the registry's index, whose notice wakes this loop).
async fn sync_loop(state: Arc<AppState>) {
    let mut refused: Option<std::time::SystemTime> = None;
    loop {
        tokio::select! {
            () = state.sync_wake.notified() => {},
            () = tokio::time::sleep(Duration::from_secs(1)) => {},
        }
        let st = state.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || st.sync_all()).await {
            tracing::warn!("sync with the shared store failed: {e}");
        }
        reload_if_changed(&state, &mut refused).await;
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
