//! Push end-to-end helpers: config sections pointing the gateway at the
//! FCM / APNs / Web Push mocks (`sipwake-mocks`), a small async client for
//! the operator API (`/api/v1/…`) and a REGISTER with a caller-chosen
//! Contact (RFC 8599 puts push data inside it).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sipwake_mocks::CertKind;
use sipwake_mocks::apns::{ApnsMock, KEY_ID, TEAM_ID};
use sipwake_mocks::fcm::FcmMock;
use sipwake_mocks::webpush::{Subscription, WebPushMock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::client::SipClient;
use crate::gateway::{Gateway, Mode};
use crate::kamailio::Kamailio;
use crate::sipmsg::{self, Challenge, Msg};

/// The bearer token every push test configures in `[api] tokens`.
pub const API_TOKEN: &str = "e2e-push-api-token-6c1f0b";

/// FCM project id of the mock; the service-account key names it.
pub const FCM_PROJECT: &str = "sipwake-e2e";

/// Android package / iOS bundle used by the test apps.
pub const APP: &str = "com.sipwake.e2e";

/// A fixed X-PIID store key (64 hex), so a restarted gateway can read the
/// same store.
pub const STORE_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn write(path: &Path, text: &str) -> Result<String, Error> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    Ok(q(&path.display().to_string()))
}

/// `[api]` with [`API_TOKEN`].
pub fn api_section() -> String {
    format!("\n[api]\ntokens = [{}]\n", q(API_TOKEN))
}

/// `[store]` at `db` with the fixed [`STORE_KEY`].
pub fn store_section(db: &Path) -> String {
    format!(
        "\n[store]\npath = {}\nkey = {}\n",
        q(&db.display().to_string()),
        q(STORE_KEY)
    )
}

/// `[fcm]` for package [`APP`] against the mock: its service-account JSON
/// (whose `token_uri` is the mock) written into `dir`.
pub fn fcm_section(mock: &FcmMock, dir: &Path) -> Result<String, Error> {
    let key = write(&dir.join("fcmkey.json"), &mock.service_account_json())?;
    Ok(format!(
        "\n[fcm]\nbase_url = {}\n[fcm.apps]\n{} = {key}\n",
        q(&mock.base_url()),
        q(APP)
    ))
}

/// `[apns]` with token auth (.p8) for bundle [`APP`]; both environments
/// point at the mock, whose CA is trusted.
pub fn apns_section(mock: &ApnsMock, dir: &Path) -> Result<String, Error> {
    let ca = write(&dir.join("apns-ca.pem"), &mock.ca_pem())?;
    let p8 = write(&dir.join("apns.p8"), mock.p8_pem())?;
    let url = q(&mock.base_url());
    Ok(format!(
        "\n[apns]\nproduction_url = {url}\nsandbox_url = {sandbox}\nextra_ca_pem = {ca}\n\
         [apns.apps.{app}]\np8 = {p8}\nkey_id = {kid}\nteam_id = {team}\n",
        sandbox = q(&mock.sandbox_url()),
        app = q(APP),
        kid = q(KEY_ID),
        team = q(TEAM_ID),
    ))
}

/// `[apns]` with certificate auth: a password-protected .p12 of `kind`
/// for bundle [`APP`] issued by the mock's CA (the default topic rule).
pub fn apns_p12_section(mock: &ApnsMock, dir: &Path, kind: CertKind) -> Result<String, Error> {
    let ca = write(&dir.join("apns-ca.pem"), &mock.ca_pem())?;
    let p12 = mock
        .client_cert_of(APP, kind)
        .and_then(|c| c.p12("e2e-p12-pw"))
        .map_err(mock_err)?;
    let path = dir.join("pushkit.p12");
    std::fs::write(&path, p12).map_err(|e| Error::io("write pushkit.p12", e))?;
    let url = q(&mock.base_url());
    Ok(format!(
        "\n[apns]\nproduction_url = {url}\nsandbox_url = {sandbox}\nextra_ca_pem = {ca}\n\
         [apns.apps.{app}]\np12 = {p12}\npassword = \"e2e-p12-pw\"\n",
        sandbox = q(&mock.sandbox_url()),
        app = q(APP),
        p12 = q(&path.display().to_string()),
    ))
}

