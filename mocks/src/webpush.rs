//! RFC 8030 push service mock over HTTPS (test CA): checks the VAPID
//! (RFC 8292) `Authorization: vapid t=…, k=…` header, decrypts the aes128gcm
//! (RFC 8291) body with the subscription's private key and auth secret, and
//! records the plaintext. Subscriptions can be marked gone (410) and unknown
//! ones get 404, as real push services do.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use web_push_native::p256::SecretKey;
use web_push_native::p256::elliptic_curve::rand_core::{OsRng, RngCore};
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::MockError;
use crate::server::{ConnInfo, Server, header, plain};
use crate::tls::TestCa;

/// A browser's `PushSubscription` as `toJSON()` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Subscription {
    pub endpoint: String,
    pub keys: SubscriptionKeys,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SubscriptionKeys {
    /// Uncompressed P-256 public key, base64url.
    pub p256dh: String,
    /// 16-byte auth secret, base64url.
    pub auth: String,
}

/// One push the service accepted.
#[derive(Clone, Debug)]
pub struct WebPushReceived {
    pub endpoint_id: String,
    pub plaintext: Vec<u8>,
    pub ttl: String,
    pub urgency: String,
    pub topic: String,
    /// The VAPID public key (`k=`), base64url.
    pub vapid_key: String,
    /// The JWT `sub` claim (contact).
    pub vapid_subject: String,
}

struct Sub {
    secret: SecretKey,
    auth: [u8; 16],
}

#[derive(Default)]
struct State {
    subs: HashMap<String, Sub>,
    gone: HashSet<String>,
    received: Vec<WebPushReceived>,
    rejected: usize,
}

/// A running Web Push service mock; stops when dropped.
pub struct WebPushMock {
    server: Server,
    state: Arc<Mutex<State>>,
    ca: TestCa,
}

#[derive(serde::Deserialize)]
struct VapidClaims {
    aud: String,
    sub: String,
}

impl WebPushMock {
    pub async fn start() -> Result<Self, MockError> {
        let ca = TestCa::new()?;
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let tls = ca.server_config(&[b"h2", b"http/1.1"], false)?;
        let server = Server::start(
            Some(tls),
            Arc::new(move |_: &ConnInfo, req| handle(&st, req)),
        )
        .await?;
        Ok(Self { server, state, ca })
    }

    pub fn base_url(&self) -> String {
        format!("https://{}", self.server.addr())
    }

    pub fn ca_pem(&self) -> String {
        self.ca.ca_pem()
    }

    /// A new subscription, as a browser would get from `pushManager.subscribe`.
    pub fn subscribe(&self) -> Subscription {
        let secret = SecretKey::random(&mut OsRng);
        let mut auth = [0u8; 16];
        OsRng.fill_bytes(&mut auth);
        let mut idb = [0u8; 12];
        OsRng.fill_bytes(&mut idb);
        let id = URL_SAFE_NO_PAD.encode(idb);
        let p256dh = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        lock(&self.state)
            .subs
            .insert(id.clone(), Sub { secret, auth });
        Subscription {
            endpoint: format!("{}/push/{id}", self.base_url()),
            keys: SubscriptionKeys {
                p256dh,
                auth: URL_SAFE_NO_PAD.encode(auth),
            },
        }
    }

    /// From now on, pushes to this subscription get 410 Gone.
    pub fn expire(&self, sub: &Subscription) {
        if let Some(id) = sub.endpoint.rsplit('/').next() {
            lock(&self.state).gone.insert(id.to_owned());
        }
    }

    pub fn received(&self) -> Vec<WebPushReceived> {
        lock(&self.state).received.clone()
    }

    /// Requests refused for bad VAPID, encoding or headers.
    pub fn rejected(&self) -> usize {
        lock(&self.state).rejected
    }

    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// The underlying server (response delay, concurrency gauge).
    pub fn server(&self) -> &Server {
        &self.server
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks `vapid t=<jwt>, k=<key>`; returns (key, subject).
fn check_vapid(req: &Request<Bytes>) -> Result<(String, String), &'static str> {
    let value = header(req, "authorization")
        .strip_prefix("vapid ")
        .ok_or("missing VAPID authorization")?;
    let mut t = None;
    let mut k = None;
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.trim()),
            Some(("k", v)) => k = Some(v.trim()),
            _ => {}
        }
    }
    let (t, k) = (t.ok_or("no t=")?, k.ok_or("no k=")?);
    let point = URL_SAFE_NO_PAD.decode(k).map_err(|_| "bad k=")?;
    if point.len() != 65 || point[0] != 4 {
        return Err("k= is not an uncompressed P-256 point");
    }
    let key = DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .map_err(|_| "bad k=")?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<VapidClaims>(t, &key, &validation)
        .map_err(|_| "VAPID JWT invalid")?;
    // RFC 8292: aud is the push resource's origin. web-push-native omits the
    // port, so both forms are accepted.
    let host = header(req, "host");
    let authority = req.uri().authority().map(|a| a.as_str()).unwrap_or(host);
    let hostname = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    if data.claims.aud != format!("https://{authority}")
        && data.claims.aud != format!("https://{hostname}")
    {
        return Err("VAPID aud is not this origin");
    }
    if !(data.claims.sub.starts_with("mailto:") || data.claims.sub.starts_with("https:")) {
        return Err("VAPID sub must be a mailto: or https: URI");
    }
    Ok((k.to_owned(), data.claims.sub))
}

fn handle(state: &Mutex<State>, req: Request<Bytes>) -> Response<Full<Bytes>> {
    let Some(id) = req.uri().path().strip_prefix("/push/") else {
        return plain(404, "no such subscription");
    };
    let id = id.to_owned();
    let mut st = lock(state);
    if req.method() != http::Method::POST {
        return plain(405, "POST only");
    }
    if st.gone.contains(&id) {
        return plain(410, "push subscription has unsubscribed or expired");
    }
    let Some(sub) = st.subs.get(&id) else {
        return plain(404, "no such subscription");
    };
    let (vapid_key, vapid_subject) = match check_vapid(&req) {
        Ok(v) => v,
        Err(e) => {
            st.rejected += 1;
            return plain(401, e);
        }
    };
    let ttl = header(&req, "ttl").to_owned();
    if ttl.parse::<u64>().is_err() {
        st.rejected += 1;
        return plain(400, "TTL header required (RFC 8030 5.2)");
    }
    if header(&req, "content-encoding") != "aes128gcm" {
        st.rejected += 1;
        return plain(415, "content-encoding must be aes128gcm");
    }
    let auth = web_push_native::Auth::clone_from_slice(&sub.auth);
    let plaintext = match web_push_native::decrypt(req.body().to_vec(), &sub.secret, &auth) {
        Ok(p) => p,
        Err(_) => {
            st.rejected += 1;
            return plain(400, "cannot decrypt aes128gcm body");
        }
    };
    let received = WebPushReceived {
        endpoint_id: id.clone(),
        plaintext,
        ttl,
        urgency: header(&req, "urgency").to_owned(),
        topic: header(&req, "topic").to_owned(),
        vapid_key,
        vapid_subject,
    };
    st.received.push(received);
    let mut r = plain(201, "");
    if let Ok(v) = http::HeaderValue::from_str(&format!("/message/{id}-{}", st.received.len())) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}
