//! The MPUSH manual's `/mvapireq/?apientry=…` API, for integrations written
//! against it. Each entry maps onto an `/api/v1` operation and answers in
//! the manual's text style: `OK: …`, or `ERROR: …` with an HTTP error code.
//!
//! | apientry | `/api/v1` form |
//! |---|---|
//! | `wsload` (no secret) | `GET /wsload`, `GET /api/v1/load` |
//! | `sendpush`, `senpush` (the manual's own spelling), `sendpushu` | `POST /api/v1/push` |
//! | `upperunreg` | `DELETE /api/v1/bindings/{user}` |
//! | `pushstat` | `GET /api/v1/stats` |
//!
//! Every entry but wsload needs a secret, given one of two ways: `authkey`
//! equal to one of the `[api] tokens`, or `authid` (an operator name, only
//! logged), `authsalt` and `authmd5` = hex MD5 of `authsalt` followed by a
//! token — the token itself never travels in that form.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use md5::{Digest, Md5};
use serde::Deserialize;

use super::auth::constant_time_eq;
use super::routes::{Unreg, public_wsload, upperunreg, validate_send_push};
use super::{ApiState, SendPush, SendPushError};

/// Every parameter the manual's entries take; anything else is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MvapiQuery {
    apientry: Option<String>,
    authkey: Option<String>,
    authid: Option<String>,
    authsalt: Option<String>,
    authmd5: Option<String>,
    /// sendpush: 0 call, 1 chat, 2 cancel, 3 custom (default), 4 refresh.
    #[serde(rename = "type")]
    kind: Option<String>,
    from_user: Option<String>,
    to_user: Option<String>,
    title: Option<String>,
    message: Option<String>,
    platform: Option<String>,
    package: Option<String>,
    to_token: Option<String>,
    /// upperunreg: the user (`to_user` is accepted too).
    user: Option<String>,
    /// The manual's examples add `now=<number>` to defeat HTTP caches; it
    /// carries nothing.
    #[serde(rename = "now")]
    _now: Option<serde::de::IgnoredAny>,
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn fail(status: StatusCode, why: impl std::fmt::Display) -> Response {
    text(status, format!("ERROR: {why}"))
}

pub(super) async fn mvapireq(
    State(state): State<ApiState>,
    query: Result<Query<MvapiQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let entry = q.apientry.clone().unwrap_or_default();
    if entry == "wsload" {
        return public_wsload(State(state)).await;
    }
    if !matches!(
        entry.as_str(),
        "sendpush" | "senpush" | "sendpushu" | "upperunreg" | "pushstat"
    ) {
        return fail(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown apientry {entry:?} (wsload, sendpush, senpush, sendpushu, upperunreg, pushstat)"
            ),
        );
    }
    if !authorized(&q, &state.tokens) {
        tracing::info!(apientry = %entry, authid = q.authid.as_deref().unwrap_or(""), "mvapireq refused: bad or missing authkey/authmd5");
        let why = if state.tokens.is_empty() {
            "the API is disabled: configure [api] tokens"
        } else {
            "authentication failed (authkey, or authid + authsalt + authmd5)"
        };
        return fail(StatusCode::UNAUTHORIZED, why);
    }
    match entry.as_str() {
        "pushstat" => Json(state.backend.stats()).into_response(),
        "upperunreg" => {
            let Some(user) = q.user.as_deref().or(q.to_user.as_deref()) else {
                return fail(StatusCode::BAD_REQUEST, "upperunreg needs user");
            };
            match upperunreg(&state, user).await {
                Ok((user, n)) => text(
                    StatusCode::OK,
                    format!("OK: removed {n} push binding(s) of {user}"),
                ),
                Err(Unreg::NoBinding(user)) => {
                    fail(StatusCode::NOT_FOUND, format!("{user} has no push binding"))
                }
                Err(Unreg::Failed(resp)) => resp,
            }
        }
        users_only => send(&state, q, users_only == "sendpushu").await,
    }
}

/// `authkey` = a token, or `authmd5` = md5(`authsalt` + token) with an
/// `authid`; compared in constant time against every token.
fn authorized(q: &MvapiQuery, tokens: &[String]) -> bool {
    if let Some(key) = &q.authkey {
        return tokens.iter().fold(false, |hit, t| {
            constant_time_eq(key.as_bytes(), t.as_bytes()) | hit
        });
    }
    let (Some(_id), Some(salt), Some(sum)) = (&q.authid, &q.authsalt, &q.authmd5) else {
        return false;
    };
    if salt.is_empty() {
        return false;
    }
    let sum = sum.to_ascii_lowercase();
    tokens.iter().fold(false, |hit, t| {
        let want = hex::encode(Md5::new().chain_update(salt).chain_update(t).finalize());
        constant_time_eq(sum.as_bytes(), want.as_bytes()) | hit
    })
}

/// sendpush / senpush / sendpushu (`users_only`: the target must be a
/// user with a push binding, no raw token).
async fn send(state: &ApiState, q: MvapiQuery, users_only: bool) -> Response {
    let kind = match q.kind.as_deref().map(str::trim) {
        None | Some("") => 3,
        Some(t) => match t.parse::<u8>() {
            Ok(k) => k,
            Err(_) => return fail(StatusCode::BAD_REQUEST, format!("type {t:?} is not 0..4")),
        },
    };
    if users_only && (q.to_user.is_none() || q.to_token.is_some()) {
        return fail(
            StatusCode::BAD_REQUEST,
            "sendpushu sends to to_user's push bindings: give to_user, not to_token",
        );
    }
    let req = SendPush {
        kind,
        from_user: q.from_user,
        // With a raw token, to_user only names the recipient in the push.
        to_user: q.to_user,
        title: q.title,
        message: q.message,
        platform: q.platform,
        package: q.package,
        to_token: q.to_token,
    };
    if let Err(why) = validate_send_push(&req) {
        return fail(StatusCode::BAD_REQUEST, why);
    }
    match state.backend.send_push(req).await {
        Ok(results) => {
            let count = |o: &str| results.iter().filter(|r| r.outcome == o).count();
            let (sent, removed, failed) = (count("delivered"), count("removed"), count("failed"));
            let summary = format!("{sent} delivered, {removed} removed, {failed} failed");
            if sent > 0 {
                text(StatusCode::OK, format!("OK: {summary}"))
            } else {
                fail(StatusCode::BAD_GATEWAY, summary)
            }
        }
        Err(e @ SendPushError::BadRequest(_)) => fail(StatusCode::BAD_REQUEST, e),
        Err(e @ SendPushError::NoBinding(_)) => fail(StatusCode::NOT_FOUND, e),
        Err(e @ SendPushError::Unavailable(_)) => fail(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
