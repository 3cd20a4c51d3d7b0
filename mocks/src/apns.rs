//! APNs provider API mock: `POST /3/device/<token>` over HTTP/2 + TLS (test
//! CA), with token auth (`authorization: bearer <ES256 JWT>`) checked against
//! the mock's own .p8 key, or certificate auth (a client certificate issued by
//! the test CA), and Apple's header checks and error bodies.
//!
//! Like Apple, the mock has two environments: production ([`ApnsMock::base_url`])
//! and sandbox ([`ApnsMock::sandbox_url`]), two listeners sharing one state.
//! A device token bound to one environment ([`ApnsMock::token_env`]) is a
//! `BadDeviceToken` in the other.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rcgen::KeyPair;
use serde_json::{Value, json};

use crate::MockError;
use crate::server::{ConnInfo, Server, header, json, now_secs};
use crate::tls::{CertKind, ClientCert, TestCa, cert_topics};

pub const KEY_ID: &str = "MOCKKEY123";
pub const TEAM_ID: &str = "MOCKTEAM99";

/// A programmed failure, answered with Apple's status and `reason`.
#[derive(Clone, Debug, PartialEq)]
pub enum ApnsFailure {
    /// 400 BadDeviceToken.
    BadDeviceToken,
    /// 400 DeviceTokenNotForTopic.
    DeviceTokenNotForTopic,
    /// 410 Unregistered (with the timestamp Apple adds).
    Unregistered,
    /// 429 TooManyRequests with an optional Retry-After.
    TooManyRequests { retry_after: Option<u64> },
    /// 500 InternalServerError.
    InternalServerError,
    /// 503 ServiceUnavailable.
    ServiceUnavailable,
    /// 403 InvalidProviderToken.
    InvalidProviderToken,
}

/// An APNs environment (listener) of the mock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApnsEnv {
    /// `api.push.apple.com`: [`ApnsMock::base_url`].
    Production,
    /// `api.sandbox.push.apple.com`: [`ApnsMock::sandbox_url`].
    Sandbox,
}

/// How a notification was authenticated.
#[derive(Clone, Debug, PartialEq)]
pub enum ApnsAuth {
    /// Token auth; the JWT as sent.
    Jwt(String),
    /// Certificate auth; the certificate's UID (its own topic: the bundle
    /// id, or `<bundle>.voip` for a VoIP Services certificate).
    Cert(String),
}

/// One notification APNs accepted.
#[derive(Clone, Debug)]
pub struct ApnsReceived {
    pub device_token: String,
    /// The topic APNs delivered to: the `apns-topic` header, or without one
    /// (certificate auth) the certificate's UID.
    pub topic: String,
    /// The environment (listener) the notification was sent to.
    pub env: ApnsEnv,
    /// Request headers (lowercase names), e.g. `apns-topic`, `apns-push-type`.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    pub auth: ApnsAuth,
    pub apns_id: String,
    pub http_version: http::Version,
}

#[derive(Default)]
struct State {
    failures: HashMap<String, VecDeque<ApnsFailure>>,
    received: Vec<ApnsReceived>,
    attempts: HashMap<String, usize>,
    /// Device tokens bound to one environment.
    token_envs: HashMap<String, ApnsEnv>,
    /// Verified provider JWTs and their `iat` (Apple caches them too).
    jwts: HashMap<String, u64>,
    next_id: u64,
}

/// A running APNs mock; stops when dropped.
pub struct ApnsMock {
    server: Server,
    sandbox: Server,
    state: Arc<Mutex<State>>,
    ca: TestCa,
    p8_pem: String,
}

#[derive(serde::Deserialize)]
struct ProviderClaims {
    iss: String,
    iat: u64,
}

impl ApnsMock {
    pub async fn start() -> Result<Self, MockError> {
        let ca = TestCa::new()?;
        let key = KeyPair::generate()?;
        let decoding = DecodingKey::from_ec_pem(key.public_key_pem().as_bytes())?;
        let state = Arc::new(Mutex::new(State::default()));
        let decoding = Arc::new(decoding);
        let tls = ca.server_config(&[b"h2"], true)?;
        let handler = |env: ApnsEnv| -> crate::server::Handler {
            let st = state.clone();
            let decoding = decoding.clone();
            Arc::new(move |conn: &ConnInfo, req| handle(&st, &decoding, env, conn, req))
        };
        let server = Server::start(Some(tls.clone()), handler(ApnsEnv::Production)).await?;
        let sandbox = Server::start(Some(tls), handler(ApnsEnv::Sandbox)).await?;
        Ok(Self {
            server,
            sandbox,
            state,
            ca,
            p8_pem: key.serialize_pem(),
        })
    }