/// `[webpush]` trusting the mock's CA and allowing its loopback endpoint.
pub fn webpush_section(mock: &WebPushMock, dir: &Path) -> Result<String, Error> {
    let ca = write(&dir.join("webpush-ca.pem"), &mock.ca_pem())?;
    Ok(format!(
        "\n[webpush]\nextra_ca_pem = {ca}\nallow_private_endpoints = true\n"
    ))
}

/// What a push test gateway is configured with besides FCM, Web Push and the API.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Configure APNs (token auth) against the mock; off = `i` unsupported.
    pub apns: bool,
    /// With `apns`: certificate auth (the .p12 Apple hands out) instead of
    /// the .p8 token key.
    pub apns_p12: bool,
    /// With `apns_p12`: the certificate's kind (`None`: an Apple Push
    /// Services certificate, for alerts and VoIP).
    pub apns_cert: Option<CertKind>,
    /// `[store]` at `dir/bindings.db` with [`STORE_KEY`]; off = the
    /// defaults (`<data_dir>/bindings.db`, key generated in `data_dir`).
    pub store: bool,
    /// More TOML (whole sections, e.g. `[push]\nsend555 = true`).
    pub extra: String,
    /// A Kamailio without Path support (`use_path` 0) and the gateway in
    /// front of it rewriting Contacts (`contact_mode = "rewrite"`).
    pub rewrite_contacts: bool,
    /// Kamailio challenges with this digest algorithm (`"SHA-256"`), not MD5.
    pub upstream_digest: Option<&'static str>,
}

/// A real Kamailio upstream, the gateway in front of it with FCM, Web Push
/// (and optionally APNs) pointed at the mocks, and its API client.
pub struct PushGateway {
    pub kamailio: Kamailio,
    pub gw: Gateway,
    pub api: Api,
    pub fcm: FcmMock,
    pub apns: Option<ApnsMock>,
    pub webpush: WebPushMock,
    /// Key files (and the store with [`Options::store`]) live here.
    pub dir: tempfile::TempDir,
    /// The gateway's config without [`Options::extra`] (for more gateways
    /// in front of the same Kamailio and mocks).
    base_config: String,
}

fn mock_err(e: sipwake_mocks::MockError) -> Error {
    Error::Setup(format!("mock: {e}"))
}

impl PushGateway {
    /// Starts the mocks, Kamailio and the gateway (blocking waits are
    /// bounded by the harness; call from a multi-thread runtime so the
    /// mocks keep serving).
    pub async fn start(opts: Options) -> Result<Self, Error> {
        let fcm = FcmMock::start(FCM_PROJECT).await.map_err(mock_err)?;
        let webpush = WebPushMock::start().await.map_err(mock_err)?;
        let apns = if opts.apns {
            Some(ApnsMock::start().await.map_err(mock_err)?)
        } else {
            None
        };
        let dir = crate::util::temp_dir("push")?;
        // Lines of [upstream], which the gateway's config has open here.
        let mut config = if opts.rewrite_contacts {
            "contact_mode = \"rewrite\"\n\n".to_string()
        } else {
            String::new()
        };
        config.push_str(&api_section());
        if opts.store {
            config.push_str(&store_section(&dir.path().join("bindings.db")));
        }
        config.push_str(&fcm_section(&fcm, dir.path())?);
        config.push_str(&webpush_section(&webpush, dir.path())?);
        match &apns {
            Some(a) if opts.apns_p12 => {
                let kind = opts.apns_cert.unwrap_or(CertKind::Universal);
                config.push_str(&apns_p12_section(a, dir.path(), kind)?)
            }
            Some(a) => config.push_str(&apns_section(a, dir.path())?),
            None => {}
        }
        let base_config = config.clone();
        config.push_str(&opts.extra);
        let kamailio = match (opts.rewrite_contacts, opts.upstream_digest) {
            (true, None) => Kamailio::start_without_path()?,
            (false, Some(alg)) => Kamailio::start_with_digest(alg)?,
            (false, None) => Kamailio::start()?,
            (true, Some(_)) => {
                return Err(Error::Setup(
                    "rewrite_contacts with upstream_digest: not a combination the tests need"
                        .into(),
                ));
            }
        };
        let gw = Gateway::start(Mode::UpstreamWith(kamailio.uri("udp"), config))?;
        let api = Api::new(gw.http_addr());
        Ok(Self {
            kamailio,
            gw,
            api,
            fcm,
            apns,
            webpush,
            dir,
            base_config,
        })
    }

