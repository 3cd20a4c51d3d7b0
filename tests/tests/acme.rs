//! Certificates end to end: the gateway orders its certificate from pebble
//! (Let's Encrypt's ACME test server) for the IP identifier 127.0.0.1 over
//! TLS-ALPN-01 and HTTP-01, serves it on HTTPS/WSS and SIP TLS, renews it
//! while connections opened before stay up, reuses it after a restart; and
//! configured certificate files are reloaded on SIGHUP and on change.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use sipwake_e2e::client::SipClient;
use sipwake_e2e::gateway::{Gateway, Mode, Ports};
use sipwake_e2e::pebble::{self, Pebble, PebbleOptions};
use sipwake_e2e::util::wait_for;
use sipwake_e2e::{REALM, password};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const TOKEN: &str = "acme-test-token-0123456789";

fn acme_section(p: &Pebble, challenges: &str, extra: &str) -> String {
    format!(
        "[acme]\ndirectory = \"{}\"\ncontact = [\"mailto:ops@example.org\"]\ndomains = [\"127.0.0.1\"]\n\
         challenges = [{challenges}]\nca = \"{}\"\n{extra}\n\n[api]\ntokens = [\"{TOKEN}\"]\n",
        p.directory(),
        p.ca_path.display()
    )
}

/// Waits until `addr` serves a certificate that chains to `root` for
/// 127.0.0.1 and differs from `not` (a serial); returns it.
fn wait_for_issued(
    gw: &Gateway,
    pebble: &Pebble,
    addr: std::net::SocketAddr,
    root: &rustls_pki_types::CertificateDer<'static>,
    not: Option<&str>,
    timeout: Duration,
) -> pebble::Served {
    let mut last = String::new();
    let got = wait_for("a certificate issued by pebble", timeout, || {
        let s = pebble::served(addr).ok()?;
        match pebble::verifies(&s.chain, root, LOCALHOST) {
            Ok(()) if Some(s.serial().as_str()) != not => Some(s),
            Ok(()) => None,
            Err(e) => {
                last = format!(
                    "serial {} from {}: {e}",
                    s.serial(),
                    pebble::issuer_of(&s.chain[0])
                );
                None
            }
        }
    });
    match got {
        Ok(s) => s,
        Err(e) => {
            panic!(
                "{e}; last seen {last}\n{}\n{}",
                gw.failure("no pebble certificate"),
                pebble.failure("")
            )
        }
    }
}

fn metric(gw: &Gateway, name: &str) -> u64 {
    let (status, body) = https_metrics(gw);
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{body}"))
}

