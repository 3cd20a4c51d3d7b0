//! One push device of a held request: how the request reaches it, its
//! state, and which registration wakes it (the keys differ —
//! `instance:<urn>` in the store, the raw `+sip.instance` value or the
//! Contact URI in registrations — so matching normalises both).
//!
//! ```text
//!            ┌── Reach::Held ──▶ Waiting(promised branch) ──registers──▶ Delivered
//!  sleeper ──┤                      │  └─ push fails / timeout / CANCEL ─▶ Dropped
//!            │                      │       (the promise is dropped with 480 / 487)
//!            ├── Reach::Udp ───▶ Probing ──silent for the window──▶ Waiting(…)
//!            │                      ├─ answers at the old address ─▶ Delivered
//!            │                      ├─ registers again ────────────▶ Delivered
//!            │                      └─ call answered / ends ───────▶ Dropped
//!            └── Reach::Live ──▶ Delivered (pushed only: level 3 / chat_when 2)
//! ```
//!
//! A `Waiting` device owns its [`HeldBranch`]; leaving `Waiting` hands it
//! on to exactly one settlement (deliver, release, drop).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use sipwake_store::Binding;
use tokio::time::Instant;

use crate::bindings::{instance_of_device, normalize_instance};
use crate::net::Destination;
use crate::proxy::context::HeldBranch;

/// Whether a registrar identity (instance value or Contact URI) names no
/// instance: the registrar then uses the Contact URI.
fn is_contact_uri(identity: &str) -> bool {
    let n = normalize_instance(identity).to_ascii_lowercase();
    n.starts_with("sip:") || n.starts_with("sips:")
}

/// Whether this binding is one of the devices reached at once (`live`
/// holds their instances and Contact URIs).
pub fn is_live(b: &Binding, live: &[String]) -> bool {
    let inst = instance_of_device(&b.device);
    live.iter()
        .any(|l| inst.as_deref() == Some(normalize_instance(l).as_str()) || *l == b.contact)
}

/// Where a push device is in its held request.
#[derive(Debug)]
pub enum DevState {
    /// A UDP device got the request at its last known address; pushed
    /// only if it does not answer within the no-answer window.
    Probing,
    /// Pushed (or being pushed); the request waits for a registration on
    /// the branch promised to this device.
    Waiting(HeldBranch),
    Delivered,
    /// Timed out, cancelled, or the push failed: never delivered.
    Dropped,
}

impl DevState {
    pub fn is_waiting(&self) -> bool {
        matches!(self, DevState::Waiting(_))
    }

    /// Leaves `Waiting` (or `Probing`) for `next`; the promised branch, if
    /// any, goes to the caller, who settles it.
    pub fn leave(&mut self, next: DevState) -> Option<HeldBranch> {
        match std::mem::replace(self, next) {
            DevState::Waiting(h) => Some(h),
            _ => None,
        }
    }
}

/// How the request reaches a push device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// No usable flow: pushed and held until it registers again.
    Held,
    /// UDP: sent at once to plan target `n`, pushed and held if it stays
    /// silent (see `wake::udp`).
    Udp(usize),
    /// A live connection (plan target `n`) that is pushed anyway
    /// (`level = 3`, `chat_when = 2`); never held.
    Live(usize),
}

/// The branch that still resends to a UDP device's last address.
#[derive(Debug, Clone)]
pub struct OldBranch {
    /// Index in the request's `ResponseContext`.
    pub idx: usize,
    pub dest: Destination,
    /// Set when the device answered there after its push (for
    /// `removeon_subscallfail` on that branch's final).
    pub woke: Arc<AtomicBool>,
}

/// One push device of a held request.
#[derive(Debug)]
pub struct Sleeper {
    pub binding: Binding,
    /// Normalised instance from the device key.
    pub instance: Option<String>,
    /// Upstream mode: the Path registration's exact instance.
    pub path_instance: Option<String>,
    pub state: DevState,
    pub pushed_at: Option<Instant>,
    /// Registrar identities already matched to this device (refreshes of a
    /// token-keyed device after it woke).
    pub seen: Vec<String>,
    pub reach: Reach,
    pub old: Option<OldBranch>,
}