    /// Another gateway in front of the same Kamailio, with the same push
    /// providers (mocks, keys) and `extra` as its own sections.
    pub fn another_gateway(&self, extra: &str) -> Result<Gateway, Error> {
        Gateway::start(Mode::UpstreamWith(
            self.kamailio.uri("udp"),
            format!("{}{extra}", self.base_config),
        ))
    }

    /// Restarts the gateway process: same config, data_dir and ports.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.gw.restart()
    }

    /// A UDP client of `user` towards the gateway.
    pub async fn client(&self, user: &str) -> Result<SipClient, Error> {
        SipClient::udp(self.gw.sip_addr(), user, crate::REALM).await
    }

    /// Registers `user` through the gateway (401 → 200) with
    /// `X-MPUSH: value`; panics (with the gateway log) unless the 200
    /// carries Feature-Caps.
    pub async fn register_push(&self, user: &str, value: &str) -> SipClient {
        let mut c = self.client(user).await.unwrap();
        let ok = c
            .register(crate::password(user), 600, &[format!("X-MPUSH: {value}")])
            .await
            .unwrap();
        assert_eq!(
            ok.status(),
            Some(200),
            "{}\n{}",
            ok.start,
            self.gw.failure("log")
        );
        assert!(ok.header("Feature-Caps").is_some(), "{}", ok.start);
        c
    }

    /// The `push` entry of `/api/v1/stats` for (provider, app), if any.
    pub async fn push_stat(&self, provider: &str, app: &str) -> Option<Value> {
        let stats = self.api.json("GET", "/api/v1/stats", None).await.unwrap();
        stats["push"]
            .as_array()
            .unwrap_or_else(|| panic!("stats without push array: {stats}"))
            .iter()
            .find(|e| e["provider"] == provider && e["app"] == app)
            .cloned()
    }
}

/// A Web Push subscription as the X-MPUSH `w` token: base64url (no
/// padding) of its `toJSON()` form.
pub fn subscription_token(sub: &Subscription) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(sub).unwrap_or_default())
}

/// The manual's X-PIID: md5(user:realm:password) as hex.
pub fn piid(user: &str, realm: &str, password: &str) -> String {
    sipmsg::md5_hex(&format!("{user}:{realm}:{password}"))
}

/// An X-PIID item for servers that challenge with SHA-256:
/// `SHA-256:` + sha256(user:realm:password) as hex.
pub fn piid_sha256(user: &str, realm: &str, password: &str) -> String {
    format!(
        "SHA-256:{}",
        sipmsg::sha256_hex(&format!("{user}:{realm}:{password}"))
    )
}

/// A 64-hex APNs device token derived from `seed`.
pub fn apns_token(seed: &str) -> String {
    let a = sipmsg::md5_hex(seed);
    let b = sipmsg::md5_hex(&a);
    format!("{a}{b}")
}

/// One REGISTER (no challenge answered) with `headers`, which must include
/// the Contact. Returns the final response.
pub async fn register_once(client: &mut SipClient, headers: &[String]) -> Result<Msg, Error> {
    let (ruri, to) = register_target(client);
    let req = client.request("REGISTER", &ruri, &to, headers, "");
    client.send_raw(req.as_bytes()).await?;
    client.final_response(client.cseq).await
}

