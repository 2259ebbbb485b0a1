//! Defences against web pages that try to drive a server on the user's own machine. A page on any
//! site can make the browser send "simple" requests (GET, or POST with a `text/plain`, form or
//! multipart body) to `127.0.0.1` without asking the server first, open WebSockets to it, and — by
//! pointing a DNS name of its own at 127.0.0.1 (rebinding) — even read the answers. So:
//!
//! * when the server listens on loopback only, the `Host` header must name loopback
//!   (`localhost`, `127.0.0.1`, `[::1]`, any port): a rebinding page sends its own name;
//! * a WebSocket upgrade must come from no browser (no `Origin`), from this server's own page
//!   (the `Origin` names the `Host`), or from an origin given with `--allow-origin`;
//! * a POST must declare its documented body type (`application/json`, or a WAV type for voice
//!   uploads), which a page cannot send cross-origin without a preflight the server never answers.

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ErrorCode;
use crate::server::error_response::{error, Dialect};
use crate::server::AppState;

/// The path of the WebSocket protocol.
const STREAM_PATH: &str = "/v1/stream";
/// Body types accepted for a voice upload (`POST /v1/voices`).
const WAV_TYPES: [&str; 5] = ["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream"];

/// A refusal in the error shape of the route's clients.
fn refuse(path: &str, code: ErrorCode, message: String) -> Response {
    error(Dialect::of_path(path), code, &message)
}

/// The host part of a `Host` header or an origin's authority, without the port, lower-cased.
fn host_name(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(v6) = authority.strip_prefix('[') {
        return format!("[{}]", v6.split(']').next().unwrap_or_default());
    }
    authority.split(':').next().unwrap_or_default().to_string()
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "localhost" | "[::1]") || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The media type of a `Content-Type` value, without parameters, lower-cased.
fn media_type(value: &str) -> String {
    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let path = request.uri().path();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if state.loopback_only && !is_loopback_name(&host_name(&host)) {
        return refuse(
            path,
            ErrorCode::WrongHost,
            format!(
                "this server listens on loopback and answers only requests for localhost, not for host {host:?}; \
                 to serve other names, listen on another address with --api-key"
            ),
        );
    }
    if path == STREAM_PATH {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let same_origin =
                origin.split_once("://").is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(&host));
            let allowed = state.allowed_origins.iter().any(|a| a.eq_ignore_ascii_case(origin));
            if !same_origin && !allowed {
                return refuse(
                    path,
                    ErrorCode::Forbidden,
                    format!(
                        "WebSocket connections from pages of {origin} are not allowed (serve --allow-origin ORIGIN)"
                    ),
                );
            }
        }
    }
    if request.method() == Method::POST {
        let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(media_type).unwrap_or_default();
        let (ok, wanted) = if path == "/v1/voices" {
            (WAV_TYPES.contains(&given.as_str()), "audio/wav")
        } else {
            (given == "application/json", "application/json")
        };
        if !ok {
            return refuse(
                path,
                ErrorCode::UnsupportedMediaType,
                format!("send the body of POST {path} with Content-Type: {wanted} (got {given:?})"),
            );
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_and_media_types() {
        assert_eq!(host_name("LocalHost:9880"), "localhost");
        assert_eq!(host_name("[::1]:9880"), "[::1]");
        assert_eq!(host_name("127.0.0.2"), "127.0.0.2");
        assert!(["localhost", "[::1]", "127.0.0.1", "127.1.2.3"].iter().all(|h| is_loopback_name(h)));
        assert!(!["evil.example", "127.0.0.1.evil.example", "0.0.0.0", "[::2]"].iter().any(|h| is_loopback_name(h)));
        assert_eq!(media_type("Application/JSON; charset=utf-8"), "application/json");
    }
}
