//! RFC 4475 torture messages against the gateway in upstream mode, with a
//! silent loopback "upstream" that records what the gateway forwards.
//!
//! Each file's expectation is designed from `tests/fixtures/sip-torture/MANIFEST.tsv`
//! for a proxy (the gateway in upstream mode): the allowed final responses,
//! whether forwarding is allowed (and what the forwarded bytes must not
//! contain), and whether saying nothing is allowed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::client::SipClient;
use crate::gateway::{Gateway, Mode};
pub use crate::sink::Sink;
use crate::sipmsg::Msg;
use crate::{Error, util};

/// What a proxy may do with one torture message.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub file: &'static str,
    /// Acceptable final response codes (empty: no final response allowed).
    pub reply: &'static [u16],
    /// Forwarding to the upstream is acceptable.
    pub forward: bool,
    /// Neither answering nor forwarding is acceptable (responses, undecodable input).
    pub silence: bool,
    /// Substrings the forwarded bytes must not contain (liberal parsing must
    /// not propagate the error).
    pub forbid: &'static [&'static str],
}

const fn r(file: &'static str, reply: &'static [u16], forward: bool, silence: bool) -> Rule {
    Rule {
        file,
        reply,
        forward,
        silence,
        forbid: &[],
    }
}

const fn rf(file: &'static str, reply: &'static [u16], forbid: &'static [&'static str]) -> Rule {
    Rule {
        file,
        reply,
        forward: true,
        silence: false,
        forbid,
    }
}

/// One rule per file (49). Valid requests must be forwarded, invalid ones
/// answered as the RFC says; responses (which have no transaction here) are
/// dropped.
pub const RULES: &[Rule] = &[
    // 3.1.1 valid: a proxy forwards them.
    r("wsinv.dat", &[], true, false),
    r("intmeth.dat", &[], true, false),
    r("esc01.dat", &[], true, false),
    r("escnull.dat", &[], true, false),
    r("esc02.dat", &[], true, false),
    r("lwsdisp.dat", &[], true, false),
    r("longreq.dat", &[], true, false),
    // The trailing INVITE-looking octets of the datagram are not forwarded.
    rf("dblreq.dat", &[], &["INVITE sip:joe@example.com"]),
    r("semiuri.dat", &[], true, false),
    r("transports.dat", &[], true, false),
    r("mpart01.dat", &[], true, false),
    // Responses without a transaction: dropped.
    r("unreason.dat", &[], false, true),
    r("noreason.dat", &[], false, true),
    // 3.1.2 invalid.
    r("badinv01.dat", &[400], false, false),
    r("clerr.dat", &[400], false, false),
    r("ncl.dat", &[400], false, false),
    r("scalar02.dat", &[400], false, false),
    r("scalarlg.dat", &[], false, true),
    rf(
        "quotbal.dat",
        &[400],
        &["\"Mr. J. User <sip:j.user@example.com>"],
    ),
    rf("ltgtruri.dat", &[400], &["INVITE <sip:"]),
    r("lwsruri.dat", &[400], false, false),
    rf("lwsstart.dat", &[400], &["INVITE  sip:", "  SIP/2.0"]),
    rf("trws.dat", &[400], &["SIP/2.0  \r\n", "SIP/2.0 \r\n"]),
    rf(
        "escruri.dat",
        &[400],
        &["?Route=", "\r\nRoute: <sip:example.com>"],
    ),
    r("baddate.dat", &[400], true, false),
    r("regbadct.dat", &[400], true, false),
    r("badaspec.dat", &[400], true, false),
    r("baddn.dat", &[400], false, false),
    r("badvers.dat", &[505], false, false),
    r("mismatch01.dat", &[400], false, false),
    r("mismatch02.dat", &[400, 501], false, false),
    r("bigcode.dat", &[], false, true),
    // 3.2 transaction.
    r("badbranch.dat", &[400], true, false),
    // 3.3 application.
    r("insuf.dat", &[400], false, true),
    r("unkscm.dat", &[416], false, false),
    r("novelsc.dat", &[416, 404], false, false),
    r("unksm2.dat", &[400], true, false),
    r("bext01.dat", &[420], false, false),
    r("invut.dat", &[415], true, false),
    r("regaut01.dat", &[401], true, false),
    r("multi01.dat", &[400], false, false),
    r("mcl01.dat", &[400], false, false),
    r("bcast.dat", &[], false, true),
    r("zeromf.dat", &[483], false, false),
    r("cparam01.dat", &[], true, false),
    r("cparam02.dat", &[], true, false),
    r("regescrt.dat", &[], true, false),
    r("sdp01.dat", &[406, 400], true, false),
    // 3.4 compat.
    r("inv2543.dat", &[], true, false),
];

/// Files whose bytes cannot be framed on a stream (Content-Length missing,
/// larger than the body, negative or repeated; no end of headers): over TCP
/// the gateway must not forward them and must end the connection (an error
/// response first is allowed).
pub const STREAM_BROKEN: &[&str] = &[
    "clerr.dat",
    "ncl.dat",
    "mcl01.dat",
    "baddn.dat",
    "inv2543.dat",
];

