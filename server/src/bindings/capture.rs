//! Reading X-MPUSH / X-PIID / X-Sy.* headers and RFC 8599 `pn-*` Contact
//! params (and their legacy forms) out of a REGISTER.

use sipwake_core::feature_caps::FeatureCaps;
use sipwake_core::mpush::{Mpush, MpushBinding, Provider, parse_mpush};
use sipwake_core::pn::{PnProvider, parse_pn_params, pn_to_mpush};
use sipwake_sip::{Aor, Contacts, Message};
use sipwake_store::{Binding, BindingSource, Piid, PushTarget, Upstream, device_key};

/// What the gateway supports, from `[push]` and the configured providers.
#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    /// Providers with credentials configured (X-MPUSH letters).
    pub supported: Vec<Provider>,
    /// The manual's `pushnotification_send555`: answer 555 to an
    /// unsupported provider instead of just not listing it.
    pub send_555: bool,
    /// `pushnotification_removeat_nopn`: a REGISTER without push data
    /// removes the device's binding, as `null` would.
    pub remove_at_nopn: bool,
    /// `pushnotification_removeat_noprid`: `pn-provider` without `pn-prid`
    /// removes the device's binding instead of being a capability query.
    pub remove_at_noprid: bool,
}

impl CaptureOptions {
    fn supports(&self, p: Provider) -> bool {
        self.supported.contains(&p)
    }

