//! `[acme]`: automatic certificates from an ACME CA (RFC 8555), e.g. Let's
//! Encrypt. A section of its own because the certificate keys it replaces
//! (`[sip] tls_cert` / `tls_key`) serve HTTPS and SIP TLS alike: the issued
//! certificate does too (docs/tls.md).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The challenge types sipwake answers itself.
pub const CHALLENGES: &[&str] = &["http-01", "tls-alpn-01"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// The CA's directory URL (`https://…/directory`); empty = ACME off.
    pub directory: String,
    /// Account contacts, `mailto:` URIs.
    pub contact: Vec<String>,
    /// The certificate's identifiers: DNS names and IP addresses.
    pub domains: Vec<String>,
    /// Challenge types to answer, in order of preference.
    pub challenges: Vec<String>,
    /// Renew this long before expiry; 0 = when 2/3 of the lifetime passed.
    pub renew_before_secs: u64,
    /// Extra CA certificates (PEM) trusted for the ACME server's HTTPS.
    pub ca: PathBuf,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            directory: String::new(),
            contact: Vec::new(),
            domains: Vec::new(),
            challenges: vec!["tls-alpn-01".into()],
            renew_before_secs: 0,
            ca: PathBuf::new(),
        }
    }
}

/// One `[acme] domains` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeIdentifier {
    Dns(String),
    Ip(IpAddr),
}

impl AcmeConfig {
    pub fn enabled(&self) -> bool {
        !self.directory.trim().is_empty()
    }

    /// The identifiers (validated at load).
    pub fn identifiers(&self) -> Vec<AcmeIdentifier> {
        self.domains
            .iter()
            .map(|d| match d.trim().parse::<IpAddr>() {
                Ok(ip) => AcmeIdentifier::Ip(ip),
                Err(_) => AcmeIdentifier::Dns(d.trim().to_ascii_lowercase()),
            })
            .collect()
    }

