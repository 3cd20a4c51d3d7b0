//! The behaviour every [`BindingStore`] shares, as test bodies run against
//! each implementation: SQLite in `sqlite.rs`, Redis standalone, Redis
//! Cluster and Redis via Sentinel in `redis/tests.rs`.

use sipwake_core::mpush::{Provider, PushEnv};

use crate::{
    Binding, BindingSource, BindingStore, Piid, PiidCipher, PushTarget, StoreError, Upstream,
    UserSummary, device_key,
};

/// One place bindings are kept (a database file, a Redis key prefix). Each
/// case gets a fresh, empty one; `open` may be called again to reopen it.
pub(crate) trait Backend {
    fn open(&self, cipher: PiidCipher) -> Result<Box<dyn BindingStore>, StoreError>;
}

pub(crate) type Case = fn(&dyn Backend);

/// Every case, by name.
pub(crate) const CASES: &[(&str, Case)] = &[
    (
        "upsert_get_and_change_detection",
        upsert_get_and_change_detection,
    ),
    (
        "same_content_upsert_keeps_failures_changed_content_sets_them",
        same_content_upsert_keeps_failures_changed_content_sets_them,
    ),
    ("every_field_round_trips", every_field_round_trips),
    (
        "several_devices_per_user_and_removals",
        several_devices_per_user_and_removals,
    ),
    (
        "ordering_of_all_user_and_users",
        ordering_of_all_user_and_users,
    ),
    ("failures_touch_and_expiry", failures_touch_and_expiry),
    ("expiry_boundary_and_indexes", expiry_boundary_and_indexes),
    (
        "token_change_moves_the_binding",
        token_change_moves_the_binding,
    ),
    ("remove_user_leaves_others", remove_user_leaves_others),
    ("missing_bindings_are_no_ops", missing_bindings_are_no_ops),
    (
        "survives_reopen_and_another_key_cannot_read",
        survives_reopen_and_another_key_cannot_read,
    ),
    ("concurrent_writers", concurrent_writers),
];

/// Runs every case, each on a fresh backend from `fresh`, naming the case
/// that fails.
pub(crate) fn run_all(label: &str, fresh: &dyn Fn() -> Box<dyn Backend>) {
    for (name, case) in CASES {
        eprintln!("{label}: case {name}");
        let backend = fresh();
        case(&*backend);
    }
}

pub(crate) const HA1: &str = "14d4f932e3897a39d6a17c13b526db00";

pub(crate) fn cipher() -> PiidCipher {
    PiidCipher::new([3u8; 32])
}

pub(crate) fn binding(aor: &str, token: &str, piid: Option<&str>) -> Binding {
    Binding {
        aor: aor.into(),
        device: device_key(None, None, Provider::AndroidFcm, token),
        push: PushTarget {
            provider: Provider::AndroidFcm,
            env: PushEnv::Default,
            package: "com.example.app".into(),
            token: token.into(),
        },
        source: BindingSource::Mpush,
        contact: "<sip:1111@192.0.2.1:5060>".into(),
        auth_user: Some("1111".into()),
        piid: piid.map(Piid::new),
        upstream: Upstream {
            server: Some("sip.example.com".into()),
            ..Default::default()
        },
        user_agent: Some("MyCoolApp".into()),
        created_at: 1000,
        last_seen: 1000,
        upstream_expires_at: Some(4600),
        app_expires: Some(600),
        push_failures: 0,
    }
}

fn open(b: &dyn Backend) -> Box<dyn BindingStore> {
    b.open(cipher()).expect("store opens")
}

fn sorted(mut v: Vec<Binding>) -> Vec<Binding> {
    v.sort_by(|a, b| (&a.aor, &a.device).cmp(&(&b.aor, &b.device)));
    v
}

fn tokens(v: &[Binding]) -> Vec<&str> {
    v.iter().map(|b| b.push.token.as_str()).collect()
}

pub(crate) fn upsert_get_and_change_detection(backend: &dyn Backend) {
    let s = open(backend);
    let b = binding("1111@example.com", "tok1", Some(HA1));
    assert!(s.upsert(&b).unwrap(), "a new binding is a change");
    let mut again = b.clone();
    again.last_seen = 2000;
    assert!(!s.upsert(&again).unwrap(), "only the clock moved");
    let got = s.get(&b.aor, &b.device).unwrap().unwrap();
    assert_eq!(got.last_seen, 2000);
    assert_eq!(got.piid, b.piid);
    let mut changed = again.clone();
    changed.contact = "<sip:1111@192.0.2.9:5060>".into();
    changed.created_at = 5000;
    assert!(s.upsert(&changed).unwrap());
    let got = s.get(&b.aor, &b.device).unwrap().unwrap();
    assert_eq!(got.created_at, 1000, "creation time is kept");
    assert_eq!(got.contact, changed.contact);
    let mut piid_changed = changed.clone();
    piid_changed.piid = Some(Piid::new("00000000000000000000000000000000"));
    assert!(s.upsert(&piid_changed).unwrap(), "a new X-PIID is a change");
    let mut piid_gone = piid_changed.clone();
    piid_gone.piid = None;
    assert!(
        s.upsert(&piid_gone).unwrap(),
        "a dropped X-PIID is a change"
    );
    assert_eq!(s.get(&b.aor, &b.device).unwrap().unwrap().piid, None);
    assert!(!s.upsert(&piid_gone).unwrap());
}