    fn supported_pns(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for p in &self.supported {
            let name = pns_name(*p).to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// RFC 8599 service name of an X-MPUSH provider.
fn pns_name(p: Provider) -> &'static str {
    match p {
        Provider::AndroidFcm | Provider::IosFcm => "fcm",
        Provider::Apns => "apns",
        Provider::WebPush => "webpush",
    }
}

/// The push part of one REGISTER.
#[derive(Debug, Clone, PartialEq)]
pub enum Capture {
    /// No push data: an ordinary registration.
    None,
    /// Store (or refresh) this device's binding.
    Bind(Box<Binding>),
    /// `X-MPUSH: null` / `pn-prid=null`: remove push for this device
    /// (`device: None` = every device of the user, when the Contact names no
    /// instance).
    Remove { aor: String, device: Option<String> },
    /// RFC 8599 §5.1 capability query: `pn-provider` without `pn-prid`.
    Query { provider: String },
    /// A provider this gateway has no credentials for.
    Unsupported { provider: String },
    /// Malformed push data; the registration continues without push.
    Invalid { reason: String },
}

/// Everything the proxy needs to act on a REGISTER's push data.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterPush {
    pub capture: Capture,
    /// `Feature-Caps` value for the 200 OK, when push is supported.
    pub feature_caps: Option<String>,
    /// Answer `555 Push Notification Service Not Supported` (RFC 8599 §5.2)
    /// instead of forwarding.
    pub reject_555: bool,
    /// The REGISTER removes the Contact (Expires 0 / `;expires=0`).
    pub unregister: bool,
}

/// The user key of a REGISTER: the canonical AOR of its To URI
/// (`sip:user@host`, the same key the registrar uses). Only SIP/SIPS AORs
/// with a user part can have push.
pub fn aor_of(req: &Message) -> Option<Aor> {
    Aor::from_uri(&req.to().ok()?.uri)
}

/// Reads the push data of a REGISTER. `now` is unix seconds.
pub fn capture(req: &Message, now: i64, opts: &CaptureOptions) -> RegisterPush {
    let unregister = is_unregister(req);
    let mut out = RegisterPush {
        capture: Capture::None,
        feature_caps: None,
        reject_555: false,
        unregister,
    };
    let Some(aor) = aor_of(req).map(|a| a.to_string()) else {
        return out;
    };
    let contact = first_contact(req);
    let (instance, reg_id) = contact
        .as_ref()
        .map(|c| (c.instance.clone(), c.reg_id))
        .unwrap_or_default();

    // X-MPUSH wins over pn-* when both are present (the manual's own format).
    let (source, parsed) = if let Some(v) = req.header("X-MPUSH") {
        (
            BindingSource::Mpush,
            parse_mpush(v).map_err(|e| e.to_string()),
        )
    } else if let Some(c) = &contact {
        match parse_pn_params(&c.value) {
            Ok(None) if opts.remove_at_nopn => (BindingSource::Rfc8599, Ok(Mpush::Remove)),
            Ok(None) => return out,
            Ok(Some(pn)) if pn.prid.is_none() && opts.remove_at_noprid => {
                (BindingSource::Rfc8599, Ok(Mpush::Remove))
            }
            Ok(Some(pn)) if pn.prid.is_none() => {
                // A capability query: say what we support, bind nothing.
                let name = pn.provider.name().to_string();
                let supported = provider_of_pn(&pn.provider).is_some_and(|p| opts.supports(p));
                out.feature_caps = caps(opts.supported_pns());
                out.reject_555 = !supported && opts.send_555;
                out.capture = Capture::Query { provider: name };
                return out;
            }
            Ok(Some(pn)) => match pn_to_mpush(&pn) {
                Ok(m) => (BindingSource::Rfc8599, Ok(m)),
                Err(e) => {
                    if let PnProvider::Other(name) = &pn.provider {
                        out.reject_555 = opts.send_555;
                        out.capture = Capture::Unsupported {
                            provider: name.clone(),
                        };
                        return out;
                    }
                    (BindingSource::Rfc8599, Err(e.to_string()))
                }
            },
            Err(e) => (BindingSource::Rfc8599, Err(e.to_string())),
        }
    } else if opts.remove_at_nopn && matches!(req.contacts(), Ok(Contacts::Star)) {
        // `Contact: *` without push data: every device of the user.
        (BindingSource::Rfc8599, Ok(Mpush::Remove))
    } else {
        // No Contact: a registration query (RFC 3261 §10.2.3) binds nothing.
        return out;
    };

    let binding = match parsed {
        Err(reason) => {
            out.capture = Capture::Invalid { reason };
            return out;
        }
        Ok(Mpush::Remove) => {
            let device = instance
                .as_deref()
                .map(|i| device_key(Some(i), reg_id, Provider::AndroidFcm, ""));
            out.capture = Capture::Remove { aor, device };
            return out;
        }
        Ok(Mpush::Bind(b)) => b,
    };
    if !opts.supports(binding.provider) {
        out.reject_555 = opts.send_555;
        out.capture = Capture::Unsupported {
            provider: pns_name(binding.provider).to_string(),
        };
        return out;
    }
    let piid = match req.header("X-PIID").map(super::piid::normalize) {
        None => None,
        Some(Ok(p)) => Some(Piid::new(p)),
        Some(Err(e)) => {
            // Push still works without it; only the upstream keeper needs it.
            // Never log the value: it is a credential hash.
            tracing::warn!(aor = %aor, error = %e, "X-PIID ignored: 32 hex digits (md5 of user:realm:password), or SHA-256:/SHA-512-256: items");
            None
        }
    };
    out.feature_caps = caps(vec![pns_name(binding.provider).to_string()]);
    if contact.as_ref().is_some_and(|c| c.pnsreg) && !unregister {
        // RFC 8599 §4.1.1 / §5.3: the app refreshes its registration
        // itself; answer how many seconds before expiry it must, after
        // which the gateway refreshes for it (keeper or ntype 4 push).
        let asked = asked_expires(req, contact.as_ref());
        let lead = super::refresh_lead(asked).as_secs_f64().ceil() as u32;
        out.feature_caps = Some(
            FeatureCaps {
                pns: vec![pns_name(binding.provider).to_string()],
                pnsreg: Some(Some(lead)),
                pnspurr: None,
            }
            .header_value(),
        );
    }
    out.capture = Capture::Bind(Box::new(to_binding(
        req, aor, binding, source, contact, piid, now,
    )));
    out
}

fn caps(pns: Vec<String>) -> Option<String> {
    (!pns.is_empty()).then(|| {
        FeatureCaps {
            pns,
            pnsreg: None,
            pnspurr: None,
        }
        .header_value()
    })
}

fn provider_of_pn(p: &PnProvider) -> Option<Provider> {
    match p {
        PnProvider::Apns => Some(Provider::Apns),
        PnProvider::Fcm => Some(Provider::AndroidFcm),
        PnProvider::WebPush => Some(Provider::WebPush),
        PnProvider::Other(_) => None,
    }
}

/// The parts of the first Contact that matter for push.
struct ContactInfo {
    /// The first Contact value as sent (name-addr or addr-spec with params).
    value: String,
    /// Its URI.
    uri: String,
    instance: Option<String>,
    reg_id: Option<u32>,
    /// `+sip.pnsreg` (RFC 8599 media feature tag): the app can refresh its
    /// registration without a push.
    pnsreg: bool,
    /// Its `expires` parameter.
    expires: Option<u32>,
}

/// The registration interval the REGISTER asks for: the Contact's
/// `expires`, else the Expires header, else RFC 3261's default 3600.
fn asked_expires(req: &Message, contact: Option<&ContactInfo>) -> u32 {
    contact
        .and_then(|c| c.expires)
        .or_else(|| req.expires().ok().flatten())
        .unwrap_or(3600)
}

fn first_contact(req: &Message) -> Option<ContactInfo> {
    let Ok(Contacts::List(list)) = req.contacts() else {
        return None;
    };
    let c = list.into_iter().next()?;
    let value = req
        .values("Contact")
        .next()
        .unwrap_or(c.uri.raw)
        .to_string();
    Some(ContactInfo {
        value,
        uri: c.uri.raw.to_string(),
        instance: c.sip_instance().map(str::to_string),
        reg_id: c.reg_id(),
        pnsreg: c.param("+sip.pnsreg").is_some(),
        expires: c
            .param("expires")
            .flatten()
            .and_then(|v| v.trim().parse().ok()),
    })
}

fn is_unregister(req: &Message) -> bool {
    if let Ok(Contacts::Star) = req.contacts() {
        return true;
    }
    let contact_expires = match req.contacts() {
        Ok(Contacts::List(list)) => list.first().and_then(|c| c.expires()),
        _ => None,
    };
    match contact_expires {
        Some(e) => e == 0,
        None => matches!(req.expires(), Ok(Some(0))),
    }
}

fn to_binding(
    req: &Message,
    aor: String,
    b: MpushBinding,
    source: BindingSource,
    contact: Option<ContactInfo>,
    piid: Option<Piid>,
    now: i64,
) -> Binding {
    let header = |n: &str| {
        req.header(n)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let (instance, reg_id) = contact
        .as_ref()
        .map(|c| (c.instance.clone(), c.reg_id))
        .unwrap_or_default();
    let app_expires = asked_expires(req, contact.as_ref());
    let auth_user = req
        .to()
        .ok()
        .and_then(|to| to.uri.user)
        .map(|u| String::from_utf8_lossy(&sipwake_sip::text::percent_decode(u)).into_owned());
    Binding {
        device: device_key(instance.as_deref(), reg_id, b.provider, &b.token),
        push: PushTarget {
            provider: b.provider,
            env: b.env,
            package: b.package,
            token: b.token,
        },
        source,
        contact: contact.map(|c| c.uri).unwrap_or_default(),
        auth_user,
        piid,
        upstream: Upstream {
            server: header("X-Sy.Uppersrv"),
            proxy: header("X-Sy.Upperproxy"),
            domain: header("X-Sy.Uppersrvd"),
        },
        user_agent: header("User-Agent"),
        created_at: now,
        last_seen: now,
        upstream_expires_at: None,
        app_expires: Some(app_expires),
        push_failures: 0,
        aor,
    }
}

#[cfg(test)]
mod tests;