pub fn fixture_dir() -> PathBuf {
    util::crate_dir().join("fixtures/sip-torture")
}

pub fn rule(file: &str) -> Result<Rule, Error> {
    RULES
        .iter()
        .find(|r| r.file == file)
        .copied()
        .ok_or_else(|| Error::Setup(format!("no rule for {file}")))
}

/// Files listed in MANIFEST.tsv (first column).
pub fn manifest_files() -> Result<Vec<String>, Error> {
    let path = fixture_dir().join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(String::from)
        .collect())
}

/// What the forwarded copy can be recognised by: the Call-ID value, else the
/// top Via branch.
pub fn match_key(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let value = |names: &[&str]| {
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            names
                .iter()
                .any(|x| n.trim().eq_ignore_ascii_case(x))
                .then(|| v.trim().to_string())
        })
    };
    if let Some(cid) = value(&["call-id", "i"]) {
        return Some(cid);
    }
    let via = value(&["via", "v"])?;
    let b = via.split(";branch=").nth(1)?;
    Some(b.split([';', ',', ' ']).next().unwrap_or(b).to_string())
}

/// Gateway config for torture runs: a short read timeout so a truncated
/// stream message is cut off quickly.
pub const GATEWAY_SIP_EXTRA: &str = "read_timeout_secs = 2";

/// Starts a sink and a gateway that uses it as upstream.
pub async fn setup() -> Result<(Sink, Gateway), Error> {
    let sink = Sink::start().await?;
    let uri = sink.uri();
    let gw = tokio::task::spawn_blocking(move || {
        Gateway::start_with(Mode::Upstream(uri), GATEWAY_SIP_EXTRA)
    })
    .await
    .map_err(|e| Error::Setup(format!("join: {e}")))??;
    Ok((sink, gw))
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub finals: Vec<Msg>,
    pub forwarded: Vec<Vec<u8>>,
    pub closed: bool,
}

/// How long to wait for a reaction to one message.
const WINDOW: Duration = Duration::from_millis(1500);

/// Sends one torture file over `transport` ("udp"/"tcp") and collects what happened.
pub async fn send_file(
    gw: &Gateway,
    sink: &Sink,
    file: &str,
    transport: &str,
) -> Result<Outcome, Error> {
    let bytes = std::fs::read(fixture_dir().join(file))
        .map_err(|e| Error::io(format!("read {file}"), e))?;
    let key =
        match_key(&bytes).ok_or_else(|| Error::Setup(format!("{file}: no Call-ID or branch")))?;
    let mut c = connect(gw, transport, "torture").await?;
    c.send_raw(&bytes).await?;
    let mut out = Outcome::default();
    let deadline = tokio::time::Instant::now() + WINDOW;
    let stream_broken = transport == "tcp" && STREAM_BROKEN.contains(&file);
    // Wait for a final response or a forward (or a close), then a short
    // settle time to catch a second reaction (e.g. both answered and forwarded).
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        let step = (deadline - now).min(Duration::from_millis(100));
        match c.recv_none(step).await {
            Ok(Some(m)) if m.status().is_some_and(|s| s >= 200) => out.finals.push(m),
            Ok(_) => {}
            Err(_) => {
                out.closed = true;
                break;
            }
        }
        if !out.finals.is_empty() || !sink.matching(&key).is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            while let Ok(Some(m)) = c.recv_none(Duration::from_millis(10)).await {
                if m.status().is_some_and(|s| s >= 200) {
                    out.finals.push(m);
                }
            }
            break;
        }
    }
    if stream_broken && !out.closed {
        // The gateway's read timeout (2 s) must end the connection.
        out.closed = c.closed_within(Duration::from_secs(5)).await;
    }
    out.forwarded = sink.matching(&key);
    Ok(out)
}

/// A fresh client connection: "udp", "tcp" or "ws" (one message per frame).
async fn connect(gw: &Gateway, transport: &str, user: &str) -> Result<SipClient, Error> {
    match transport {
        "udp" => SipClient::udp(gw.sip_addr(), user, "example.com").await,
        "tcp" => SipClient::tcp(gw.sip_addr(), user, "example.com").await,
        "ws" => SipClient::ws(gw.http_addr(), "/ws", false, user, "example.com").await,
        other => Err(Error::Setup(format!("unknown torture transport {other}"))),
    }
}