    /// Checks: the key (`acme.…`) and what is wrong. `http` / `https`: the
    /// plain HTTP and HTTPS listeners are configured.
    pub(super) fn validate(
        &self,
        http: bool,
        https: bool,
        sip_tls: bool,
    ) -> Result<(), (&'static str, String)> {
        if !self.enabled() {
            return Ok(());
        }
        if !https && !sip_tls {
            return Err((
                "acme.directory",
                "is set, but no TLS listener ([http] https, [sip] tls) would serve the certificate"
                    .into(),
            ));
        }
        let dir = self.directory.trim();
        if !dir.starts_with("https://") || dir.len() <= "https://".len() {
            return Err((
                "acme.directory",
                format!("`{dir}`: must be an https:// URL (RFC 8555)"),
            ));
        }
        if self.domains.is_empty() {
            return Err((
                "acme.domains",
                "must list at least one DNS name or IP address".into(),
            ));
        }
        for d in &self.domains {
            let d = d.trim();
            if d.parse::<IpAddr>().is_ok() {
                continue;
            }
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !ok {
                return Err((
                    "acme.domains",
                    format!(
                        "`{d}` is not a DNS name or IP address (wildcards need DNS-01, which sipwake does not answer)"
                    ),
                ));
            }
        }
        for c in &self.contact {
            let addr = c.strip_prefix("mailto:").unwrap_or("");
            if !addr.contains('@') || addr.contains(char::is_whitespace) {
                return Err((
                    "acme.contact",
                    format!("`{c}`: must be a mailto: URI such as `mailto:ops@example.org`"),
                ));
            }
        }
        if self.challenges.is_empty() {
            return Err((
                "acme.challenges",
                "must list \"http-01\" and/or \"tls-alpn-01\"".into(),
            ));
        }
        for (i, c) in self.challenges.iter().enumerate() {
            if !CHALLENGES.contains(&c.as_str()) {
                return Err((
                    "acme.challenges",
                    format!("`{c}`: sipwake answers \"http-01\" and \"tls-alpn-01\""),
                ));
            }
            if self.challenges[..i].contains(c) {
                return Err(("acme.challenges", format!("lists `{c}` twice")));
            }
        }
        if self.challenges.iter().any(|c| c == "http-01") && !http {
            return Err((
                "acme.challenges",
                "\"http-01\" is answered on the plain HTTP listener: set [http] http (port 80 for a public CA)".into(),
            ));
        }
        if self.challenges.iter().any(|c| c == "tls-alpn-01") && !https {
            return Err((
                "acme.challenges",
                "\"tls-alpn-01\" is answered on the HTTPS listener: set [http] https (port 443 for a public CA)".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const ON: &str = "[acme]\ndirectory = \"https://ca.example/dir\"\ndomains = [\"gw.example.org\", \"192.0.2.7\", \"::1\"]\n";

    #[test]
    fn acme_section_parses_with_defaults() {
        let c = Config::from_toml_str("", None).unwrap();
        assert!(!c.acme.enabled());
        assert_eq!(c.acme.challenges, ["tls-alpn-01"]);
        assert_eq!(c.sip.tls_reload_secs, 5);
        let c = Config::from_toml_str(
            &format!(
                "{ON}contact = [\"mailto:ops@example.org\"]\nchallenges = [\"http-01\", \"tls-alpn-01\"]\n\
                 renew_before_secs = 86400\nca = \"/etc/ca.pem\"\n[http]\nhttp = \"127.0.0.1:80\"\n"
            ),
            None,
        )
        .unwrap();
        assert!(c.acme.enabled());
        assert_eq!(
            c.acme.identifiers(),
            vec![
                super::AcmeIdentifier::Dns("gw.example.org".into()),
                super::AcmeIdentifier::Ip("192.0.2.7".parse().unwrap()),
                super::AcmeIdentifier::Ip("::1".parse().unwrap()),
            ]
        );
        assert_eq!(c.acme.renew_before_secs, 86400);
    }

    #[test]
    fn the_documented_all_defaults_example_is_the_default() {
        let doc = include_str!("../../../docs/configuration.md");
        let example = doc
            .split_once("## Complete example (all defaults)")
            .and_then(|(_, rest)| rest.split_once("```toml\n"))
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(toml, _)| toml)
            .expect("the example block");
        assert!(example.contains("[acme]"));
        assert_eq!(
            Config::from_toml_str(example, None).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn acme_mistakes_name_the_key() {
        for (text, key) in [
            (
                "[acme]\ndirectory = \"http://ca.example/dir\"\ndomains = [\"a.example\"]"
                    .to_string(),
                "acme.directory",
            ),
            (
                "[acme]\ndirectory = \"https://ca.example/dir\"".to_string(),
                "acme.domains",
            ),
            (
                "[acme]\ndirectory = \"https://ca.example/dir\"\ndomains = [\"*.example.org\"]"
                    .to_string(),
                "acme.domains",
            ),
            (
                "[acme]\ndirectory = \"https://ca.example/dir\"\ndomains = [\"a b\"]".to_string(),
                "acme.domains",
            ),
            (
                format!("{ON}contact = [\"ops@example.org\"]"),
                "acme.contact",
            ),
            (format!("{ON}challenges = []"), "acme.challenges"),
            (format!("{ON}challenges = [\"dns-01\"]"), "acme.challenges"),
            (
                format!("{ON}challenges = [\"tls-alpn-01\", \"tls-alpn-01\"]"),
                "acme.challenges",
            ),
            // http-01 needs the plain HTTP listener (off by default).
            (format!("{ON}challenges = [\"http-01\"]"), "acme.challenges"),
            // tls-alpn-01 needs HTTPS.
            (format!("{ON}[http]\nhttps = \"\""), "acme.challenges"),
            // No TLS listener at all.
            (
                format!(
                    "{ON}challenges = [\"http-01\"]\n[http]\nhttps = \"\"\nhttp = \"127.0.0.1:80\"\n[sip]\ntls = []"
                ),
                "acme.directory",
            ),
            (
                "[sip]\ntls_reload_secs = 86401".to_string(),
                "sip.tls_reload_secs",
            ),
            (format!("{ON}renew_before_secs = -1"), "renew_before_secs"),
            (format!("{ON}colour = 1"), "colour"),
        ] {
            let err = Config::from_toml_str(&text, None).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
