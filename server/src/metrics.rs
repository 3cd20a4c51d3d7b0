//! `GET /metrics`: Prometheus text exposition of the SIP and push counters.
//! It needs the same bearer token as the API (Prometheus: `authorization:
//! { credentials: … }`), because it shares the public HTTPS port.

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::proxy::stats::StatsSnapshot;
use crate::runtime::Runtime;

#[derive(Clone)]
struct MetricsState {
    push: Arc<Runtime>,
    tls: Option<Arc<crate::tls::Certificates>>,
    tokens: Arc<Vec<String>>,
}

pub fn router<S: Clone + Send + Sync + 'static>(
    push: Arc<Runtime>,
    tokens: &[String],
    tls: Option<Arc<crate::tls::Certificates>>,
) -> Router<S> {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(MetricsState {
            push,
            tls,
            tokens: Arc::new(tokens.to_vec()),
        })
}

async fn metrics(State(m): State<MetricsState>, headers: HeaderMap) -> Response {
    if !crate::api::auth::bearer_ok(&headers, &m.tokens) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "bearer token required\n",
        )
            .into_response();
    }
    let mut body = render(&m.push);
    if let Some(t) = &m.tls {
        tls_metrics(&mut body, &t.stats);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

fn render(rt: &Runtime) -> String {
    let mut out = String::new();
    sip_counters(&mut out, &rt.proxy.stats().snapshot());
    push_counters(&mut out, &rt.push.dispatcher.stats());
    if let Some(k) = rt.keeper() {
        let _ = writeln!(
            out,
            "# HELP sipwake_keeper_kept Upstream registrations the keeper watches.\n# TYPE sipwake_keeper_kept gauge\nsipwake_keeper_kept {}",
            k.kept()
        );
        for (name, help, v) in k.stats().rows() {
            let _ = writeln!(
                out,
                "# HELP sipwake_keeper_{name}_total {help}\n# TYPE sipwake_keeper_{name}_total counter\nsipwake_keeper_{name}_total {v}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sipwake_flows Open SIP flows (connections and UDP peers).\n# TYPE sipwake_flows gauge\nsipwake_flows {}",
        rt.flow_count()
    );
    let _ = writeln!(
        out,
        "# HELP sipwake_load Load level, the manual's wsload scale: 0 low .. 4 extreme (share of [sip] max_connections in use).\n# TYPE sipwake_load gauge\nsipwake_load {}",
        rt.proxy.load()
    );
    let sip = rt.proxy.stats().snapshot();
    let (rate, cap) = rt.refused_connections();
    counter(
        &mut out,
        "sipwake_limits_refused_total",
        "Requests and connections refused by a [limits] bound.",
        &[
            ("{limit=\"connections_per_sec\"}", rate),
            ("{limit=\"flows_per_ip\"}", cap),
            ("{limit=\"registers_per_sec\"}", sip.limited_registers),
            ("{limit=\"bindings_per_aor\"}", sip.refused_bindings),
        ],
    );
    let _ = writeln!(
        out,
        "# HELP sipwake_limits_bans_total Sources banned for failed authentications.\n# TYPE sipwake_limits_bans_total counter\nsipwake_limits_bans_total {}",
        rt.proxy.bans()
    );
    out.push_str(&rt.wake_metrics());
    out
}

/// Certificate reloads, ACME orders and the served certificate's expiry.
fn tls_metrics(out: &mut String, s: &crate::tls::TlsStats) {
    use std::sync::atomic::Ordering::Relaxed;
    counter(
        out,
        "sipwake_tls_reloads_total",
        "Reloads of the configured certificate files (SIGHUP or a change): ok, or error (the previous certificate kept serving).",
        &[
            ("{result=\"ok\"}", s.reloads_ok.load(Relaxed)),
            ("{result=\"error\"}", s.reload_errors.load(Relaxed)),
        ],
    );
    counter(
        out,
        "sipwake_acme_orders_total",
        "ACME orders: ok (a new certificate serves), or error (retried with backoff).",
        &[
            ("{result=\"ok\"}", s.acme_issued.load(Relaxed)),
            ("{result=\"error\"}", s.acme_errors.load(Relaxed)),
        ],
    );
    let _ = writeln!(
        out,
        "# HELP sipwake_tls_certificate_expiry_timestamp_seconds notAfter of the certificate TLS handshakes get.\n# TYPE sipwake_tls_certificate_expiry_timestamp_seconds gauge\nsipwake_tls_certificate_expiry_timestamp_seconds {}",
        s.not_after.load(Relaxed)
    );
}

/// One counter family: HELP, TYPE and a row per label set.
fn counter(out: &mut String, name: &str, help: &str, rows: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, v) in rows {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

fn sip_counters(out: &mut String, sip: &StatsSnapshot) {
    counter(
        out,
        "sipwake_sip_requests_in_total",
        "SIP requests received.",
        &[("", sip.requests_in)],
    );
    counter(
        out,
        "sipwake_sip_requests_out_total",
        "SIP requests sent.",
        &[("", sip.requests_out)],
    );
    counter(
        out,
        "sipwake_sip_responses_in_total",
        "SIP responses received.",
        &[("", sip.responses_in)],
    );
    let classes: Vec<(String, u64)> = sip
        .responses_by_class
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{{class=\"{}xx\"}}", i + 1), *v))
        .collect();
    let classes: Vec<(&str, u64)> = classes.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    counter(
        out,
        "sipwake_sip_responses_out_total",
        "SIP responses sent or relayed, by class.",
        &classes,
    );
    counter(
        out,
        "sipwake_sip_dropped_total",
        "SIP messages dropped (unparsable, stray, queue full).",
        &[("", sip.dropped)],
    );
}

/// Per provider and app.
fn push_counters(out: &mut String, stats: &[sipwake_push::StatsEntry]) {
    let rows: Vec<(String, &sipwake_push::StatsEntry)> = stats
        .iter()
        .map(|e| {
            (
                format!("{{provider=\"{}\",app=\"{}\"}}", e.provider, escape(&e.app)),
                e,
            )
        })
        .collect();
    for (name, help, f) in [
        (
            "sipwake_push_sent_total",
            "Pushes accepted by the provider.",
            (|c: &sipwake_push::Counters| c.sent) as fn(&sipwake_push::Counters) -> u64,
        ),
        ("sipwake_push_failed_total", "Pushes not delivered.", |c| {
            c.failed
        }),
        (
            "sipwake_push_removed_total",
            "Bindings removed because the provider said the token is gone.",
            |c| c.removed,
        ),
        (
            "sipwake_push_auth_errors_total",
            "Provider authentication errors (bad key or certificate).",
            |c| c.auth_errors,
        ),
        (
            "sipwake_push_retries_total",
            "Push retries after 429/5xx/network errors.",
            |c| c.retries,
        ),
        (
            "sipwake_push_config_errors_total",
            "Pushes refused because the push configuration does not fit the app (credentials, APNs topic or certificate, Firebase project); bindings kept. Alert when it grows.",
            |c| c.config_errors,
        ),
        (
            "sipwake_push_env_corrected_total",
            "Pushes APNs took only on the other host (sandbox/production); the binding's environment was corrected.",
            |c| c.env_corrected,
        ),
    ] {
        let r: Vec<(&str, u64)> = rows
            .iter()
            .map(|(l, e)| (l.as_str(), f(&e.counters)))
            .collect();
        counter(out, name, help, &r);
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_escaping() {
        assert_eq!(super::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