pub(crate) fn same_content_upsert_keeps_failures_changed_content_sets_them(backend: &dyn Backend) {
    let s = open(backend);
    let b = binding("u@d", "tokA", None);
    s.upsert(&b).unwrap();
    assert_eq!(s.record_push_failure("u@d", &b.device).unwrap(), 1);
    assert_eq!(s.record_push_failure("u@d", &b.device).unwrap(), 2);
    let mut same = b.clone();
    same.last_seen = 1100;
    same.created_at = 9;
    assert!(!s.upsert(&same).unwrap());
    let got = s.get("u@d", &b.device).unwrap().unwrap();
    assert_eq!(
        (got.push_failures, got.last_seen, got.created_at),
        (2, 1100, 1000),
        "same content: only last_seen moves"
    );
    let mut changed = same.clone();
    changed.user_agent = None;
    changed.push_failures = 0;
    assert!(s.upsert(&changed).unwrap());
    let got = s.get("u@d", &b.device).unwrap().unwrap();
    assert_eq!((got.push_failures, got.user_agent), (0, None));
}

pub(crate) fn every_field_round_trips(backend: &dyn Backend) {
    let s = open(backend);
    let full = Binding {
        aor: "sip:alice@example.org".into(),
        device: device_key(
            Some("<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"),
            Some(2),
            Provider::Apns,
            "x",
        ),
        push: PushTarget {
            provider: Provider::Apns,
            env: PushEnv::Sandbox,
            package: "com.example.voip".into(),
            token: "a1b2c3|{weird}:token".into(),
        },
        source: BindingSource::Rfc8599,
        contact: "<sip:alice@198.51.100.7:5061;transport=tls>;+sip.instance=\"<urn:uuid:x>\""
            .into(),
        auth_user: Some("alice-auth".into()),
        piid: Some(Piid::new("SHA-256:6f1ed002ab5595859014ebf0951522d9")),
        upstream: Upstream {
            server: Some("sip:pbx.example.org".into()),
            proxy: Some("sip:proxy.example.org;lr".into()),
            domain: Some("example.org".into()),
        },
        user_agent: Some("Zoiper \"5\" ünïcode".into()),
        created_at: -5,
        last_seen: 1_700_000_000,
        upstream_expires_at: Some(1_700_003_600),
        app_expires: Some(u32::MAX),
        push_failures: 0,
    };
    let bare = Binding {
        aor: "bob@example.org".into(),
        device: device_key(
            None,
            None,
            Provider::WebPush,
            "{\"endpoint\":\"https://p/1\"}",
        ),
        push: PushTarget {
            provider: Provider::WebPush,
            env: PushEnv::Production,
            package: String::new(),
            token: "{\"endpoint\":\"https://p/1\"}".into(),
        },
        source: BindingSource::Mpush,
        contact: String::new(),
        auth_user: None,
        piid: None,
        upstream: Upstream::default(),
        user_agent: None,
        created_at: 0,
        last_seen: 0,
        upstream_expires_at: None,
        app_expires: None,
        push_failures: 0,
    };
    for b in [&full, &bare] {
        assert!(s.upsert(b).unwrap());
        assert_eq!(s.get(&b.aor, &b.device).unwrap().as_ref(), Some(b));
    }
    assert_eq!(s.all().unwrap(), sorted(vec![full.clone(), bare.clone()]));
    let mut ios_fcm = bare.clone();
    ios_fcm.push.provider = Provider::IosFcm;
    ios_fcm.push.env = PushEnv::Default;
    ios_fcm.device = "token:f:other".into();
    s.upsert(&ios_fcm).unwrap();
    assert_eq!(s.get(&ios_fcm.aor, &ios_fcm.device).unwrap(), Some(ios_fcm));
}