/// `POST /api/v1/reload` on the plain HTTP listener: the status.
fn api_reload(gw: &Gateway) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(gw.http_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /api/v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn https_metrics(gw: &Gateway) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(gw.http_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// TLS-ALPN-01 on the HTTPS listener; 30 s certificates renewed at 2/3 of
/// their lifetime (the default) while a SIP TLS connection and a registered
/// WSS client opened on the first certificate stay usable.
#[test]
fn tls_alpn_issuance_renewal_keeps_connections() {
    let ports = Ports::free().unwrap();
    let pebble = Pebble::start(PebbleOptions {
        http_port: ports.http,
        tls_port: ports.https,
        validity_secs: 30,
    })
    .unwrap();
    let started = Instant::now();
    let mut gw = Gateway::start_on(
        Mode::Standalone,
        ports,
        "",
        &acme_section(&pebble, "\"tls-alpn-01\"", ""),
    )
    .unwrap();
    let root = pebble.root().unwrap();

    // Issued and served on HTTPS/WSS and on SIP TLS.
    let first = wait_for_issued(
        &gw,
        &pebble,
        gw.https_addr(),
        &root,
        None,
        Duration::from_secs(60),
    );
    let issued_after = started.elapsed();
    let mut sip = wait_for_issued(
        &gw,
        &pebble,
        gw.tls_addr(),
        &root,
        None,
        Duration::from_secs(10),
    );
    assert_eq!(
        sip.serial(),
        first.serial(),
        "HTTPS and SIP TLS serve one certificate"
    );
    eprintln!(
        "ACME (tls-alpn-01): certificate served {issued_after:?} after the gateway was started"
    );
    pebble::keepalive(&mut sip.conn).unwrap();
    // A WSS SIP client registered on the first certificate.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut wss = rt.block_on(async {
        let mut c = SipClient::ws(gw.https_addr(), "/ws", true, "alice", REALM)
            .await
            .unwrap();
        let ok = c.register(password("alice"), 600, &[]).await.unwrap();
        assert_eq!(ok.status(), Some(200), "{ok:?}");
        c
    });

    // Renewed: a new serial on new handshakes, chaining to the same root ...
    let t = Instant::now();
    let renewed = wait_for_issued(
        &gw,
        &pebble,
        gw.tls_addr(),
        &root,
        Some(&first.serial()),
        Duration::from_secs(60),
    );
    eprintln!(
        "ACME renewal: serial {} -> {} after {:?} more",
        first.serial(),
        renewed.serial(),
        t.elapsed()
    );
    let https = pebble::served(gw.https_addr()).unwrap();
    pebble::verifies(&https.chain, &root, LOCALHOST).unwrap();
    assert_ne!(https.serial(), first.serial());
    // ... and the SIP TLS and WSS connections opened on the first one are
    // still up and served.
    pebble::keepalive(&mut sip.conn).unwrap();
    rt.block_on(async {
        let ok = wss.register(password("alice"), 600, &[]).await.unwrap();
        assert_eq!(ok.status(), Some(200), "{ok:?}");
    });
    assert!(metric(&gw, "sipwake_acme_orders_total{result=\"ok\"}") >= 2);
    let now_served = pebble::served(gw.https_addr()).unwrap();
    assert_eq!(
        metric(&gw, "sipwake_tls_certificate_expiry_timestamp_seconds"),
        pebble::not_after_of(&now_served.chain[0]) as u64
    );
    assert_eq!(
        metric(&gw, "sipwake_acme_orders_total{result=\"error\"}"),
        0
    );
    gw.check_alive().unwrap();
}

/// HTTP-01 on the plain HTTP listener, `renew_before_secs`, files in
/// data_dir (keys 0600), and a restart that serves the stored certificate
/// at once with the stored account.
#[test]
fn http01_renew_before_and_restart_reuse() {
    let ports = Ports::free().unwrap();
    let pebble = Pebble::start(PebbleOptions {
        http_port: ports.http,
        tls_port: ports.https,
        validity_secs: 3600,
    })
    .unwrap();
    // Renew 3570 s before expiry: 30 s after issuance.
    let mut gw = Gateway::start_on(
        Mode::Standalone,
        ports,
        "",
        &acme_section(&pebble, "\"http-01\"", "renew_before_secs = 3570"),
    )
    .unwrap();
    let root = pebble.root().unwrap();
    let first = wait_for_issued(
        &gw,
        &pebble,
        gw.tls_addr(),
        &root,
        None,
        Duration::from_secs(60),
    );
    let data = gw.dir().join("data");
    for f in ["acme-account.json", "acme-cert.pem", "acme-key.pem"] {
        assert!(data.join(f).is_file(), "{f} missing in data_dir");
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&data.join("acme-account.json")) & 0o077, 0);
        assert_eq!(mode(&data.join("acme-key.pem")) & 0o077, 0);
    }
    assert!(gw.log().contains("ACME account created"));

    // A restart serves the stored certificate from the first handshake on.
    gw.restart().unwrap();
    let after = pebble::served(gw.tls_addr()).unwrap();
    assert_eq!(
        after.serial(),
        first.serial(),
        "stored certificate not reused"
    );
    let restarted_log = std::fs::read_to_string(gw.dir().join("sipwake.restarted.log")).unwrap();
    assert!(
        restarted_log.contains("using the stored ACME certificate"),
        "{restarted_log}"
    );

    // Renewal at renew_before_secs, with the stored account (no new one).
    let renewed = wait_for_issued(
        &gw,
        &pebble,
        gw.https_addr(),
        &root,
        Some(&first.serial()),
        Duration::from_secs(60),
    );
    assert_ne!(renewed.serial(), first.serial());
    let restarted_log = std::fs::read_to_string(gw.dir().join("sipwake.restarted.log")).unwrap();
    assert!(
        !restarted_log.contains("ACME account created"),
        "{restarted_log}"
    );
}

