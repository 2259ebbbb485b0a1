//! The network front-end: the WebSocket streaming protocol (docs/PROTOCOL.md), OpenAI- and
//! upstream-api_v2-compatible HTTP routes, voice management, health, metrics and the player page.
//! It knows sessions and audio formats, not model math: everything it speaks comes from
//! [`Engine::open`](crate::engine::Engine::open).

mod auth;
mod http_speech;
mod http_voices;
mod shutdown;
mod stream_out;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use crate::engine::Engine;
use shutdown::{Shutdown, DRAIN_TIMEOUT};

/// The player page served at `/` (also an OBS browser source).
const PLAYER_HTML: &str = include_str!("player.html");

/// Largest request body: a reference clip upload (10 s of 48 kHz stereo float WAV is 3.8 MB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Required on every route when set; [`check_bind`] demands one off loopback.
    pub api_key: Option<String>,
}

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Arc<Engine>,
    pub api_key: Option<Arc<str>>,
    pub shutdown: Arc<Shutdown>,
}

/// Listening on anything but loopback exposes voice cloning to the network: require a key.
pub fn check_bind(listen: &SocketAddr, api_key: Option<&str>) -> Result<(), String> {
    if !listen.ip().is_loopback() && api_key.is_none_or(str::is_empty) {
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
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_key))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves until the listener fails or the process is stopped (Ctrl-C ends it gracefully).
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, api_key: Option<String>) -> std::io::Result<()> {
    serve_until(listener, engine, api_key, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Serves until the listener fails or `stop` resolves. Then no new connection is taken, HTTP
/// requests in flight finish, and every WebSocket session gets a `shutting_down` error and a close
/// frame (1001) before the server returns — waiting at most [`DRAIN_TIMEOUT`] for them.
pub async fn serve_until(
    listener: TcpListener,
    engine: Arc<Engine>,
    api_key: Option<String>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = Arc::new(Shutdown::new());
    let state =
        AppState { engine, api_key: api_key.filter(|k| !k.is_empty()).map(Arc::from), shutdown: shutdown.clone() };
    let app = router(state);
    // Audio frames are small and latency-bound: without TCP_NODELAY, Nagle's algorithm holds a
    // frame until the client's delayed ACK (~40 ms).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let signal = shutdown.clone();
    let stop = async move {
        stop.await;
        // HTTP requests in flight drain after this returns; the WebSocket sessions are told now.
        signal.stop();
    };
    let served = axum::serve(listener, app).with_graceful_shutdown(stop).await;
    if shutdown.is_stopping() {
        let left = shutdown.drain(DRAIN_TIMEOUT).await;
        if left > 0 {
            eprintln!("warning: {left} WebSocket sessions did not close within {DRAIN_TIMEOUT:?}");
        }
    }
    served
}

/// The HTTP status of an engine error code.
pub(crate) fn http_status(code: &str) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    match code {
        "busy" | "device_error" => StatusCode::SERVICE_UNAVAILABLE,
        "unknown_voice" => StatusCode::NOT_FOUND,
        "internal" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

async fn healthz(axum::extract::State(s): axum::extract::State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "active_sessions": s.engine.metrics().active()}))
}

async fn metrics(axum::extract::State(s): axum::extract::State<AppState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4")], s.engine.metrics().render()).into_response()
}
