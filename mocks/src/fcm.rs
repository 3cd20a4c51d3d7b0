//! FCM HTTP v1 mock: `POST /v1/projects/{id}/messages:send` plus the OAuth2
//! token endpoint (`POST /token`) that the service-account JSON handed out by
//! [`FcmMock::service_account_json`] names as its `token_uri`.
//!
//! Plain TCP, serving HTTP/1.1 and HTTP/2 prior knowledge (h2c) on the same
//! port: the token client (gcp_auth) speaks HTTP/1.1, the push client h2c.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::MockError;
use crate::server::{ConnInfo, Server, header, json, now_secs};
use crate::tls::TestCa;

/// The scope sipwake asks for; the token endpoint insists on it.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const CLIENT_EMAIL: &str = "firebase-adminsdk@sipwake-mock.iam.gserviceaccount.com";
// A throw-away RSA key (generated for these tests, used nowhere else): RSA key
// generation is too slow in debug builds to do per test.
const PRIVATE_KEY: &str = include_str!("fcm_test_key.pem");
const PUBLIC_KEY: &str = include_str!("fcm_test_key.pub.pem");

/// A programmed failure, answered with FCM's real status and error body.
#[derive(Clone, Debug, PartialEq)]
pub enum FcmFailure {
    /// 404 NOT_FOUND, errorCode UNREGISTERED (app uninstalled / token expired).
    Unregistered,
    /// 400 INVALID_ARGUMENT naming `message.token` (malformed token).
    InvalidToken,
    /// 400 INVALID_ARGUMENT about the payload, not the token.
    InvalidPayload,
    /// 403 SENDER_ID_MISMATCH (token belongs to another project).
    SenderIdMismatch,
    /// 429 QUOTA_EXCEEDED with an optional Retry-After (seconds).
    QuotaExceeded { retry_after: Option<u64> },
    /// 500 INTERNAL.
    Internal,
    /// 503 UNAVAILABLE with an optional Retry-After (seconds).
    Unavailable { retry_after: Option<u64> },
    /// 401 UNAUTHENTICATED (as for a revoked key).
    Unauthenticated,
    /// 403 PERMISSION_DENIED (service account lacks the FCM role).
    PermissionDenied,
}

/// One message FCM accepted.
#[derive(Clone, Debug)]
pub struct FcmReceived {
    pub project: String,
    /// The whole request body (`{"message":{…}}`).
    pub body: Value,
    pub http_version: http::Version,
}

#[derive(Default)]
struct State {
    project_id: String,
    token_uri: String,
    token_lifetime: u64,
    issued: HashMap<String, u64>,
    token_requests: usize,
    token_rejections: usize,
    failures: HashMap<String, VecDeque<FcmFailure>>,
    received: Vec<FcmReceived>,
    attempts: HashMap<String, usize>,
    /// Registration tokens issued by another Firebase project.
    token_projects: HashMap<String, String>,
    next_id: u64,
}

/// A running FCM mock; stops when dropped.
pub struct FcmMock {
    server: Server,
    /// With [`FcmMock::start_tls`]: the HTTPS (h2) server for sends; the
    /// plain server then only matters for the token endpoint.
    tls: Option<(Server, TestCa)>,
    state: Arc<Mutex<State>>,
}

impl FcmMock {
    /// Starts a mock for Firebase project `project_id`.
    pub async fn start(project_id: &str) -> Result<Self, MockError> {
        Self::start_with(project_id, false).await
    }

    /// Like [`FcmMock::start`], but `base_url` is HTTPS (test CA, ALPN h2 and
    /// http/1.1) as fcm.googleapis.com is. The token endpoint stays plain
    /// HTTP, because gcp_auth trusts only the public roots.
    pub async fn start_tls(project_id: &str) -> Result<Self, MockError> {
        Self::start_with(project_id, true).await
    }

