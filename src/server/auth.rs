//! API-key check on every route: `Authorization: Bearer KEY`, `X-API-Key: KEY`, or `?api_key=KEY`
//! (browsers cannot set headers on a WebSocket).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ErrorCode;
use crate::server::error_response::{error, Dialect};
use crate::server::AppState;

pub(crate) async fn require_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(key) = &state.api_key else { return next.run(request).await };
    let headers = request.headers();
    // RFC 7235: the scheme name is case-insensitive.
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let header = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let query = request.uri().query().and_then(|q| url_pairs(q).find(|(k, _)| k == "api_key").map(|(_, v)| v));
    let given = bearer.map(str::to_string).or(header.map(str::to_string)).or(query);
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes())) {
        return next.run(request).await;
    }
    state.engine.metrics().error(ErrorCode::Unauthorized);
    let message = "missing or wrong API key (Authorization: Bearer KEY, X-API-Key: KEY or ?api_key=KEY)";
    error(Dialect::of_path(request.uri().path()), ErrorCode::Unauthorized, message)
}

/// `k=v` pairs of a query string, percent-decoded.
pub(crate) fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// Compares without an early exit, so response time does not reveal how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        let pairs: Vec<_> = url_pairs("a=1&api_key=x%20y").collect();
        assert_eq!(pairs[1], ("api_key".to_string(), "x y".to_string()));
    }
}
