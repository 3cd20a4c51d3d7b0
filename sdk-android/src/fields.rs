//! The flat field layouts shared with the Java wrapper. The order of each
//! array is part of the contract with `org.sipwake` (see the Java classes'
//! `fromFields`), so it lives in one place.

use sipwake_core::{Mpush, MpushBinding, Notification, PnParams, PnProvider, Provider, PushEnv};

use crate::error::SdkError;

/// `Mpush` as `[env, provider, package, token]`, or `[]` for `null` (remove).
pub fn mpush_fields(m: &Mpush) -> Vec<Option<String>> {
    match m {
        Mpush::Remove => Vec::new(),
        Mpush::Bind(b) => vec![
            Some(env_name(b.env).to_owned()),
            Some(b.provider.letter().to_string()),
            Some(b.package.clone()),
            Some(b.token.clone()),
        ],
    }
}

/// `PnParams` as `[provider, param, prid, purr]` (the last three nullable).
pub fn pn_fields(p: &PnParams) -> Vec<Option<String>> {
    vec![
        Some(p.provider.name().to_owned()),
        p.param.clone(),
        p.prid.clone(),
        p.purr.clone(),
    ]
}

/// `Notification` as `[ntype, kindName, from, fromUsername, fromDisplay,
/// msg, callId, toUser, title, body, sound]`; ntype in decimal.
pub fn notification_fields(n: &Notification) -> Vec<Option<String>> {
    [
        n.kind.ntype().to_string(),
        n.kind.name().to_owned(),
        n.from.clone(),
        n.from_username.clone(),
        n.from_display.clone(),
        n.msg.clone(),
        n.call_id.clone(),
        n.to_user.clone(),
        n.title.clone(),
        n.body.clone(),
        n.sound.clone(),
    ]
    .into_iter()
    .map(Some)
    .collect()
}

pub fn env_name(env: PushEnv) -> &'static str {
    match env {
        PushEnv::Default => "default",
        PushEnv::Sandbox => "sandbox",
        PushEnv::Production => "production",
    }
}

/// The Java `PushEnv` enum passes its JSON name.
pub fn parse_env(name: &str) -> Result<PushEnv, SdkError> {
    match name {
        "default" => Ok(PushEnv::Default),
        "sandbox" => Ok(PushEnv::Sandbox),
        "production" => Ok(PushEnv::Production),
        _ => Err(SdkError::InvalidArgument {
            name: "env",
            value: name.to_owned(),
            expected: "default, sandbox or production",
        }),
    }
}

/// The Java `Provider` enum passes its header letter.
pub fn parse_provider(letter: &str) -> Result<Provider, SdkError> {
    match letter {
        "a" => Ok(Provider::AndroidFcm),
        "i" => Ok(Provider::Apns),
        "j" => Ok(Provider::IosFcm),
        "w" => Ok(Provider::WebPush),
        _ => Err(SdkError::InvalidArgument {
            name: "provider",
            value: letter.to_owned(),
            expected: "a, i, j or w",
        }),
    }
}

pub fn binding(
    env: &str,
    provider: &str,
    package: String,
    token: String,
) -> Result<MpushBinding, SdkError> {
    Ok(MpushBinding {
        env: parse_env(env)?,
        provider: parse_provider(provider)?,
        package,
        token,
    })
}

pub fn pn_params(
    provider: &str,
    param: Option<String>,
    prid: Option<String>,
    purr: Option<String>,
) -> PnParams {
    PnParams {
        provider: PnProvider::from_name(provider),
        param,
        prid,
        purr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipwake_core::{parse_mpush, parse_push};

    #[test]
    fn mpush_layout() {
        let m = parse_mpush("s:i:com.x:tok:1").unwrap();
        let f = mpush_fields(&m);
        assert_eq!(
            f,
            ["sandbox", "i", "com.x", "tok:1"].map(|s| Some(s.to_owned()))
        );
        assert!(mpush_fields(&parse_mpush("null").unwrap()).is_empty());
    }

    #[test]
    fn notification_layout_has_eleven_fields() {
        let n = parse_push(r#"{"ntype":"1","nfrom":"sip:a@b","nmsg":"hi"}"#).unwrap();
        let f = notification_fields(&n);
        assert_eq!(f.len(), 11);
        assert_eq!(f[0].as_deref(), Some("1"));
        assert_eq!(f[1].as_deref(), Some("chat"));
        assert_eq!(f[2].as_deref(), Some("sip:a@b"));
        assert_eq!(f[5].as_deref(), Some("hi"));
    }

    #[test]
    fn env_and_provider_names_round_trip() {
        for env in [PushEnv::Default, PushEnv::Sandbox, PushEnv::Production] {
            assert_eq!(parse_env(env_name(env)).unwrap(), env);
        }
        for p in [
            Provider::AndroidFcm,
            Provider::Apns,
            Provider::IosFcm,
            Provider::WebPush,
        ] {
            assert_eq!(parse_provider(&p.letter().to_string()).unwrap(), p);
        }
        assert!(parse_env("d").is_err());
        assert!(parse_provider("x").is_err());
    }
}
