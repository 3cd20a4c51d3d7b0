//! The `[push]` section: when to push, hold, retry and remove — the MPUSH
//! manual's `pushnotification_*` options under their short names, with the
//! manual's numeric values and defaults (docs/push.md has the table).
//!
//! Provider credentials (`[fcm]`, `[apns]`, `[webpush]`) live with the
//! push providers; this is only gateway behaviour.

use serde::Deserialize;

/// `[push]` options. Every field maps to one manual option.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PushPolicy {
    /// `pushnotification`: -1 auto (on when a provider is configured), 0 no,
    /// 1 yes, 2 always (even on high load), 3 all endpoints (push even when
    /// the device has a live connection).
    pub level: i8,
    /// `pushnotification_chat`: -1 auto, 0 no, 1 yes on low load, 2 yes,
    /// 3 always.
    pub chat: i8,
    /// `pushnotification_chat_when`: -1 auto, 0 on no answer from client
    /// endpoints, 1 also for server endpoints, 2 always.
    pub chat_when: i8,
    /// `pushnotification_cancel`: push a cancel (ntype 2) when the caller
    /// cancels. -1 auto, 0 no (default), 1 yes on low load, 2 yes, 3 always.
    pub cancel: i8,
    /// `pushnotification_cancel_when`: 0 if the call push was sent and the
    /// device never answered, 1 if the call push was sent, 2 always.
    pub cancel_when: i8,
    /// `pushnotification_websocket`: accept push bindings from WebSocket
    /// clients. -1 auto (yes), 0 no, 1 yes.
    pub websocket: i8,
    /// `pushnotification_inviteretry`: how many times the RFC 3261 resend
    /// schedule is stretched for a sleeping device (3 = three times).
    pub inviteretry: u32,
    /// `pushnotification_clientmaxoffline`: days without any message from a
    /// device before its binding is dropped.
    pub clientmaxoffline: u32,
    /// `pushnotification_disableunreg`: what an app's unregister does.
    /// 0 forward it, 1 ignore it, 2 turn it into a register (keep the
    /// upstream registration and the push binding).
    pub disableunreg: u8,
    /// `pushnotification_regrefresh`: instead of keeping the upstream
    /// registration alive itself, push ntype 4 so the app re-registers.
    /// -1 auto (yes when the app sent no X-PIID), 0 no, 1 yes, 2 yes and
    /// remove the binding when the registration times out.
    pub regrefresh: i8,
    /// `pushnotification_persists`: re-create kept upstream registrations on
    /// startup. -1 auto (yes), 0 no, N: only devices seen in the last N days.
    pub persists: i32,
    /// `pushnotification_keepupperreg`: keep upstream registrations of
    /// sleeping apps. 0 no, 1 when the app sent X-PIID, 2 always.
    pub keepupperreg: u8,
    /// `pushnotification_removeon_regfail`: remove the binding when the
    /// upstream rejects a kept registration. 0 no, 1 yes, 2 also on timeout.
    pub removeon_regfail: u8,
    /// `pushnotification_removeon_subscallfail`: remove the binding after a
    /// call to the woken device fails. -1 auto (0 on a gateway), 0, 1.
    pub removeon_subscallfail: i8,
    /// `pushnotification_removeon_pushfail`: remove the binding when the
    /// provider says the token is gone. 0 no, 1 yes.
    pub removeon_pushfail: u8,
    /// `pushnotification_removeon_noanswer`: remove the binding when the
    /// device never answers after a push. -1 auto (0 on a gateway), 0, 1.
    pub removeon_noanswer: i8,
    /// `pushnotification_removeon_reject`: remove the binding when the
    /// upstream rejects the user (403/404 to its REGISTER). 0 no, 1 yes.
    pub removeon_reject: u8,
    /// `pushnotification_removeat_nopn`: a REGISTER without push data
    /// removes the binding. 0 no, 1 yes.
    pub removeat_nopn: u8,
    /// `pushnotification_removeat_noprid`: `pn-provider` without `pn-prid`
    /// removes the binding instead of being a capability query.
    pub removeat_noprid: u8,
    /// `pushnotification_send555`: answer 555 to an unsupported provider
    /// instead of leaving it out of Feature-Caps.
    pub send555: bool,
    /// `pushnotification_upperexpire`: Expires used toward the upstream for
    /// kept registrations; -1 = what the app asked.
    pub upperexpire: i64,
    /// `rebuildregclients`: seconds between checks of kept upstream
    /// registrations.
    pub rebuildregclients: u64,
    /// `pushnotification_ttl`: push time-to-live in seconds; 0 = now or never.
    pub ttl: u32,
    /// `pushnotification_sound_call` / `_chat` / `_other`: the SOUND keyword.
    pub sound_call: String,
    pub sound_chat: String,
    pub sound_other: String,
    /// `prefermd5xauth`: 1 = the gateway answers upstream digest challenges
    /// from the stored X-PIID even while the app is connected; 0 = pass
    /// them to the app.
    pub prefermd5xauth: u8,
    /// `fcm_removenotification`: drop the FCM `notification` section.
    /// -1 auto (= 1), 0 keep, 1 remove for calls only, 2 always remove.
    pub fcm_removenotification: i64,
    /// Seconds a held INVITE waits for the device to wake (the manual:
    /// "up to 40 seconds").
    pub wake_timeout_secs: u64,
    /// Send `180 Ringing` upstream as soon as the call push is sent (like
    /// Flexisip's "110 Push sent"), so callers hear ringback while the
    /// phone wakes. Off by default: the manual only sends 100 Trying.
    pub ringing_on_push: bool,
    /// Seconds a MESSAGE for a sleeping device is held for delivery.
    pub hold_message_secs: u64,
    /// A UDP push device gets the request at its last known address at
    /// once; if nothing (not even 100 Trying) comes back within this many
    /// milliseconds, it is pushed and the request held for it.
    pub udp_wake_after_ms: u64,
}