    async fn start_with(project_id: &str, tls: bool) -> Result<Self, MockError> {
        let state = Arc::new(Mutex::new(State {
            project_id: project_id.to_owned(),
            token_lifetime: 3600,
            ..State::default()
        }));
        let decoding = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes())?;
        let st = state.clone();
        let handler: crate::server::Handler =
            Arc::new(move |_: &ConnInfo, req| handle(&st, &decoding, req));
        let server = Server::start(None, handler.clone()).await?;
        lock(&state).token_uri = format!("http://{}/token", server.addr());
        let tls = if tls {
            let ca = TestCa::new()?;
            let config = ca.server_config(&[b"h2", b"http/1.1"], false)?;
            Some((Server::start(Some(config), handler).await?, ca))
        } else {
            None
        };
        Ok(Self { server, tls, state })
    }

    /// Base URL for the FCM client: `http://127.0.0.1:port` (h2c), or
    /// `https://…` with [`FcmMock::start_tls`].
    pub fn base_url(&self) -> String {
        match &self.tls {
            Some((s, _)) => format!("https://{}", s.addr()),
            None => format!("http://{}", self.server.addr()),
        }
    }

    /// The CA of the HTTPS server ([`FcmMock::start_tls`] only).
    pub fn ca_pem(&self) -> Option<String> {
        self.tls.as_ref().map(|(_, ca)| ca.ca_pem())
    }

    /// A service-account key file, as downloaded from the Firebase console,
    /// whose `token_uri` points at this mock.
    pub fn service_account_json(&self) -> String {
        let st = lock(&self.state);
        json!({
            "type": "service_account",
            "project_id": st.project_id,
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": PRIVATE_KEY,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": st.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/firebase-adminsdk",
            "universe_domain": "googleapis.com"
        })
        .to_string()
    }

    /// Lifetime (`expires_in`) of the access tokens issued from now on.
    /// gcp_auth treats a token as expired 20 s early, so 20 forces a refresh
    /// before every push.
    pub fn set_token_lifetime(&self, secs: u64) {
        lock(&self.state).token_lifetime = secs;
    }

    /// Invalidates every issued access token (as a key revocation would).
    pub fn revoke_tokens(&self) {
        lock(&self.state).issued.clear();
    }

    /// Answers the next pushes to `token` with `failures`, in order; later
    /// pushes succeed again.
    pub fn fail(&self, token: &str, failures: impl IntoIterator<Item = FcmFailure>) {
        lock(&self.state)
            .failures
            .entry(token.to_owned())
            .or_default()
            .extend(failures);
    }

    /// Declares that registration token `token` belongs to Firebase project
    /// `project`: sends of it to this mock's project (when `project` differs)
    /// are answered 403 SENDER_ID_MISMATCH, as [`FcmFailure::SenderIdMismatch`]
    /// is, every time.
    pub fn token_of_project(&self, token: &str, project: &str) {
        lock(&self.state)
            .token_projects
            .insert(token.to_owned(), project.to_owned());
    }

    /// Messages accepted so far.
    pub fn received(&self) -> Vec<FcmReceived> {
        lock(&self.state).received.clone()
    }

    /// Send attempts for `token` (accepted or failed).
    pub fn attempts(&self, token: &str) -> usize {
        lock(&self.state).attempts.get(token).copied().unwrap_or(0)
    }

    /// Successful token requests.
    pub fn token_requests(&self) -> usize {
        lock(&self.state).token_requests
    }

    /// Token requests refused (bad assertion).
    pub fn token_rejections(&self) -> usize {
        lock(&self.state).token_rejections
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.server().connections() + self.tls.as_ref().map_or(0, |_| self.server.connections())
    }

    /// The server sends go to (response delay, concurrency gauge).
    pub fn server(&self) -> &Server {
        self.tls.as_ref().map_or(&self.server, |(s, _)| s)
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn handle(state: &Mutex<State>, key: &DecodingKey, req: Request<Bytes>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if req.method() != http::Method::POST {
        return google_error(405, "Method not allowed.", "INVALID_ARGUMENT", vec![]);
    }
    if path == "/token" {
        return token(state, key, &req);
    }
    match path
        .strip_prefix("/v1/projects/")
        .and_then(|p| p.strip_suffix("/messages:send"))
    {
        Some(project) => send(state, project, req),
        None => google_error(404, "Requested entity was not found.", "NOT_FOUND", vec![]),
    }
}

#[derive(serde::Deserialize)]
struct Assertion {
    iss: String,
    scope: String,
}

/// RFC 7523 JWT bearer grant, as Google's token endpoint implements it.
fn token(state: &Mutex<State>, key: &DecodingKey, req: &Request<Bytes>) -> Response<Full<Bytes>> {
    let form: HashMap<String, String> = url_form(req.body());
    let mut st = lock(state);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[st.token_uri.clone()]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let verdict = if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        Err("unsupported grant_type".to_owned())
    } else {
        // Google accepts padded base64url segments (gcp_auth sends them).
        let jwt = form
            .get("assertion")
            .map(String::as_str)
            .unwrap_or("")
            .split('.')
            .map(|p| p.trim_end_matches('='))
            .collect::<Vec<_>>()
            .join(".");
        match jsonwebtoken::decode::<Assertion>(&jwt, key, &validation) {
            Err(e) => Err(format!("Invalid JWT: {e}")),
            Ok(t) if t.claims.iss != CLIENT_EMAIL => Err("Invalid JWT: unknown iss".to_owned()),
            Ok(t) if !t.claims.scope.split(' ').any(|s| s == FCM_SCOPE) => {
                Err("Invalid JWT: scope lacks firebase.messaging".to_owned())
            }
            Ok(_) => Ok(()),
        }
    };
    if let Err(why) = verdict {
        st.token_rejections += 1;
        return json(
            400,
            &json!({"error": "invalid_grant", "error_description": why}),
        );
    }
    st.token_requests += 1;
    let access = format!("ya29.mock-{}-{}", st.token_requests, now_secs());
    let lifetime = st.token_lifetime;
    st.issued.insert(access.clone(), now_secs() + lifetime);
    json(
        200,
        &json!({"access_token": access, "expires_in": lifetime, "token_type": "Bearer"}),
    )
}

