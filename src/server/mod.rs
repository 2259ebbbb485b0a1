//! The network front-end: the WebSocket streaming protocol (docs/PROTOCOL.md), OpenAI- and
//! upstream-api_v2-compatible HTTP routes, voice management, health, metrics and the player page.
//! It knows sessions and audio formats, not model math: everything it speaks comes from
//! [`Engine::open`](crate::engine::Engine::open).

mod auth;
mod browser_guard;
pub mod client_message;
mod connections;
mod error_response;
mod http_speech;
mod http_voices;
mod shutdown;
pub mod speech_request;
mod stream_out;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use crate::engine::Engine;
pub use connections::{raise_descriptor_limit, ConnectionLimits};
use shutdown::Shutdown;

/// The player page served at `/` (also an OBS browser source).
const PLAYER_HTML: &str = include_str!("player.html");

/// Largest request body: a reference clip upload (10 s of 48 kHz stereo float WAV is 3.8 MB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Server settings besides the address.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Required on every route when set; [`check_bind`] demands one off loopback.
    pub api_key: Option<String>,
    /// Origins (`https://app.example`) whose pages may open WebSocket sessions, besides the
    /// server's own page.
    pub allowed_origins: Vec<String>,
    pub limits: ConnectionLimits,
    /// How long running requests and sessions may take to finish once the server is told to stop.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            api_key: None,
            allowed_origins: Vec::new(),
            limits: ConnectionLimits::default(),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Arc<Engine>,
    pub api_key: Option<Arc<str>>,
    pub shutdown: Arc<Shutdown>,
    /// The server listens on loopback only: requests must name a loopback host.
    pub loopback_only: bool,
    pub allowed_origins: Arc<[String]>,
}

/// Shortest API key accepted: a guessable key is no protection.
pub const MIN_API_KEY_CHARS: usize = 16;

/// Listening on anything but loopback exposes voice cloning to the network: require a key, and
/// any key given must not be guessable.
pub fn check_bind(listen: &SocketAddr, api_key: Option<&str>) -> Result<(), String> {
    if let Some(key) = api_key {
        if key.chars().filter(|c| !c.is_whitespace()).count() < MIN_API_KEY_CHARS || key.trim() != key {
            return Err(format!(
                "the API key must have at least {MIN_API_KEY_CHARS} characters and no leading or trailing spaces \
                 (e.g. `openssl rand -hex 16`)"
            ));
        }
    }
    if !listen.ip().is_loopback() && api_key.is_none() {
        return Err(format!(
            "listening on {listen} (not loopback) needs an API key: pass --api-key or set SOVITS_RT_API_KEY"
        ));
    }
    Ok(())
}

/// Every route.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PLAYER_HTML) }))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/stream", get(ws::upgrade))
        .route("/v1/audio/speech", axum::routing::post(http_speech::openai_speech))
        .route("/tts", get(http_speech::tts_get).post(http_speech::tts_post))
        .route("/v1/voices", get(http_voices::list).post(http_voices::add))
        .route("/v1/voices/{name}", delete(http_voices::remove))
        .layer(axum::middleware::from_fn(drain_oversized_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_key))
        .layer(axum::middleware::from_fn_with_state(state.clone(), browser_guard::guard))
        .layer(axum::middleware::map_response(json_body_limit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves until the listener fails or the process is stopped (Ctrl-C or SIGTERM end it gracefully).
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, options: ServerOptions) -> std::io::Result<()> {
    serve_until(listener, engine, options, stop_signal()).await
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `docker stop` and systemd send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Serves until the listener fails or `stop` resolves. Then no new connection is taken, HTTP
/// requests in flight may finish, and every WebSocket session gets a `shutting_down` error and a
/// close frame (1001) before the server returns — waiting at most `options.shutdown_grace`.
pub async fn serve_until(
    listener: TcpListener,
    engine: Arc<Engine>,
    options: ServerOptions,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = Arc::new(Shutdown::new());
    let loopback_only = listener.local_addr()?.ip().is_loopback();
    let state = AppState {
        engine,
        api_key: options.api_key.filter(|k| !k.is_empty()).map(Arc::from),
        shutdown: shutdown.clone(),
        loopback_only,
        allowed_origins: options.allowed_origins.into(),
    };
    let app = router(state);
    let signal = shutdown.clone();
    tokio::spawn(async move {
        stop.await;
        signal.stop();
    });
    let grace = options.shutdown_grace;
    let served = connections::serve_with_limits(listener, app, options.limits, shutdown.subscribe(), grace).await;
    if shutdown.is_stopping() {
        let left = shutdown.drain(grace).await;
        if left > 0 {
            tracing::warn!(left, ?grace, "WebSocket sessions did not close within the shutdown grace");
        }
    }
    served
}

/// The framework answers an oversized body with a plain-text 413: say it in JSON, with the limit.
async fn json_body_limit(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != axum::http::StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return response;
    }
    too_large()
}

fn too_large() -> Response {
    let message = format!("the request body is larger than the limit of {} MiB", MAX_BODY_BYTES >> 20);
    error_response::error(error_response::Dialect::OpenAi, crate::error::ErrorCode::TooLarge, &message)
}

/// Most of an oversized body read (and dropped) before the 413 goes out.
const MAX_DRAINED_BYTES: u64 = 4 * MAX_BODY_BYTES as u64;
/// How long reading an oversized body may take.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers a body declared larger than the limit with a JSON 413 only once the client has sent it
/// (up to [`MAX_DRAINED_BYTES`], within [`DRAIN_TIMEOUT`]): answering while it is still writing
/// and closing the connection makes many clients (reqwest, Python's requests) fail with a broken
/// pipe instead of reading the 413.
async fn drain_oversized_body(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = declared.filter(|&n| n > MAX_BODY_BYTES as u64) else { return next.run(request).await };
    if length <= MAX_DRAINED_BYTES {
        let mut body = request.into_body().into_data_stream();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
            use futures_util::StreamExt;
            let mut read = 0u64;
            while let Some(Ok(chunk)) = body.next().await {
                read += chunk.len() as u64;
                if read > MAX_DRAINED_BYTES {
                    break;
                }
            }
        })
        .await;
    }
    too_large()
}

async fn healthz(axum::extract::State(s): axum::extract::State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "active_sessions": s.engine.metrics().active()}))
}

async fn metrics(axum::extract::State(s): axum::extract::State<AppState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], s.engine.metrics().render()).into_response()
}