/// Checks an outcome against the file's rule; Err explains the mismatch.
/// `transport` "udp" and "ws" have datagram semantics (one message per
/// datagram/frame); "tcp" adds the stream rules for [`STREAM_BROKEN`] files.
pub fn judge(file: &str, transport: &str, o: &Outcome) -> Result<(), String> {
    let rule = rule(file).map_err(|e| e.to_string())?;
    let codes: Vec<u16> = o.finals.iter().filter_map(Msg::status).collect();
    let stream_broken = transport == "tcp" && STREAM_BROKEN.contains(&file);
    let (reply, forward, silence): (&[u16], bool, bool) = if stream_broken {
        (&[400], false, true)
    } else {
        (rule.reply, rule.forward, rule.silence)
    };
    let ctx = format!(
        "{file} over {transport}: codes {codes:?}, forwarded {}, closed {}",
        o.forwarded.len(),
        o.closed
    );
    if let Some(bad) = codes.iter().find(|c| !reply.contains(c)) {
        return Err(format!(
            "{ctx}: final response {bad} not in allowed {reply:?}"
        ));
    }
    if !o.forwarded.is_empty() && !forward {
        return Err(format!(
            "{ctx}: must not be forwarded; forwarded:\n{}",
            String::from_utf8_lossy(&o.forwarded[0])
        ));
    }
    if !o.forwarded.is_empty() && !codes.is_empty() {
        return Err(format!("{ctx}: both answered and forwarded"));
    }
    if o.forwarded.is_empty() && codes.is_empty() && !silence {
        return Err(format!(
            "{ctx}: neither answered (allowed {reply:?}) nor forwarded (allowed: {forward})"
        ));
    }
    for fwd in &o.forwarded {
        let text = String::from_utf8_lossy(fwd);
        if let Some(f) = rule.forbid.iter().find(|f| text.contains(*f)) {
            return Err(format!("{ctx}: forwarded copy contains {f:?}:\n{text}"));
        }
    }
    if stream_broken && !o.closed {
        return Err(format!(
            "{ctx}: connection must be closed (unframeable on a stream)"
        ));
    }
    if file == "bext01.dat"
        && let Some(m) = o.finals.first()
    {
        let unsupported = m.header("Unsupported").unwrap_or_default();
        if !unsupported.contains("noProxiesSupportThis") {
            return Err(format!(
                "{ctx}: 420 must list the Proxy-Require tags in Unsupported, got {unsupported:?}"
            ));
        }
    }
    Ok(())
}

/// A proof of life after abuse: /healthz answers and an OPTIONS is still
/// answered or forwarded.
pub async fn assert_alive(gw: &mut Gateway, sink: &Sink, transport: &str) -> Result<(), Error> {
    gw.check_alive()?;
    let mut c = connect(gw, transport, "alive").await?;
    let req = c.request(
        "OPTIONS",
        "sip:alive@example.com",
        "<sip:alive@example.com>",
        &[],
        "",
    );
    let key = match_key(req.as_bytes()).unwrap_or_default();
    c.send_raw(req.as_bytes()).await?;
    // Answered by the gateway or forwarded to the sink, whichever comes first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut handled = false;
    while !handled && tokio::time::Instant::now() < deadline {
        handled = c.recv_none(Duration::from_millis(50)).await?.is_some()
            || !sink.matching(&key).is_empty();
    }
    if !handled {
        return Err(gw.failure("OPTIONS after the torture run was neither answered nor forwarded"));
    }
    let addr: SocketAddr = gw.http_addr();
    let health = tokio::task::spawn_blocking(move || crate::gateway::http_get(addr, "/healthz"))
        .await
        .map_err(|e| Error::Setup(format!("join: {e}")))??;
    if health.0 != 200 {
        return Err(gw.failure(&format!("/healthz after the run: {}", health.0)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_manifest_file_has_exactly_one_rule() {
        let files = manifest_files().unwrap();
        assert_eq!(files.len(), 49);
        for f in &files {
            assert_eq!(RULES.iter().filter(|r| r.file == f).count(), 1, "{f}");
            assert!(fixture_dir().join(f).is_file(), "{f}");
        }
        assert_eq!(RULES.len(), 49);
    }

    #[test]
    fn every_file_has_a_match_key() {
        for r in RULES {
            let bytes = std::fs::read(fixture_dir().join(r.file)).unwrap();
            assert!(match_key(&bytes).is_some_and(|k| k.len() > 5), "{}", r.file);
        }
    }

    #[test]
    fn judge_rejects_wrong_outcomes() {
        let fwd = Outcome {
            forwarded: vec![b"x".to_vec()],
            ..Default::default()
        };
        assert!(judge("badvers.dat", "udp", &fwd).is_err());
        assert!(judge("wsinv.dat", "udp", &fwd).is_ok());
        assert!(judge("wsinv.dat", "udp", &Outcome::default()).is_err());
        assert!(judge("bigcode.dat", "udp", &Outcome::default()).is_ok());
        let resp = Msg::parse(b"SIP/2.0 400 Bad\r\n\r\n").unwrap();
        let ans = Outcome {
            finals: vec![resp],
            ..Default::default()
        };
        assert!(judge("badvers.dat", "udp", &ans).is_err());
        assert!(judge("badinv01.dat", "udp", &ans).is_ok());
        assert!(judge("clerr.dat", "tcp", &ans).is_err(), "must also close");
    }
}