impl Sleeper {
    /// A device found for a request, in its first state: `Held` devices
    /// wait on `promise` (the caller holds one branch per held device).
    pub fn new(
        binding: Binding,
        path_instance: Option<String>,
        reach: Reach,
        promise: Option<HeldBranch>,
    ) -> Sleeper {
        Sleeper {
            instance: instance_of_device(&binding.device),
            binding,
            path_instance,
            state: match (reach, promise) {
                (Reach::Held, Some(p)) => DevState::Waiting(p),
                (Reach::Held, None) | (Reach::Udp(_), _) => DevState::Probing,
                // It has the request on its flow already.
                (Reach::Live(_), _) => DevState::Delivered,
            },
            pushed_at: None,
            seen: Vec::new(),
            reach,
            old: None,
        }
    }

    /// Still to be reached (held, or silent so far at its UDP address).
    pub fn open(&self) -> bool {
        matches!(self.state, DevState::Waiting(_) | DevState::Probing)
    }

    /// An exact match: same Path registration, same instance, same Contact,
    /// or an identity matched before.
    fn is(&self, identity: &str) -> bool {
        if let Some(p) = &self.path_instance {
            return p == identity || self.seen.iter().any(|s| s == identity);
        }
        self.seen.iter().any(|s| s == identity)
            || self.binding.contact == identity
            || self.instance.as_deref() == Some(normalize_instance(identity).as_str())
    }
}

