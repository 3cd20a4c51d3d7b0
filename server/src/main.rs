//! The `sipwake` binary: CLI, logging, wiring transports ↔ proxy, shutdown.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use sipwake::config::{Config, LogFormat};
use sipwake::runtime::{PushService, Runtime, RuntimeError};
use sipwake::transport::TransportHandle;
use sipwake::{http, tls};

/// sipwake: a SIP push gateway (SIP over WebSocket/UDP/TCP/TLS edge proxy
/// and registrar that wakes sleeping mobile and web apps with push).
///
/// With no arguments it runs on embedded defaults: a standalone registrar on
/// loopback (SIP UDP+TCP 127.0.0.1:5060, TLS 127.0.0.1:5061, HTTPS/WSS
/// 127.0.0.1:8443) with a self-signed certificate in ./sipwake-data/.
/// Every configuration key is documented in docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "sipwake", version)]
struct Cli {
    /// TOML configuration file; every key is optional, unknown keys are errors
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Data directory (TLS certificate, store); overrides `data_dir` from the file
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Check the configuration, print a summary of the effective settings (no secrets) and exit
    #[arg(long)]
    check: bool,
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] sipwake::config::ConfigError),
    #[error("invalid config value `log`: {0}")]
    Log(String),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Acme(#[from] sipwake::acme::AcmeError),
    #[error(transparent)]
    Gateway(#[from] RuntimeError),
    #[error(transparent)]
    Bind(#[from] sipwake::transport::BindError),
    #[error(transparent)]
    Web(#[from] sipwake::web::WebFilesError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be up yet: plain stderr.
            eprintln!("sipwake: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, StartError> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
        config.validate()?;
    }
    Ok(config)
}

/// What `--check` prints: the effective settings that matter for operation,
/// never secrets (API tokens, store key and provider credentials stay out).
fn check_summary(config: &Config) -> String {
    let addrs = |v: &[std::net::SocketAddr]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let opt = |a: Option<std::net::SocketAddr>| a.map_or("off".to_string(), |a| a.to_string());
    let mode = if config.is_standalone() {
        "standalone registrar".to_string()
    } else {
        format!("upstream {}", config.upstream.server)
    };
    let s = &config.sip;
    let st = &config.store;
    let store = match st.backend {
        sipwake::config::StoreBackend::Sqlite if st.path.as_os_str().is_empty() => {
            format!("sqlite {}", config.data_files().store.display())
        }
        sipwake::config::StoreBackend::Sqlite => format!("sqlite {}", st.path.display()),
        sipwake::config::StoreBackend::Redis => match &st.redis_sentinel {
            Some(sen) => format!(
                "redis via Sentinel master `{}` ({} sentinel(s)), prefix `{}`",
                sen.master,
                sen.urls.len(),
                st.redis_prefix
            ),
            None => format!(
                "redis {}, prefix `{}`",
                st.redis_urls
                    .iter()
                    .map(|u| sipwake_store::redis::redact_url(u))
                    .collect::<Vec<_>>()
                    .join(" "),
                st.redis_prefix
            ),
        },
    };
    let cluster = if config.cluster.enabled {
        format!(
            "node `{}` at {}",
            if config.cluster.node_id.is_empty() {
                "(host name)"
            } else {
                &config.cluster.node_id
            },
            if config.cluster.sip_uri.is_empty() {
                s.udp.first().map_or(String::new(), |a| format!("sip:{a}"))
            } else {
                config.cluster.sip_uri.clone()
            }
        )
    } else {
        "off".into()
    };
    format!(
        "config ok\nmode: {mode}\ndata_dir: {}\nlog: {} ({:?})\nstore: {store}\ncluster: {cluster}\n\
         sip udp: {}\nsip tcp: {}\nsip tls: {}\nhttps: {}\nhttp: {}\n\
         limits: max_message_bytes={} max_headers={} max_connections={} idle_timeout_secs={} read_timeout_secs={}\n\
         tls reload: {}\nacme: {}\n\
         api tokens: {}\n",
        config.data_dir.display(),
        config.log,
        config.log_format,
        addrs(&s.udp),
        addrs(&s.tcp),
        addrs(&s.tls),
        opt(config.http.https),
        opt(config.http.http),
        s.max_message_bytes,
        s.max_headers,
        s.max_connections,
        s.idle_timeout_secs,
        s.read_timeout_secs,
        if s.tls_reload_secs == 0 {
            "on SIGHUP".to_string()
        } else {
            format!("on SIGHUP and every {} s", s.tls_reload_secs)
        },
        if config.acme.enabled() {
            format!(
                "{} for {} ({})",
                config.acme.directory,
                config.acme.domains.join(" "),
                config.acme.challenges.join(" ")
            )
        } else {
            "off".to_string()
        },
        config.api.tokens.len(),
    )
}

fn init_logging(filter: &str, format: LogFormat) -> Result<(), StartError> {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    // RUST_LOG, when set, overrides the configured filter (debugging aid).
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => env,
        _ => filter.to_string(),
    };
    let filter = EnvFilter::try_new(&filter).map_err(|e| StartError::Log(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), StartError> {
    let config = load_config(&cli)?;
    if cli.check {
        print!("{}", check_summary(&config));
        return Ok(());
    }
    init_logging(&config.log, config.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    runtime.block_on(serve(Arc::new(config)))
}

async fn serve(config: Arc<Config>) -> Result<(), StartError> {
    let stop = StopSignals::install();
    tls::install_crypto_provider();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), data_dir = %config.data_dir.display(), "sipwake starting");
    if config.is_standalone() {
        tracing::info!("mode: standalone registrar (no upstream.server configured)");
    } else {
        tracing::info!(upstream = %config.upstream.server, "mode: upstream");
    }

    let needs_cert = !config.sip.tls.is_empty() || config.http.https.is_some();
    let certs = if needs_cert {
        let advertise = config.advertise().map(|(host, _)| host);
        let material = tls::load_or_generate(&config, advertise.as_deref())?;
        match &material.source {
            tls::CertSource::Configured(p) => {
                tracing::info!(cert = %p.display(), reload_secs = config.sip.tls_reload_secs,
                    "TLS certificate from config (reloaded on SIGHUP and when the files change)")
            }
            tls::CertSource::Generated(p) => {
                tracing::info!(cert = %p.display(), "generated a self-signed TLS certificate")
            }
            tls::CertSource::Reused(p) => {
                tracing::info!(cert = %p.display(), "using the self-signed TLS certificate")
            }
        }
        Some(tls::Certificates::new(&material, &config)?)
    } else {
        None
    };
    // TLS-ALPN-01 is answered on the HTTPS listener only: SIP TLS clients
    // that offer ALPN must not be refused for a protocol list they do not share.
    let alpn_challenge =
        config.acme.enabled() && config.acme.challenges.iter().any(|c| c == "tls-alpn-01");
    let https_alpn: &[&[u8]] = if alpn_challenge {
        &[b"http/1.1", tls::ACME_TLS_ALPN]
    } else {
        &[b"http/1.1"]
    };
    let (sip_tls, https_tls) = match &certs {
        Some(c) => (
            Some(tls::resolving_server_config(c.clone(), &[])),
            Some(tls::resolving_server_config(c.clone(), https_alpn)),
        ),
        None => (None, None),
    };
    let acme = match (&certs, config.acme.enabled()) {
        (Some(c), true) => Some(sipwake::acme::Acme::new(&config, c.clone())?),
        _ => None,
    };

    let transports = TransportHandle::new(&config, Some(tls::client_config(&config)?));
    let runtime = Runtime::build(&config, transports.clone())?;
    for l in transports
        .start(&config, sip_tls, runtime.proxy.clone())
        .await?
    {
        tracing::info!(transport = %l.kind.log_name(), addr = %l.addr, "listening");
    }
    let mut http_listeners = Vec::new();
    if let Some(addr) = config.http.https {
        http_listeners.push(http::bind(&transports, addr, https_tls).await?);
    }
    if let Some(addr) = config.http.http {
        http_listeners.push(http::bind(&transports, addr, None).await?);
    }
    let web = sipwake::web::WebSite::from_section(
        &config.web,
        Some(runtime.push.dispatcher.vapid_public_key().to_string()),
    )?;
    let app = http::router(transports.clone(), config.web.allowed_origins.clone())
        // Web demo, service worker, /sdk/, /api/v1/webconfig ([web] section).
        .merge(sipwake::web::router(web))
        .merge(sipwake::api::router(runtime.api_state(&config.api.tokens)))
        .merge(sipwake::metrics::router(
            runtime.clone(),
            &config.api.tokens,
            certs.clone(),
        ));
    let app = match &certs {
        Some(c) => app.merge(sipwake::acme::router(c.clone())),
        None => app,
    };
    reload_on_sighup(runtime.push.clone(), certs.clone());
    if let Some(c) = &certs {
        runtime.set_certificates(c.clone());
        c.spawn_file_watch(Duration::from_secs(config.sip.tls_reload_secs));
    }
    if config.api.tokens.is_empty() {
        tracing::info!("operator API disabled (no [api] tokens)");
    }
    for l in http_listeners {
        let scheme = if l.kind().is_secure() {
            "https"
        } else {
            "http"
        };
        tracing::info!(transport = %l.kind().log_name(), addr = %l.addr, scheme = %scheme, "listening");
        http::serve(&transports, l, app.clone());
    }

    if config.is_standalone() && config.registrar.users_file.as_os_str().is_empty() {
        if config.exposes_non_loopback() {
            tracing::warn!(
                "standalone registrar WITHOUT authentication on a non-loopback address: anyone who can reach it can register (set registrar.users_file)"
            );
        } else {
            tracing::info!(
                "standalone registrar without registrar.users_file: listening on loopback only"
            );
        }
    }
    transports.set_ready();
    runtime.listeners_ready();
    tracing::info!("ready");
    // After the listeners: the CA validates against them.
    if let Some(acme) = &acme {
        acme.spawn();
    }

    stop.wait().await;
    tracing::info!("shutting down: closing listeners and connections");
    let clean = transports.shutdown(Duration::from_secs(5)).await;
    if let Some(c) = runtime.cluster.clone() {
        // The other nodes stop counting on this one at once.
        let _ = tokio::task::spawn_blocking(move || c.leave()).await;
    }
    if clean {
        tracing::info!("stopped");
    } else {
        tracing::warn!("stopped (some connections did not close within 5 s)");
    }
    Ok(())
}

/// SIGTERM / SIGINT, with the handlers installed at construction: a signal
/// that arrives right after "ready" must still be a graceful stop.
struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn install() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM/SIGINT; falling back to Ctrl-C only");
                    None
                }
            };
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.streams {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGHUP re-reads push templates, keys and certificates (the manual's
/// reloadfcm / pushkitrst) and the configured TLS certificate; a broken file
/// keeps the previous set.
fn reload_on_sighup(push: Arc<PushService>, certs: Option<Arc<tls::Certificates>>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /api/v1/reload");
            return;
        };
        while hup.recv().await.is_some() {
            if let Some(c) = &certs {
                c.reload_logged("SIGHUP", true);
            }
            match push.reload() {
                Ok(()) => tracing::info!("SIGHUP: push templates, keys and certificates reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: reload failed; keeping the previous configuration")
                }
            }
        }
    });
}
