//! The API handlers.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router, middleware};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sipwake_sip::Aor;

use super::{ApiState, SendPush, SendPushError, auth};

/// The OpenAPI 3 document of every route below.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

pub(super) fn router(state: ApiState) -> Router {
    // No token: the manual's client-side gateway selection asks every
    // gateway, from the apps, which must not carry an admin secret.
    let public = Router::new()
        .route("/wsload", get(public_wsload))
        .route("/mvapireq/", get(super::mvapi::mvapireq))
        .with_state(state.clone());
    Router::new()
        .route("/api/v1/push", post(send_push))
        .route("/api/v1/bindings", get(list_bindings))
        .route("/api/v1/bindings/{user}", delete(remove_user))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/load", get(load))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/reload", post(reload))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ))
        .with_state(state)
        .merge(public)
}

/// Users are keyed by canonical AOR (`sip:user@host`); the API also takes
/// the bare `user@host` operators usually type. A name that is no AOR is
/// looked up as given (and finds nothing).
pub fn aor_key(user: &str) -> String {
    Aor::parse(user).map_or_else(|| user.to_owned(), |a| a.to_string())
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": msg.to_string() }))).into_response()
}

fn store_error(e: sipwake_store::StoreError) -> Response {
    tracing::error!(error = %e, "binding store failed during an API call");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "binding store error (see the gateway log)",
    )
}

async fn send_push(
    State(state): State<ApiState>,
    body: Result<Json<SendPush>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if let Err(why) = validate_send_push(&req) {
        return error(StatusCode::BAD_REQUEST, why);
    }
    match state.backend.send_push(req).await {
        Ok(results) => Json(json!({ "results": results })).into_response(),
        Err(e @ SendPushError::BadRequest(_)) => error(StatusCode::BAD_REQUEST, e),
        Err(e @ SendPushError::NoBinding(_)) => error(StatusCode::NOT_FOUND, e),
        Err(e @ SendPushError::Unavailable(_)) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

/// The sendpush rules both API forms apply before anything is sent.
pub(super) fn validate_send_push(req: &SendPush) -> Result<(), &'static str> {
    if req.kind > 4 {
        return Err(
            "type must be 0 (call), 1 (chat), 2 (cancel), 3 (custom) or 4 (register refresh)",
        );
    }
    let raw_target = req.platform.is_some() || req.package.is_some() || req.to_token.is_some();
    if raw_target && (req.platform.is_none() || req.package.is_none() || req.to_token.is_none()) {
        return Err("platform, package and to_token must be given together");
    }
    if !raw_target && req.to_user.is_none() {
        return Err("either to_user or platform/package/to_token is required");
    }
    Ok(())
}

#[derive(Deserialize)]
struct BindingsQuery {
    user: Option<String>,
}

/// One device as the API shows it: never the X-PIID, only whether one is kept.
#[derive(Serialize)]
struct DeviceView {
    device: String,
    provider: char,
    env: char,
    package: String,
    token: String,
    source: sipwake_store::BindingSource,
    contact: String,
    has_piid: bool,
    upstream: sipwake_store::Upstream,
    user_agent: Option<String>,
    created_at: i64,
    last_seen: i64,
    push_failures: u32,
}

async fn list_bindings(State(state): State<ApiState>, Query(q): Query<BindingsQuery>) -> Response {
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || match q.user {
        Some(user) => store.user(&aor_key(&user)).map(|bindings| {
            let devices: Vec<DeviceView> = bindings
                .into_iter()
                .map(|b| DeviceView {
                    device: b.device,
                    provider: b.push.provider.letter(),
                    env: b.push.env.letter(),
                    package: b.push.package,
                    token: b.push.token,
                    source: b.source,
                    contact: b.contact,
                    has_piid: b.piid.is_some(),
                    upstream: b.upstream,
                    user_agent: b.user_agent,
                    created_at: b.created_at,
                    last_seen: b.last_seen,
                    push_failures: b.push_failures,
                })
                .collect();
            json!({ "user": user, "devices": devices })
        }),
        None => store.users().map(|users| json!({ "users": users })),
    })
    .await;
    match result {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn remove_user(State(state): State<ApiState>, Path(user): Path<String>) -> Response {
    match upperunreg(&state, &user).await {
        Ok((user, count)) => Json(json!({ "user": user, "removed": count })).into_response(),
        Err(Unreg::NoBinding(user)) => error(
            StatusCode::NOT_FOUND,
            format!("user {user} has no push binding"),
        ),
        Err(Unreg::Failed(resp)) => resp,
    }
}

/// Why an upperunreg removed nothing.
pub(super) enum Unreg {
    /// The user (canonical AOR) has no push binding.
    NoBinding(String),
    /// The store failed; the answer to send.
    Failed(Response),
}

/// The manual's upperunreg: removes every push binding of `user` and lets
/// the gateway unregister it upstream. The canonical AOR and the count.
pub(super) async fn upperunreg(state: &ApiState, user: &str) -> Result<(String, usize), Unreg> {
    let store = state.store.clone();
    let aor = aor_key(user);
    let user = aor.clone();
    let removed = match tokio::task::spawn_blocking(move || store.remove_user(&aor)).await {
        Ok(Ok(removed)) => removed,
        Ok(Err(e)) => return Err(Unreg::Failed(store_error(e))),
        Err(e) => {
            return Err(Unreg::Failed(error(StatusCode::INTERNAL_SERVER_ERROR, e)));
        }
    };
    if removed.is_empty() {
        return Err(Unreg::NoBinding(user));
    }
    let count = removed.len();
    tracing::info!(user = %user, devices = count, "push bindings removed by API (upperunreg)");
    state.backend.user_removed(&user, removed).await;
    Ok((user, count))
}

async fn stats(State(state): State<ApiState>) -> Response {
    Json(state.backend.stats()).into_response()
}

/// The manual's wsload text contract: `OK: WS Load: X type <word>` with X
/// in 0..=4, or `ERROR: <reason>` when the gateway is malfunctioning.
async fn load(State(state): State<ApiState>) -> Response {
    let (status, text) = match state.backend.load() {
        Ok(x) => {
            let x = x.min(4);
            let word = ["low", "normal", "high", "very high", "extreme"][x as usize];
            (StatusCode::OK, format!("OK: WS Load: {x} type {word}"))
        }
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("ERROR: {reason}")),
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// `GET /wsload`: [`load`] for everyone, bounded per second.
pub(super) async fn public_wsload(State(state): State<ApiState>) -> Response {
    if !state.wsload_limit.allow() {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ERROR: too many wsload requests; retry in a second",
        )
            .into_response();
    }
    load(State(state)).await
}

async fn cluster(State(state): State<ApiState>) -> Response {
    match state.backend.cluster().await {
        None => error(
            StatusCode::NOT_FOUND,
            "this gateway is not in a cluster ([cluster] enabled = false)",
        ),
        Some(Ok(v)) => Json(v).into_response(),
        Some(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn reload(State(state): State<ApiState>) -> Response {
    match state.backend.reload() {
        Ok(()) => {
            tracing::info!("push templates, keys and certificates reloaded by API");
            Json(json!({ "reloaded": true })).into_response()
        }
        Err(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload failed, previous configuration kept: {e}"),
        ),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}
