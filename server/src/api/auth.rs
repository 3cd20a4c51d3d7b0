//! Bearer-token check for the API.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiState;

/// Compares without an early exit, so response time does not reveal how
/// much of a token matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request carries one of `tokens` as a bearer token.
pub(crate) fn bearer_ok(headers: &axum::http::HeaderMap, tokens: &[String]) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    presented.is_some_and(|p| {
        // Check every token so the time taken does not depend on which one matched.
        tokens.iter().fold(false, |hit, t| {
            constant_time_eq(p.as_bytes(), t.as_bytes()) | hit
        })
    })
}

pub(super) async fn require_bearer(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Response {
    let ok = bearer_ok(req.headers(), &state.tokens);
    if ok {
        next.run(req).await
    } else {
        let body = if state.tokens.is_empty() {
            "the API is disabled: configure [api] tokens"
        } else {
            "missing or wrong bearer token"
        };
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({ "error": body })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn compares_whole_strings() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