fn send(state: &Mutex<State>, project: &str, req: Request<Bytes>) -> Response<Full<Bytes>> {
    let mut st = lock(state);
    let bearer = header(&req, "authorization")
        .strip_prefix("Bearer ")
        .unwrap_or("");
    if st.issued.get(bearer).is_none_or(|exp| *exp <= now_secs()) {
        return failure(&FcmFailure::Unauthenticated);
    }
    if project != st.project_id {
        return failure(&FcmFailure::PermissionDenied);
    }
    let body: Value = match serde_json::from_slice(req.body()) {
        Ok(v) => v,
        Err(e) => {
            return google_error(
                400,
                &format!("Invalid JSON payload received. {e}"),
                "INVALID_ARGUMENT",
                vec![],
            );
        }
    };
    if let Err(msg) = validate_message(&body) {
        return google_error(400, &msg, "INVALID_ARGUMENT", vec![]);
    }
    let token = body["message"]["token"].as_str().unwrap_or("").to_owned();
    *st.attempts.entry(token.clone()).or_default() += 1;
    if st
        .token_projects
        .get(&token)
        .is_some_and(|p| *p != st.project_id)
    {
        return failure(&FcmFailure::SenderIdMismatch);
    }
    if let Some(f) = st.failures.get_mut(&token).and_then(VecDeque::pop_front) {
        return failure(&f);
    }
    st.next_id += 1;
    let name = format!("projects/{project}/messages/0:{}", st.next_id);
    st.received.push(FcmReceived {
        project: project.to_owned(),
        body,
        http_version: req.version(),
    });
    json(200, &json!({ "name": name }))
}

