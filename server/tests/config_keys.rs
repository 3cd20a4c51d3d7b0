//! Every config key is read by the code and documented: no key is parsed
//! and then ignored (the MPUSH manual's options carried over by operators
//! must do what docs/ say, or be refused).
//!
//! The keys come from the config structs themselves: each section is fed an
//! unknown key, and serde's `deny_unknown_fields` error lists the section's
//! fields. A key counts as read when some non-test source outside the file
//! that declares it accesses it as a field (`.key`); keys read only by a
//! method of their own section name that method in [`READ_BY_METHOD`].

use std::path::{Path, PathBuf};

use sipwake::config::Config;

/// Each section with the file declaring its struct (relative to the repo).
const SECTIONS: &[(&str, &str)] = &[
    ("", "server/src/config/mod.rs"),
    ("sip", "server/src/config/mod.rs"),
    ("http", "server/src/config/mod.rs"),
    ("upstream", "server/src/config/mod.rs"),
    ("registrar", "server/src/config/mod.rs"),
    ("store", "server/src/config/mod.rs"),
    ("store.redis_sentinel", "server/src/config/mod.rs"),
    ("api", "server/src/config/mod.rs"),
    ("push", "server/src/config/push.rs"),
    ("web", "server/src/config/web.rs"),
    ("limits", "server/src/config/limits.rs"),
    ("cluster", "server/src/config/cluster.rs"),
    ("acme", "server/src/config/acme.rs"),
    ("push_delivery", "push/src/config.rs"),
    ("fcm", "push/src/config.rs"),
    ("apns", "push/src/config.rs"),
    ("apns.apps.\"com.example\"", "push/src/config.rs"),
    ("webpush", "push/src/config.rs"),
    ("templates", "push/src/config.rs"),
];

/// `(section, key, method)`: keys read by a method of their own section
/// (in the declaring file); the method must be called from elsewhere.
const READ_BY_METHOD: &[(&str, &str, &str)] = &[
    ("push", "level", "calls_enabled"),
    ("push", "chat", "chat_enabled"),
    ("push", "chat_when", "chat_enabled"),
    ("push", "cancel", "cancel_push"),
    ("push", "cancel_when", "cancel_push"),
    ("push", "clientmaxoffline", "max_offline_secs"),
    ("push", "removeon_noanswer", "remove_on_noanswer"),
    (
        "push",
        "removeon_subscallfail",
        "remove_on_subsequent_call_fail",
    ),
    ("registrar", "digest_algorithms", "digest_algorithms"),
    ("acme", "domains", "identifiers"),
];

/// Docs that hold the option tables.
const DOCS: &[&str] = &[
    "docs/configuration.md",
    "docs/push.md",
    "docs/push-providers.md",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// The fields of one section, from serde's unknown-field error.
fn keys_of(section: &str) -> Vec<String> {
    let text = if section.is_empty() {
        "zz_not_a_key = 1\n".to_string()
    } else {
        format!("[{section}]\nzz_not_a_key = 1\n")
    };
    let err = Config::from_toml_str(&text, None)
        .expect_err("an unknown key is refused")
        .to_string();
    let expected = err
        .split_once("expected")
        .unwrap_or_else(|| panic!("[{section}]: no field list in {err:?}"))
        .1;
    let keys: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(!keys.is_empty(), "[{section}]: {err}");
    keys
}

/// Non-test Rust sources of the crates that read config: `#[cfg(test)]`
/// modules cut off, `tests.rs` files and test directories left out.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).expect("source dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "tests" && name != "testing" {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" {
                let text = std::fs::read_to_string(&path).expect("source");
                let text = match text.find("#[cfg(test)]") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["server/src", "push/src", "store/src"] {
        walk(&repo().join(dir), &mut out);
    }
    out
}

/// `.name` as a whole field access (not `.name_more`, not `.named`).
fn accesses(text: &str, name: &str) -> bool {
    let needle = format!(".{name}");
    text.match_indices(&needle).any(|(i, _)| {
        let after = text[i + needle.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(')
    })
}

#[test]
fn every_config_key_is_read_somewhere() {
    let sources = sources();
    let mut unread = Vec::new();
    let mut count = 0;
    for (section, file) in SECTIONS {
        let declared_in = repo().join(file);
        for key in keys_of(section) {
            count += 1;
            let elsewhere = sources
                .iter()
                .any(|(path, text)| *path != declared_in && accesses(text, &key));
            let by_method = READ_BY_METHOD
                .iter()
                .find(|(s, k, _)| s == section && *k == key)
                .map(|(_, _, method)| {
                    let own = sources
                        .iter()
                        .find(|(p, _)| *p == declared_in)
                        .is_some_and(|(_, t)| accesses(t, &key));
                    let called = sources.iter().any(|(path, text)| {
                        *path != declared_in && text.contains(&format!(".{method}("))
                    });
                    own && called
                });
            if !elsewhere && by_method != Some(true) {
                unread.push(format!("[{section}] {key}"));
            }
        }
    }
    assert!(count > 80, "only {count} keys found: the field lists broke");
    assert!(
        unread.is_empty(),
        "config keys parsed but never read (honour them or refuse them): {unread:?}"
    );
}

#[test]
fn every_config_key_is_documented() {
    let docs: Vec<String> = DOCS
        .iter()
        .map(|d| std::fs::read_to_string(repo().join(d)).expect("doc"))
        .collect();
    let table_rows: Vec<&str> = docs
        .iter()
        .flat_map(|d| d.lines())
        .filter(|l| l.starts_with('|'))
        .collect();
    let all = docs.concat();
    let sections: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
    let mut missing = Vec::new();
    for (section, _) in SECTIONS {
        for key in keys_of(section) {
            let documented = if section.is_empty() && sections.contains(&key.as_str()) {
                // A section: its own heading or table row.
                all.contains(&format!("`[{key}]`"))
            } else {
                // A table row naming it, or a TOML example line setting it.
                let name = format!("`{key}`");
                table_rows.iter().any(|row| row.contains(&name))
                    || all.contains(&format!("\n{key} = "))
            };
            if !documented {
                missing.push(format!("[{section}] {key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "config keys not in {DOCS:?}: {missing:?}"
    );
}

#[test]
fn the_field_lists_are_complete() {
    // The detector itself: a key it cannot see would pass unread.
    let push = keys_of("push");
    for key in [
        "websocket",
        "removeat_nopn",
        "prefermd5xauth",
        "udp_wake_after_ms",
    ] {
        assert!(push.iter().any(|k| k == key), "{key} not in {push:?}");
    }
    assert_eq!(keys_of("api"), ["tokens"]);
    assert!(accesses("x.policy.websocket == 0", "websocket"));
    assert!(!accesses("x.websocket_mode", "websocket"));
    assert!(!accesses("x.websocket()", "websocket"));
}