impl Default for PushPolicy {
    fn default() -> Self {
        PushPolicy {
            level: -1,
            chat: -1,
            chat_when: -1,
            cancel: 0,
            cancel_when: 0,
            websocket: -1,
            inviteretry: 3,
            clientmaxoffline: 30,
            disableunreg: 2,
            regrefresh: -1,
            persists: -1,
            keepupperreg: 1,
            removeon_regfail: 1,
            removeon_subscallfail: -1,
            removeon_pushfail: 1,
            removeon_noanswer: -1,
            removeon_reject: 1,
            removeat_nopn: 0,
            removeat_noprid: 0,
            send555: false,
            upperexpire: 3600,
            rebuildregclients: 3600,
            ttl: 0,
            sound_call: "default".into(),
            sound_chat: "default".into(),
            sound_other: "default".into(),
            prefermd5xauth: 1,
            fcm_removenotification: -1,
            wake_timeout_secs: 40,
            ringing_on_push: false,
            hold_message_secs: 60,
            udp_wake_after_ms: 1200,
        }
    }
}

/// Validation errors name the option.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("[push] {option}: {reason}")]
pub struct PolicyError {
    pub option: &'static str,
    pub reason: String,
}

/// Load levels (the wsload scale, `net::load_level`) at and above which the
/// load is "high": the manual's "yes" settings stop pushing there, its
/// "always" ones do not.
pub const HIGH_LOAD: u8 = 3;
/// At and below: "low load", where the manual's "yes on low load" push.
pub const LOW_LOAD: u8 = 1;

/// The manual's load-dependent levels: 1 yes on low load, 2 yes (not on
/// high load), 3 always; anything else (0, -1) no.
fn by_load(setting: i8, load: u8) -> bool {
    match setting {
        1 => load <= LOW_LOAD,
        2 => load < HIGH_LOAD,
        3 => true,
        _ => false,
    }
}