    /// `https://127.0.0.1:port`: the production environment.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.server.addr())
    }

    /// `https://127.0.0.1:port`: the sandbox environment (another listener,
    /// same CA, keys, state and checks).
    pub fn sandbox_url(&self) -> String {
        format!("https://{}", self.sandbox.addr())
    }

    /// Binds `device_token` to `env` (as APNs tokens are: a development build
    /// gets sandbox tokens): pushes of it to the other environment are
    /// answered 400 `BadDeviceToken`. Unbound tokens are accepted by both.
    pub fn token_env(&self, device_token: &str, env: ApnsEnv) {
        lock(&self.state)
            .token_envs
            .insert(device_token.to_owned(), env);
    }

    /// The CA that signed the server (and client) certificates.
    pub fn ca_pem(&self) -> String {
        self.ca.ca_pem()
    }

    /// The .p8 signing key (PKCS#8 PEM) this mock accepts JWTs from, with
    /// key id [`KEY_ID`] and team id [`TEAM_ID`].
    pub fn p8_pem(&self) -> &str {
        &self.p8_pem
    }

    /// A universal client certificate for `bundle` (topics `<bundle>`,
    /// `<bundle>.voip`, `<bundle>.complication`), accepted by this mock.
    pub fn client_cert(&self, bundle: &str) -> Result<ClientCert, MockError> {
        self.ca.client_cert(bundle)
    }

    /// A client certificate of `kind` for `bundle`, accepted by this mock.
    pub fn client_cert_of(&self, bundle: &str, kind: CertKind) -> Result<ClientCert, MockError> {
        self.ca.client_cert_of(bundle, kind)
    }

    /// Answers the next pushes to `device_token` with `failures`, in order.
    pub fn fail(&self, device_token: &str, failures: impl IntoIterator<Item = ApnsFailure>) {
        lock(&self.state)
            .failures
            .entry(device_token.to_owned())
            .or_default()
            .extend(failures);
    }

    pub fn received(&self) -> Vec<ApnsReceived> {
        lock(&self.state).received.clone()
    }

    /// Requests for `device_token` that passed auth and header checks (in
    /// either environment).
    pub fn attempts(&self, device_token: &str) -> usize {
        lock(&self.state)
            .attempts
            .get(device_token)
            .copied()
            .unwrap_or(0)
    }

    /// Distinct valid provider JWTs seen.
    pub fn distinct_jwts(&self) -> usize {
        lock(&self.state).jwts.len()
    }

    /// TCP connections accepted by the production listener.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// The production server (response delay, concurrency gauge).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The sandbox server (response delay, concurrency gauge, connections).
    pub fn sandbox_server(&self) -> &Server {
        &self.sandbox
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn reason(status: u16, reason: &str) -> Response<Full<Bytes>> {
    let mut body = json!({ "reason": reason });
    if status == 410 {
        body["timestamp"] = json!(now_secs() * 1000);
    }
    json(status, &body)
}

fn handle(
    state: &Mutex<State>,
    key: &DecodingKey,
    env: ApnsEnv,
    conn: &ConnInfo,
    req: Request<Bytes>,
) -> Response<Full<Bytes>> {
    if req.method() != http::Method::POST {
        return reason(405, "MethodNotAllowed");
    }
    let Some(device_token) = req.uri().path().strip_prefix("/3/device/") else {
        return reason(404, "BadPath");
    };
    let device_token = device_token.to_owned();
    if req.version() != http::Version::HTTP_2 {
        // Apple closes HTTP/1.x connections; a clear error helps debugging.
        return reason(400, "BadRequest");
    }
    let mut topic = header(&req, "apns-topic").to_owned();
    let push_type = header(&req, "apns-push-type").to_owned();

    let auth = if let Some(der) = &conn.client_cert {
        let Some(cert) = cert_topics(der) else {
            return reason(403, "BadCertificate");
        };
        // Without apns-topic, APNs uses the certificate's own topic.
        if topic.is_empty() {
            topic = cert.uid.clone();
        }
        if !cert.topics.contains(&topic) {
            return reason(400, "TopicDisallowed");
        }
        ApnsAuth::Cert(cert.uid)
    } else {
        let Some(jwt) = header(&req, "authorization").strip_prefix("bearer ") else {
            return reason(403, "MissingProviderToken");
        };
        let known = lock(state).jwts.get(jwt).copied();
        let iat = match known {
            Some(iat) => iat,
            None => {
                let mut validation = Validation::new(Algorithm::ES256);
                validation.set_required_spec_claims(&["iat", "iss"]);
                validation.validate_exp = false;
                let Ok(data) = jsonwebtoken::decode::<ProviderClaims>(jwt, key, &validation) else {
                    return reason(403, "InvalidProviderToken");
                };
                if data.header.kid.as_deref() != Some(KEY_ID) || data.claims.iss != TEAM_ID {
                    return reason(403, "InvalidProviderToken");
                }
                data.claims.iat
            }
        };
        // Apple rejects provider tokens older than one hour.
        if iat + 3600 < now_secs() {
            return reason(403, "ExpiredProviderToken");
        }
        if topic.is_empty() {
            return reason(400, "MissingTopic");
        }
        lock(state).jwts.insert(jwt.to_owned(), iat);
        ApnsAuth::Jwt(jwt.to_owned())
    };

    if device_token.len() != 64 || !device_token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return reason(400, "BadDeviceToken");
    }
    match push_type.as_str() {
        "voip" | "alert" | "background" | "location" | "complication" | "fileprovider" | "mdm"
        | "liveactivity" | "pushtotalk" => {}
        _ => return reason(400, "InvalidPushType"),
    }
    let voip_push = push_type == "voip";
    match (&auth, voip_push, topic.ends_with(".voip")) {
        (ApnsAuth::Jwt(_), true, false) => return reason(400, "TopicDisallowed"),
        // A VoIP push to an app topic (say, on an alert certificate without
        // apns-topic): the token is no PushKit token of that topic.
        (ApnsAuth::Cert(_), true, false) => return reason(400, "DeviceTokenNotForTopic"),
        // Any other push type to the VoIP topic.
        (ApnsAuth::Cert(_), false, true) => return reason(400, "TopicDisallowed"),
        _ => {}
    }
    if !matches!(header(&req, "apns-priority"), "" | "1" | "5" | "10") {
        return reason(400, "BadPriority");
    }
    let expiration = header(&req, "apns-expiration");
    if !expiration.is_empty() && expiration.parse::<u64>().is_err() {
        return reason(400, "BadExpirationDate");
    }
    let limit = if push_type == "voip" { 5120 } else { 4096 };
    if req.body().len() > limit {
        return reason(413, "PayloadTooLarge");
    }
    let body: Value = match serde_json::from_slice(req.body()) {
        Ok(v @ Value::Object(_)) => v,
        _ => return reason(400, "PayloadEmpty"),
    };
    if !body.get("aps").is_some_and(Value::is_object) {
        return reason(400, "PayloadEmpty");
    }

    let mut st = lock(state);
    *st.attempts.entry(device_token.clone()).or_default() += 1;
    if st.token_envs.get(&device_token).is_some_and(|e| *e != env) {
        return reason(400, "BadDeviceToken");
    }
    if let Some(f) = st
        .failures
        .get_mut(&device_token)
        .and_then(VecDeque::pop_front)
    {
        return match f {
            ApnsFailure::BadDeviceToken => reason(400, "BadDeviceToken"),
            ApnsFailure::DeviceTokenNotForTopic => reason(400, "DeviceTokenNotForTopic"),
            ApnsFailure::Unregistered => reason(410, "Unregistered"),
            ApnsFailure::TooManyRequests { retry_after } => {
                let mut r = reason(429, "TooManyRequests");
                if let Some(s) = retry_after {
                    r.headers_mut()
                        .insert("retry-after", http::HeaderValue::from(s));
                }
                r
            }
            ApnsFailure::InternalServerError => reason(500, "InternalServerError"),
            ApnsFailure::ServiceUnavailable => reason(503, "ServiceUnavailable"),
            ApnsFailure::InvalidProviderToken => reason(403, "InvalidProviderToken"),
        };
    }
    st.next_id += 1;
    let apns_id = match header(&req, "apns-id") {
        "" => format!("00000000-0000-4000-8000-{:012X}", st.next_id),
        id => id.to_owned(),
    };
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    st.received.push(ApnsReceived {
        device_token,
        topic,
        env,
        headers,
        body,
        auth,
        apns_id: apns_id.clone(),
        http_version: req.version(),
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    if let Ok(v) = http::HeaderValue::from_str(&apns_id) {
        r.headers_mut().insert("apns-id", v);
    }
    r
}