struct Configured {
    gw: Gateway,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    serial: String,
    _dir: tempfile::TempDir,
}

fn configured_cert_gateway(reload_secs: u64) -> Configured {
    let tmp = sipwake_e2e::util::temp_dir("certs").unwrap();
    let dir = tmp.path();
    let (cert, key) = pebble::self_signed("first").unwrap();
    let (cp, kp) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cp, cert).unwrap();
    std::fs::write(&kp, key).unwrap();
    let sip = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\ntls_reload_secs = {reload_secs}\n",
        cp.display(),
        kp.display()
    );
    let gw = Gateway::start_on(
        Mode::Standalone,
        Ports::free().unwrap(),
        &sip,
        &format!("[api]\ntokens = [\"{TOKEN}\"]\n"),
    )
    .unwrap();
    let serial = pebble::served(gw.tls_addr()).unwrap().serial();
    Configured {
        gw,
        cert: cp,
        key: kp,
        serial,
        _dir: tmp,
    }
}

fn wait_serial_change(
    gw: &Gateway,
    addr: std::net::SocketAddr,
    from: &str,
    timeout: Duration,
) -> pebble::Served {
    match wait_for("a new certificate", timeout, || {
        pebble::served(addr).ok().filter(|s| s.serial() != from)
    }) {
        Ok(s) => s,
        Err(e) => panic!("{e}\n{}", gw.failure("certificate not reloaded")),
    }
}

/// SIGHUP (polling off): rewritten files serve the next handshake, the open
/// connection stays; a broken file keeps the certificate and is counted.
#[test]
fn sighup_reloads_configured_files_without_dropping_connections() {
    let Configured {
        mut gw,
        cert: cp,
        key: kp,
        serial: first,
        _dir,
    } = configured_cert_gateway(0);
    let mut open = pebble::served(gw.tls_addr()).unwrap();
    let (cert, key) = pebble::self_signed("second").unwrap();
    pebble::replace_file(&kp, &key).unwrap();
    pebble::replace_file(&cp, &cert).unwrap();
    let t = Instant::now();
    unsafe { libc::kill(gw.pid() as i32, libc::SIGHUP) };
    let second = wait_serial_change(&gw, gw.https_addr(), &first, Duration::from_secs(10));
    eprintln!(
        "SIGHUP reload: new certificate served after {:?}",
        t.elapsed()
    );
    assert_eq!(
        pebble::served(gw.tls_addr()).unwrap().serial(),
        second.serial()
    );
    pebble::keepalive(&mut open.conn).unwrap();
    assert_eq!(metric(&gw, "sipwake_tls_reloads_total{result=\"ok\"}"), 1);

    // A broken certificate: the previous one keeps serving, counted, logged.
    pebble::replace_file(
        &cp,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    unsafe { libc::kill(gw.pid() as i32, libc::SIGHUP) };
    wait_for("the reload error", Duration::from_secs(10), || {
        (metric(&gw, "sipwake_tls_reloads_total{result=\"error\"}") == 1).then_some(())
    })
    .unwrap();
    // (The count comes first, the log line right after it.)
    wait_for(
        "the reload error's log line",
        Duration::from_secs(5),
        || {
            gw.log()
                .contains("keeping the previous certificate")
                .then_some(())
        },
    )
    .unwrap();
    assert_eq!(
        pebble::served(gw.tls_addr()).unwrap().serial(),
        second.serial()
    );
    pebble::keepalive(&mut open.conn).unwrap();

    // The API reload (same as SIGHUP): broken → 422, fixed → the new one.
    let (status, body) = api_reload(&gw);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("TLS certificate"), "{body}");
    let (cert, key) = pebble::self_signed("third").unwrap();
    pebble::replace_file(&kp, &key).unwrap();
    pebble::replace_file(&cp, &cert).unwrap();
    let (status, body) = api_reload(&gw);
    assert_eq!(status, 200, "{body}");
    let third = pebble::served(gw.tls_addr()).unwrap();
    assert_ne!(third.serial(), second.serial());
    pebble::keepalive(&mut open.conn).unwrap();
    gw.check_alive().unwrap();
}