pub(crate) fn several_devices_per_user_and_removals(backend: &dyn Backend) {
    let s = open(backend);
    let a = binding("u@d", "tokA", None);
    let mut b = binding("u@d", "tokB", None);
    b.last_seen = 3000;
    let c = binding("v@d", "tokA", None);
    for x in [&a, &b, &c] {
        s.upsert(x).unwrap();
    }
    assert_eq!(
        tokens(&s.user("u@d").unwrap()),
        ["tokB", "tokA"],
        "most recently seen first"
    );
    assert_eq!(
        s.users().unwrap(),
        vec![
            UserSummary {
                aor: "u@d".into(),
                devices: 2,
                last_seen: 3000
            },
            UserSummary {
                aor: "v@d".into(),
                devices: 1,
                last_seen: 1000
            }
        ]
    );
    let removed = sorted(s.remove_token("tokA").unwrap());
    assert_eq!(removed, vec![a.clone(), c.clone()]);
    assert!(s.remove_token("tokA").unwrap().is_empty());
    assert_eq!(s.users().unwrap().len(), 1);
    assert!(s.remove("u@d", &b.device).unwrap());
    assert!(!s.remove("u@d", &b.device).unwrap());
    assert!(s.all().unwrap().is_empty());
    assert!(s.users().unwrap().is_empty());
    assert!(s.user("u@d").unwrap().is_empty());
}

pub(crate) fn ordering_of_all_user_and_users(backend: &dyn Backend) {
    let s = open(backend);
    let mut list = Vec::new();
    for (aor, token, seen) in [
        ("c@d", "t1", 10),
        ("a@d", "t3", 50),
        ("a@d", "t2", 50),
        ("a@d", "t4", 70),
        ("b@d", "t5", 5),
    ] {
        let mut x = binding(aor, token, None);
        x.last_seen = seen;
        s.upsert(&x).unwrap();
        list.push(x);
    }
    assert_eq!(s.all().unwrap(), sorted(list), "all: by AOR, then device");
    assert_eq!(
        tokens(&s.user("a@d").unwrap()),
        ["t4", "t2", "t3"],
        "user: last seen first, then by device"
    );
    let users: Vec<_> = s
        .users()
        .unwrap()
        .into_iter()
        .map(|u| (u.aor, u.devices, u.last_seen))
        .collect();
    assert_eq!(
        users,
        [
            ("a@d".to_string(), 3, 70),
            ("b@d".to_string(), 1, 5),
            ("c@d".to_string(), 1, 10)
        ]
    );
}

pub(crate) fn failures_touch_and_expiry(backend: &dyn Backend) {
    let s = open(backend);
    let a = binding("u@d", "tokA", None);
    let mut old = binding("w@d", "tokW", None);
    old.last_seen = 10;
    s.upsert(&a).unwrap();
    s.upsert(&old).unwrap();
    assert_eq!(s.record_push_failure("u@d", &a.device).unwrap(), 1);
    assert_eq!(s.record_push_failure("u@d", &a.device).unwrap(), 2);
    assert_eq!(s.get("u@d", &a.device).unwrap().unwrap().push_failures, 2);
    s.touch("u@d", &a.device, 1500).unwrap();
    let got = s.get("u@d", &a.device).unwrap().unwrap();
    assert_eq!((got.push_failures, got.last_seen), (0, 1500));
    let expired = s.expire_inactive(1500, 1000).unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].aor, "w@d");
    assert_eq!(expired[0], old);
    assert_eq!(s.remove_user("u@d").unwrap().len(), 1);
    assert!(s.all().unwrap().is_empty());
}

pub(crate) fn expiry_boundary_and_indexes(backend: &dyn Backend) {
    let s = open(backend);
    let mut at = binding("a@d", "tokAt", None);
    at.last_seen = 500;
    let mut before = binding("a@d", "tokBefore", Some(HA1));
    before.last_seen = 499;
    let mut other = binding("b@d", "tokOther", None);
    other.last_seen = 1;
    for x in [&at, &before, &other] {
        s.upsert(x).unwrap();
    }
    assert!(s.expire_inactive(1000, 1000).unwrap().is_empty());
    let gone = sorted(s.expire_inactive(1000, 500).unwrap());
    assert_eq!(
        gone,
        vec![before.clone(), other.clone()],
        "last_seen < now - max"
    );
    assert_eq!(gone[0].piid, before.piid, "X-PIID decrypted");
    assert_eq!(s.all().unwrap(), vec![at.clone()]);
    assert_eq!(s.users().unwrap().len(), 1);
    assert!(s.remove_token("tokBefore").unwrap().is_empty());
    assert!(s.remove_token("tokOther").unwrap().is_empty());
    assert_eq!(s.remove_token("tokAt").unwrap(), vec![at]);
    assert!(s.expire_inactive(i64::MAX, 0).unwrap().is_empty());
    assert!(s.expire_inactive(i64::MIN, i64::MAX).unwrap().is_empty());
}