/// The checks FCM applies that a template edit can break.
fn validate_message(body: &Value) -> Result<(), String> {
    let msg = body.get("message").and_then(Value::as_object).ok_or(
        "Invalid JSON payload received. Unknown name \"\": Root element must be a message.",
    )?;
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|k| msg.contains_key(**k))
        .count();
    if targets != 1 {
        return Err("Exactly one of token, topic or condition must be specified.".into());
    }
    if let Some(data) = msg.get("data").and_then(Value::as_object)
        && let Some((k, _)) = data.iter().find(|(_, v)| !v.is_string())
    {
        return Err(format!(
            "Invalid value at 'message.data[0].value' ({k}), Starting an object on a scalar field"
        ));
    }
    if let Some(ttl) = body.pointer("/message/android/ttl") {
        let ok = ttl
            .as_str()
            .and_then(|s| s.strip_suffix('s'))
            .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok_and(|v| v >= 0.0));
        if !ok {
            return Err("Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), Illegal duration format".into());
        }
    }
    Ok(())
}

fn fcm_detail(code: &str) -> Value {
    json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code})
}

/// Google's error envelope.
fn google_error(
    code: u16,
    message: &str,
    status: &str,
    details: Vec<Value>,
) -> Response<Full<Bytes>> {
    let mut error = json!({"code": code, "message": message, "status": status});
    if !details.is_empty() {
        error["details"] = Value::Array(details);
    }
    json(code, &json!({ "error": error }))
}

fn failure(f: &FcmFailure) -> Response<Full<Bytes>> {
    let with_retry_after = |mut r: Response<Full<Bytes>>, after: Option<u64>| {
        if let Some(s) = after {
            r.headers_mut()
                .insert("retry-after", http::HeaderValue::from(s));
        }
        r
    };
    match f {
        FcmFailure::Unregistered => google_error(
            404,
            "Requested entity was not found.",
            "NOT_FOUND",
            vec![fcm_detail("UNREGISTERED")],
        ),
        FcmFailure::InvalidToken => google_error(
            400,
            "The registration token is not a valid FCM registration token",
            "INVALID_ARGUMENT",
            vec![
                fcm_detail("INVALID_ARGUMENT"),
                json!({"@type": "type.googleapis.com/google.rpc.BadRequest",
                       "fieldViolations": [{"field": "message.token",
                         "description": "The registration token is not a valid FCM registration token"}]}),
            ],
        ),
        FcmFailure::InvalidPayload => google_error(
            400,
            "Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), \"urgent\"",
            "INVALID_ARGUMENT",
            vec![json!({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": "message.android.priority",
                          "description": "Invalid value at 'message.android.priority'"}]})],
        ),
        FcmFailure::SenderIdMismatch => google_error(
            403,
            "SenderId mismatch",
            "PERMISSION_DENIED",
            vec![fcm_detail("SENDER_ID_MISMATCH")],
        ),
        FcmFailure::QuotaExceeded { retry_after } => with_retry_after(
            google_error(
                429,
                "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per minute'.",
                "RESOURCE_EXHAUSTED",
                vec![fcm_detail("QUOTA_EXCEEDED")],
            ),
            *retry_after,
        ),
        FcmFailure::Internal => google_error(
            500,
            "Internal error encountered.",
            "INTERNAL",
            vec![fcm_detail("INTERNAL")],
        ),
        FcmFailure::Unavailable { retry_after } => with_retry_after(
            google_error(
                503,
                "The service is currently unavailable.",
                "UNAVAILABLE",
                vec![fcm_detail("UNAVAILABLE")],
            ),
            *retry_after,
        ),
        FcmFailure::Unauthenticated => google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "UNAUTHENTICATED",
            vec![],
        ),
        FcmFailure::PermissionDenied => google_error(
            403,
            "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/sipwake-mock' (or it may not exist).",
            "PERMISSION_DENIED",
            vec![json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED", "domain": "cloudresourcemanager.googleapis.com"})],
        ),
    }
}

/// `application/x-www-form-urlencoded` → map (last value wins).
fn url_form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((percent_decode(k), percent_decode(v)))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