/// REGISTER with `headers` (Contact included), answering one 401 digest
/// challenge with `password`. Returns (first response, final response).
pub async fn register_custom(
    client: &mut SipClient,
    password: &str,
    headers: &[String],
) -> Result<(Msg, Msg), Error> {
    let first = register_once(client, headers).await?;
    if first.status() != Some(401) {
        return Ok((first.clone(), first));
    }
    let challenge = Challenge::parse(first.header("WWW-Authenticate").unwrap_or_default())?;
    let (ruri, to) = register_target(client);
    let user = client.user.clone();
    let cred = challenge.authorization(&user, password, "REGISTER", &ruri, &sipmsg::token("cn"));
    let mut with_auth = headers.to_vec();
    with_auth.push(format!("Authorization: {cred}"));
    let req = client.request("REGISTER", &ruri, &to, &with_auth, "");
    client.send_raw(req.as_bytes()).await?;
    let last = client.final_response(client.cseq).await?;
    Ok((first, last))
}

fn register_target(client: &SipClient) -> (String, String) {
    (
        format!("sip:{}", client.domain),
        format!("<sip:{}@{}>", client.user, client.domain),
    )
}

/// The operator API of one gateway (plain HTTP listener).
#[derive(Debug, Clone, Copy)]
pub struct Api {
    pub addr: SocketAddr,
}

/// How long one API call may take (a push to a mock included).
const API_TIMEOUT: Duration = Duration::from_secs(20);

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    /// One HTTP/1.1 request (`Connection: close`) with an optional bearer
    /// token and JSON body: (status, body).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, String), Error> {
        tokio::time::timeout(API_TIMEOUT, self.call_inner(method, path, token, body))
            .await
            .map_err(|_| Error::Timeout(format!("{method} {path}")))?
    }

    async fn call_inner(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, String), Error> {
        let mut s = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| Error::io(format!("connect {}", self.addr), e))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = token {
            req.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| Error::io("api write", e))?;
        let mut resp = Vec::new();
        s.take(4 << 20)
            .read_to_end(&mut resp)
            .await
            .map_err(|e| Error::io("api read", e))?;
        parse_http(&resp)
    }

    /// A call with the right token whose status must be 200; the body as JSON.
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let (status, text) = self.call(method, path, Some(API_TOKEN), body).await?;
        if status != 200 {
            return Err(Error::Protocol(format!(
                "{method} {path} answered {status}: {text}"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| Error::Protocol(format!("{method} {path}: not JSON ({e}): {text}")))
    }

    /// The stored devices of `user` (`GET /api/v1/bindings?user=…`).
    pub async fn devices(&self, user: &str) -> Result<Vec<Value>, Error> {
        let v = self
            .json("GET", &format!("/api/v1/bindings?user={user}"), None)
            .await?;
        Ok(v["devices"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /api/v1/push`: the per-device results.
    pub async fn push(&self, body: &Value) -> Result<Vec<Value>, Error> {
        let v = self.json("POST", "/api/v1/push", Some(body)).await?;
        Ok(v["results"].as_array().cloned().unwrap_or_default())
    }
}

/// Status and body of a complete HTTP/1.1 response (chunked decoded).
fn parse_http(resp: &[u8]) -> Result<(u16, String), Error> {
    let split = sipmsg::find(resp, b"\r\n\r\n")
        .ok_or_else(|| Error::Protocol("HTTP response without header end".into()))?;
    let head = String::from_utf8_lossy(&resp[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Error::Protocol(format!("bad HTTP status line {head:?}")))?;
    let raw = &resp[split + 4..];
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    loop {
        let eol = sipmsg::find(raw, b"\r\n")
            .ok_or_else(|| Error::Protocol("chunk size line missing".into()))?;
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Error::Protocol(format!("bad chunk size {size_text:?}")))?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = raw
            .get(..size)
            .ok_or_else(|| Error::Protocol("truncated chunk".into()))?;
        out.extend_from_slice(chunk);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_http(plain).unwrap(), (401, "{}".to_string()));
        let chunked =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http(chunked).unwrap(), (200, "abcde".to_string()));
        assert!(parse_http(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn apns_token_is_64_hex_and_piid_is_md5() {
        let t = apns_token("x");
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
        // md5("aaa:cool:xxx"), the manual's example inputs.
        assert_eq!(piid("aaa", "cool", "xxx").len(), 32);
    }
}