/// The device a registration (by its registrar identity) wakes, if any.
/// An exact match wins, whatever its state (a refresh of a device that
/// already got the request matches it and nothing else). Without one, a
/// registration that names no instance wakes the only waiting token-keyed
/// device — its Contact may have changed with its address.
pub fn match_device(sleepers: &[Sleeper], identity: &str) -> Option<usize> {
    if let Some(i) = sleepers.iter().position(|s| s.is(identity)) {
        return Some(i);
    }
    if !is_contact_uri(identity) {
        return None;
    }
    // Upstream mode: a Path registration without instance is keyed by its
    // Contact, which changes with the port (a UDP app woken on a new socket).
    let mut candidates = sleepers.iter().enumerate().filter(|(_, s)| {
        s.open() && s.instance.is_none() && s.path_instance.as_deref().is_none_or(is_contact_uri)
    });
    match (candidates.next(), candidates.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An open device (no context needed: probing, not yet promised).
    fn open(b: Binding, path_instance: Option<String>) -> Sleeper {
        Sleeper::new(b, path_instance, Reach::Held, None)
    }

    #[test]
    fn device_keys_and_registrar_identities_meet() {
        assert_eq!(
            normalize_instance("\"<urn:uuid:0001>\""),
            "urn:uuid:0001".to_owned()
        );
        assert_eq!(
            instance_of_device("instance:urn:uuid:0001;reg-id=1").as_deref(),
            Some("urn:uuid:0001")
        );
        assert_eq!(instance_of_device("token:a:xyz"), None);
        assert!(is_contact_uri("sip:a@127.0.0.1:5060"));
        assert!(!is_contact_uri("\"<urn:uuid:1>\""));
    }

    fn binding(device: &str, contact: &str) -> Binding {
        use sipwake_core::mpush::{Provider, PushEnv};
        Binding {
            aor: "sip:a@h".into(),
            device: device.into(),
            push: sipwake_store::PushTarget {
                provider: Provider::AndroidFcm,
                env: PushEnv::default(),
                package: "p".into(),
                token: "t".into(),
            },
            source: sipwake_store::BindingSource::Mpush,
            contact: contact.into(),
            auth_user: None,
            piid: None,
            upstream: Default::default(),
            user_agent: None,
            created_at: 0,
            last_seen: 0,
            upstream_expires_at: None,
            app_expires: None,
            push_failures: 0,
        }
    }

    #[test]
    fn a_registration_matches_one_device_and_refreshes_match_it_again() {
        let mut s = vec![
            open(binding("instance:urn:uuid:1", "sip:a@1.1.1.1"), None),
            open(binding("token:a:t2", "sip:a@2.2.2.2"), None),
        ];
        assert_eq!(match_device(&s, "\"<urn:uuid:1>\""), Some(0));
        assert_eq!(match_device(&s, "\"<urn:uuid:9>\""), None);
        // No instance, new Contact: the only waiting token device.
        assert_eq!(match_device(&s, "sip:a@3.3.3.3"), Some(1));
        s[1].state = DevState::Delivered;
        s[1].seen.push("sip:a@3.3.3.3".into());
        assert_eq!(
            match_device(&s, "sip:a@3.3.3.3"),
            Some(1),
            "the same device again"
        );
        assert_eq!(
            match_device(&s, "sip:a@4.4.4.4"),
            None,
            "no waiting token device left"
        );
        // Two waiting token devices: an unknown Contact is ambiguous.
        let t = vec![
            open(binding("token:a:x", "sip:a@5.5.5.5"), None),
            open(binding("token:a:y", "sip:a@6.6.6.6"), None),
        ];
        assert_eq!(match_device(&t, "sip:a@7.7.7.7"), None);
        assert_eq!(match_device(&t, "sip:a@6.6.6.6"), Some(1));
    }

    #[test]
    fn a_path_registration_without_instance_matches_its_token_device_at_a_new_contact() {
        let old = "sip:a@1.1.1.1:5060";
        let mut s = vec![open(binding("token:a:t", old), Some(old.to_owned()))];
        assert_eq!(match_device(&s, "sip:a@1.1.1.1:6000"), Some(0));
        // A Path device with an instance needs that exact instance.
        let with_inst = vec![open(
            binding("token:a:t", old),
            Some("\"<urn:uuid:1>\"".to_owned()),
        )];
        assert_eq!(match_device(&with_inst, "sip:a@1.1.1.1:6000"), None);
        // Once woken, its new identity matches it again (refreshes).
        s[0].state = DevState::Delivered;
        s[0].seen.push("sip:a@1.1.1.1:6000".into());
        assert_eq!(match_device(&s, "sip:a@1.1.1.1:6000"), Some(0));
        assert_eq!(match_device(&s, "sip:a@1.1.1.1:7000"), None);
    }

    #[test]
    fn live_devices_are_recognised_by_instance_or_contact() {
        let b = binding("instance:urn:uuid:1;reg-id=1", "sip:a@1.1.1.1");
        assert!(is_live(&b, &["\"<urn:uuid:1>\"".into()]));
        assert!(is_live(&b, &["sip:a@1.1.1.1".into()]));
        assert!(!is_live(
            &b,
            &["\"<urn:uuid:2>\"".into(), "sip:a@9.9.9.9".into()]
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_waiting_hands_the_promise_on_exactly_once() {
        use crate::proxy::context::testing::{settle, setup};
        let s = setup("INVITE", None);
        let b = binding("instance:urn:uuid:1", "sip:a@1.1.1.1");
        let mut held = Sleeper::new(b.clone(), None, Reach::Held, Some(s.ctx.hold()));
        assert!(held.state.is_waiting() && held.open());
        let watched = Sleeper::new(b.clone(), None, Reach::Udp(0), None);
        assert!(matches!(watched.state, DevState::Probing));
        let live = Sleeper::new(b, None, Reach::Live(0), None);
        assert!(matches!(live.state, DevState::Delivered) && !live.open());

        let promise = held
            .state
            .leave(DevState::Delivered)
            .expect("waiting had one");
        assert!(matches!(held.state, DevState::Delivered) && !held.open());
        assert!(
            held.state.leave(DevState::Dropped).is_none(),
            "handed on once"
        );
        assert!(
            s.net.to_caller().is_empty(),
            "no final while the promise is open"
        );
        promise.drop_with(480, "Temporarily Unavailable").await;
        settle().await;
        assert_eq!(s.net.to_caller(), vec![480]);
    }
}