/// A file change alone (as a certbot renewal) is picked up within
/// `tls_reload_secs`; a mismatched key is refused.
#[test]
fn changed_files_are_reloaded_by_polling() {
    let Configured {
        gw,
        cert: cp,
        key: kp,
        serial: first,
        _dir,
    } = configured_cert_gateway(1);
    let mut open = pebble::served(gw.https_addr()).unwrap();
    // A new certificate with the old key: does not match, refused.
    let (cert, key) = pebble::self_signed("second").unwrap();
    pebble::replace_file(&cp, &cert).unwrap();
    wait_for("the mismatch error", Duration::from_secs(10), || {
        (metric(&gw, "sipwake_tls_reloads_total{result=\"error\"}") == 1).then_some(())
    })
    .unwrap();
    assert_eq!(pebble::served(gw.tls_addr()).unwrap().serial(), first);
    // Its key arrives: loaded without any signal.
    let t = Instant::now();
    pebble::replace_file(&kp, &key).unwrap();
    let second = wait_serial_change(&gw, gw.tls_addr(), &first, Duration::from_secs(10));
    eprintln!(
        "file-change reload: new certificate served after {:?} (tls_reload_secs = 1)",
        t.elapsed()
    );
    assert_eq!(
        pebble::served(gw.https_addr()).unwrap().serial(),
        second.serial()
    );
    wait_for("the reload's log line", Duration::from_secs(5), || {
        gw.log().contains("TLS certificate reloaded").then_some(())
    })
    .unwrap();
    // The HTTPS connection opened before still works.
    use std::io::{Read, Write};
    open.conn
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    let _ = open.conn.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

/// The CA is down at startup: the self-signed certificate serves, the
/// failed order is logged, counted and retried with backoff until the CA
/// comes up. Then the CA forgets everything (a new pebble run: no accounts,
/// a new root): the renewal's "account does not exist" makes a new account
/// and the certificate from the new root serves.
#[test]
fn ca_down_at_start_then_account_lost_recovers() {
    let ports = Ports::free().unwrap();
    let mut pebble = Pebble::prepare(PebbleOptions {
        http_port: ports.http,
        tls_port: ports.https,
        validity_secs: 30,
    })
    .unwrap();
    let gw = Gateway::start_on(
        Mode::Standalone,
        ports,
        "",
        &acme_section(&pebble, "\"tls-alpn-01\"", ""),
    )
    .unwrap();
    wait_for("a failed ACME order", Duration::from_secs(20), || {
        (metric(&gw, "sipwake_acme_orders_total{result=\"error\"}") >= 1).then_some(())
    })
    .unwrap();
    assert!(gw.log().contains("ACME order failed"), "{}", gw.log());
    let self_signed = std::fs::read_to_string(gw.dir().join("data/tls-cert.pem")).unwrap();
    let self_signed = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(self_signed.as_bytes()).unwrap()
    };
    let served = pebble::served(gw.tls_addr()).unwrap();
    assert_eq!(served.serial(), pebble::serial_of(&self_signed));

    // The CA comes up: the retry (5 s backoff, doubling) gets a certificate.
    pebble.run().unwrap();
    let root = pebble.root().unwrap();
    let t = Instant::now();
    let first = wait_for_issued(
        &gw,
        &pebble,
        gw.tls_addr(),
        &root,
        None,
        Duration::from_secs(60),
    );
    eprintln!(
        "ACME retry: certificate served {:?} after the CA came up",
        t.elapsed()
    );

    // A new CA run knows no account: the renewal recovers with a new one.
    pebble.run().unwrap();
    let new_root = pebble.root().unwrap();
    assert_ne!(new_root, root);
    let renewed = wait_for_issued(
        &gw,
        &pebble,
        gw.https_addr(),
        &new_root,
        Some(&first.serial()),
        Duration::from_secs(90),
    );
    assert_ne!(renewed.serial(), first.serial());
    assert!(
        gw.log().contains("does not know the stored account"),
        "{}",
        gw.log()
    );
    assert_eq!(gw.log().matches("ACME account created").count(), 2);
}