pub(crate) fn token_change_moves_the_binding(backend: &dyn Backend) {
    let s = open(backend);
    let b = Binding {
        device: "instance:<urn:uuid:1>".into(),
        ..binding("u@d", "old", Some(HA1))
    };
    s.upsert(&b).unwrap();
    let mut moved = b.clone();
    moved.push.token = "new".into();
    assert!(s.upsert(&moved).unwrap(), "a new token is a change");
    assert!(
        s.remove_token("old").unwrap().is_empty(),
        "the old token no longer names the device"
    );
    assert_eq!(s.get("u@d", &b.device).unwrap(), Some(moved.clone()));
    // The same token on another user's device is removed with it.
    let twin = binding("v@d", "new", None);
    s.upsert(&twin).unwrap();
    assert_eq!(sorted(s.remove_token("new").unwrap()), vec![moved, twin]);
    assert!(s.all().unwrap().is_empty());
}

pub(crate) fn remove_user_leaves_others(backend: &dyn Backend) {
    let s = open(backend);
    let a = binding("u@d", "tokA", Some(HA1));
    let b = binding("u@d", "tokB", None);
    let c = binding("v@d", "tokA", None);
    for x in [&a, &b, &c] {
        s.upsert(x).unwrap();
    }
    assert_eq!(sorted(s.remove_user("u@d").unwrap()), vec![a, b]);
    assert!(s.remove_user("u@d").unwrap().is_empty());
    assert_eq!(s.all().unwrap(), vec![c.clone()]);
    assert_eq!(s.remove_token("tokA").unwrap(), vec![c]);
    assert!(s.remove_token("tokB").unwrap().is_empty());
}

pub(crate) fn missing_bindings_are_no_ops(backend: &dyn Backend) {
    let s = open(backend);
    s.touch("nobody@d", "token:a:x", 5).unwrap();
    assert_eq!(s.record_push_failure("nobody@d", "token:a:x").unwrap(), 0);
    assert!(!s.remove("nobody@d", "token:a:x").unwrap());
    assert!(s.remove_user("nobody@d").unwrap().is_empty());
    assert!(s.remove_token("x").unwrap().is_empty());
    assert_eq!(s.get("nobody@d", "token:a:x").unwrap(), None);
    assert!(s.user("nobody@d").unwrap().is_empty());
    assert!(s.all().unwrap().is_empty());
    assert!(s.users().unwrap().is_empty());
    assert!(s.expire_inactive(10, 1).unwrap().is_empty());
    // Another device of an existing user is missing too.
    let a = binding("u@d", "tokA", None);
    s.upsert(&a).unwrap();
    s.touch("u@d", "token:a:other", 5).unwrap();
    assert_eq!(s.record_push_failure("u@d", "token:a:other").unwrap(), 0);
    assert_eq!(s.all().unwrap(), vec![a]);
}

pub(crate) fn survives_reopen_and_another_key_cannot_read(backend: &dyn Backend) {
    let b = binding("1111@example.com", "tok1", Some(HA1));
    {
        let s = open(backend);
        s.upsert(&b).unwrap();
    }
    let s = open(backend);
    assert_eq!(s.all().unwrap(), vec![b.clone()]);
    drop(s);
    // Another key never yields bindings: the open or the read refuses.
    let wrong = backend
        .open(PiidCipher::new([9u8; 32]))
        .and_then(|s| s.all());
    assert!(
        matches!(
            wrong,
            Err(StoreError::Decrypt { .. } | StoreError::KeyMismatch { .. })
        ),
        "{wrong:?}"
    );
}

pub(crate) fn concurrent_writers(backend: &dyn Backend) {
    let s = open(backend);
    let s = &*s;
    std::thread::scope(|scope| {
        for t in 0..4 {
            scope.spawn(move || {
                for i in 0..15 {
                    let mut b = binding("busy@d", &format!("tok{t}-{i}"), Some(HA1));
                    b.last_seen = i64::from(t * 100 + i);
                    assert!(s.upsert(&b).unwrap());
                    s.touch(&b.aor, &b.device, b.last_seen + 1).unwrap();
                    s.record_push_failure(&b.aor, &b.device).unwrap();
                    // Everyone also rewrites one shared device.
                    let mut shared = binding("busy@d", "shared", None);
                    shared.contact = format!("<sip:{t}-{i}@h>");
                    s.upsert(&shared).unwrap();
                }
            });
        }
    });
    let devices = s.user("busy@d").unwrap();
    assert_eq!(devices.len(), 4 * 15 + 1);
    assert!(
        devices
            .iter()
            .filter(|b| b.push.token != "shared")
            .all(|b| b.push_failures == 1 && b.piid.as_ref().map(Piid::expose) == Some(HA1))
    );
    assert_eq!(s.users().unwrap()[0].devices, 61);
    assert_eq!(s.remove_user("busy@d").unwrap().len(), 61);
    assert!(s.users().unwrap().is_empty());
}