impl PushPolicy {
    /// Checks ranges the manual defines.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let range = |option: &'static str, v: i64, lo: i64, hi: i64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(PolicyError {
                    option,
                    reason: format!("{v} is out of range {lo}..={hi}"),
                })
            }
        };
        range("level", self.level.into(), -1, 3)?;
        range("chat", self.chat.into(), -1, 3)?;
        range("chat_when", self.chat_when.into(), -1, 2)?;
        range("cancel", self.cancel.into(), -1, 3)?;
        range("cancel_when", self.cancel_when.into(), 0, 2)?;
        range("websocket", self.websocket.into(), -1, 1)?;
        range("inviteretry", self.inviteretry.into(), 1, 20)?;
        range("disableunreg", self.disableunreg.into(), 0, 2)?;
        range("regrefresh", self.regrefresh.into(), -1, 2)?;
        range("keepupperreg", self.keepupperreg.into(), 0, 2)?;
        range("removeon_regfail", self.removeon_regfail.into(), 0, 2)?;
        range(
            "removeon_subscallfail",
            self.removeon_subscallfail.into(),
            -1,
            1,
        )?;
        range("removeon_pushfail", self.removeon_pushfail.into(), 0, 1)?;
        range("removeon_noanswer", self.removeon_noanswer.into(), -1, 1)?;
        range("removeon_reject", self.removeon_reject.into(), 0, 1)?;
        range("removeat_nopn", self.removeat_nopn.into(), 0, 1)?;
        range("removeat_noprid", self.removeat_noprid.into(), 0, 1)?;
        range("prefermd5xauth", self.prefermd5xauth.into(), 0, 1)?;
        range("fcm_removenotification", self.fcm_removenotification, -1, 2)?;
        range("wake_timeout_secs", self.wake_timeout_secs as i64, 1, 600)?;
        range("hold_message_secs", self.hold_message_secs as i64, 1, 3600)?;
        range(
            "udp_wake_after_ms",
            self.udp_wake_after_ms as i64,
            0,
            30_000,
        )?;
        if self.upperexpire != -1 {
            range("upperexpire", self.upperexpire, 60, 7 * 86400)?;
        }
        Ok(())
    }

    /// Push for a call at this `load` (the wsload level 0..=4): `level` 0
    /// never, 1 (and -1 auto, when a provider is configured) unless the
    /// load is high, 2 and 3 always.
    pub fn calls_enabled(&self, any_provider: bool, load: u8) -> bool {
        match self.level {
            0 => false,
            -1 => any_provider && load < HIGH_LOAD,
            1 => load < HIGH_LOAD,
            _ => true,
        }
    }

    /// Push even to devices with a live connection (`level` 3).
    pub fn push_live_devices(&self) -> bool {
        self.level == 3
    }

    /// Chat push at this `load`: `chat` 0 never, 1 on low load, 2 (and -1
    /// auto) unless the load is high, 3 always.
    pub fn chat_enabled(&self, load: u8) -> bool {
        by_load(if self.chat == -1 { 2 } else { self.chat }, load)
    }

    /// Chat push also to devices with a live connection (`chat_when` 2).
    /// -1 (auto), 0 and 1 push on no answer only: every device behind the
    /// gateway is a client endpoint, so 0 and 1 are the same here.
    pub fn chat_push_live_devices(&self) -> bool {
        self.chat_when == 2
    }

    /// Push devices with a live flow too: `level` 3 for calls, `chat_when`
    /// 2 for chats.
    pub fn push_live(&self, invite: bool) -> bool {
        if invite {
            self.push_live_devices()
        } else {
            self.chat_push_live_devices()
        }
    }

    /// A cancel push to a device of a cancelled call at this `load`:
    /// `cancel` 0 / -1 never, 1 on low load, 2 unless the load is high, 3
    /// always; `cancel_when` picks the devices (`device_answered`: it woke
    /// and took the request).
    pub fn cancel_push(&self, call_push_sent: bool, device_answered: bool, load: u8) -> bool {
        if !by_load(self.cancel, load) {
            return false;
        }
        match self.cancel_when {
            0 => call_push_sent && !device_answered,
            1 => call_push_sent,
            _ => true,
        }
    }

    /// Gateway defaults of the manual's "-1: 0 for gateways" options.
    pub fn remove_on_noanswer(&self) -> bool {
        self.removeon_noanswer == 1
    }

    pub fn remove_on_subsequent_call_fail(&self) -> bool {
        self.removeon_subscallfail == 1
    }

    /// Keep the upstream registration of a sleeping app (`keepupperreg`).
    pub fn keep_upstream_registration(&self, has_piid: bool) -> bool {
        match self.keepupperreg {
            0 => false,
            1 => has_piid,
            _ => true,
        }
    }

    /// Wake the app with ntype 4 to refresh its registration (`regrefresh`).
    pub fn refresh_by_push(&self, has_piid: bool) -> bool {
        match self.regrefresh {
            -1 => !has_piid,
            0 => false,
            _ => true,
        }
    }

    pub fn max_offline_secs(&self) -> i64 {
        i64::from(self.clientmaxoffline) * 86_400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_manuals() {
        let p: PushPolicy = toml::from_str("").unwrap();
        assert_eq!(p, PushPolicy::default());
        assert_eq!((p.level, p.chat, p.cancel, p.cancel_when), (-1, -1, 0, 0));
        assert_eq!(
            (p.inviteretry, p.clientmaxoffline, p.disableunreg),
            (3, 30, 2)
        );
        assert_eq!((p.upperexpire, p.rebuildregclients, p.ttl), (3600, 3600, 0));
        assert_eq!(
            (p.keepupperreg, p.removeon_pushfail, p.removeon_regfail),
            (1, 1, 1)
        );
        assert!(!p.send555);
        p.validate().unwrap();
    }

    #[test]
    fn unknown_and_out_of_range_options_are_named() {
        let e = toml::from_str::<PushPolicy>("levle = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("levle"), "{e}");
        let p: PushPolicy = toml::from_str("disableunreg = 5").unwrap();
        assert_eq!(p.validate().unwrap_err().option, "disableunreg");
    }

    #[test]
    fn decisions_follow_the_levels() {
        let mut p = PushPolicy::default();
        assert!(p.calls_enabled(true, 0) && !p.calls_enabled(false, 0));
        assert!(
            !p.cancel_push(true, false, 0),
            "cancel pushes are off by default"
        );
        p.cancel = 2;
        assert!(
            p.cancel_push(true, false, 0)
                && !p.cancel_push(true, true, 0)
                && !p.cancel_push(false, false, 0)
        );
        p.cancel_when = 2;
        assert!(p.cancel_push(false, true, 0));
        assert!(p.keep_upstream_registration(true) && !p.keep_upstream_registration(false));
        assert!(p.refresh_by_push(false) && !p.refresh_by_push(true));
        assert!(!p.remove_on_noanswer() && !p.remove_on_subsequent_call_fail());
    }

    /// The manual's load-dependent levels against the wsload scale 0..=4:
    /// 1 "yes on low load" (0–1), 2 "yes" (not on high load, 3–4), 3 "always".
    #[test]
    fn levels_follow_the_load() {
        let policy = |level: i8, chat: i8, cancel: i8| PushPolicy {
            level,
            chat,
            cancel,
            cancel_when: 2,
            ..PushPolicy::default()
        };
        let calls = |p: &PushPolicy| {
            (0..=4)
                .map(|l| p.calls_enabled(true, l))
                .collect::<Vec<_>>()
        };
        let chats = |p: &PushPolicy| (0..=4).map(|l| p.chat_enabled(l)).collect::<Vec<_>>();
        let cancels = |p: &PushPolicy| {
            (0..=4)
                .map(|l| p.cancel_push(true, false, l))
                .collect::<Vec<_>>()
        };
        let (t, f) = (true, false);
        // pushnotification: -1 and 1 stop on high load, 2 and 3 never.
        for level in [-1, 1] {
            assert_eq!(
                calls(&policy(level, 0, 0)),
                [t, t, t, f, f],
                "level {level}"
            );
        }
        for level in [2, 3] {
            assert_eq!(calls(&policy(level, 0, 0)), [t; 5], "level {level}");
        }
        assert_eq!(calls(&policy(0, 0, 0)), [f; 5]);
        // chat and cancel: 1 low load only, 2 (and chat's -1) not on high, 3 always.
        assert_eq!(chats(&policy(-1, 1, 0)), [t, t, f, f, f]);
        assert_eq!(chats(&policy(-1, 2, 0)), [t, t, t, f, f]);
        assert_eq!(chats(&policy(-1, -1, 0)), [t, t, t, f, f]);
        assert_eq!(chats(&policy(-1, 3, 0)), [t; 5]);
        assert_eq!(chats(&policy(-1, 0, 0)), [f; 5]);
        assert_eq!(cancels(&policy(-1, 0, 1)), [t, t, f, f, f]);
        assert_eq!(cancels(&policy(-1, 0, 2)), [t, t, t, f, f]);
        assert_eq!(cancels(&policy(-1, 0, 3)), [t; 5]);
        assert_eq!(cancels(&policy(-1, 0, -1)), [f; 5]);
    }
}
