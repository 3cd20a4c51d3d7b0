//! Feature-Caps (RFC 6809 / RFC 8599 `+sip.pns…`) natives of `org.sipwake.SipWake`.

use jni::EnvUnowned;
use jni::objects::{JClass, JObjectArray, JString};
use jni::sys::{jboolean, jlong};
use sipwake_core::{FeatureCaps, format_feature_caps, parse_feature_caps};

use crate::args::{new_string, new_string_array, opt_string, string, string_array};
use crate::error::SdkError;
use crate::policy::ThrowSipWakeException;

/// `FeatureCaps` as `[pnsreg "0"/"1", pnsregSeconds|null, pnspurr|null, pns...]`.
pub fn caps_fields(c: &FeatureCaps) -> Vec<Option<String>> {
    let mut f = vec![
        Some(if c.pnsreg.is_some() { "1" } else { "0" }.to_owned()),
        c.pnsreg.flatten().map(|n| n.to_string()),
        c.pnspurr.clone(),
    ];
    f.extend(c.pns.iter().cloned().map(Some));
    f
}

/// `pnsreg_seconds < 0` means no value; a value implies `+sip.pnsreg`.
pub fn caps_from_parts(
    pns: Vec<String>,
    pnsreg: bool,
    pnsreg_seconds: i64,
    pnspurr: Option<String>,
) -> Result<FeatureCaps, SdkError> {
    let seconds = match pnsreg_seconds {
        s if s < 0 => None,
        s => Some(u32::try_from(s).map_err(|_| SdkError::InvalidArgument {
            name: "pnsregSeconds",
            value: s.to_string(),
            expected: "at most 4294967295",
        })?),
    };
    Ok(FeatureCaps {
        pns,
        pnsreg: match (pnsreg, seconds) {
            (_, Some(n)) => Some(Some(n)),
            (true, None) => Some(None),
            (false, None) => None,
        },
        pnspurr,
    })
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nParseFeatureCaps<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    value: JString<'l>,
) -> JObjectArray<'l, JString<'l>> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let value = string(env, &value, "value")?;
            let caps = parse_feature_caps(&value)?;
            new_string_array(env, &caps_fields(&caps))
        })
        .resolve::<ThrowSipWakeException>()
}

#[unsafe(no_mangle)]
pub extern "system" fn Java_org_sipwake_SipWake_nFormatFeatureCaps<'l>(
    mut unowned: EnvUnowned<'l>,
    _class: JClass<'l>,
    pns: JObjectArray<'l, JString<'l>>,
    pnsreg: jboolean,
    pnsreg_seconds: jlong,
    pnspurr: JString<'l>,
) -> JString<'l> {
    unowned
        .with_env(|env| -> Result<_, SdkError> {
            let pns = string_array(env, &pns, "pns")?
                .into_iter()
                .map(|p| p.ok_or(SdkError::NullArgument("pns element")))
                .collect::<Result<Vec<_>, _>>()?;
            let purr = opt_string(env, &pnspurr)?;
            let caps = caps_from_parts(pns, pnsreg, pnsreg_seconds, purr)?;
            new_string(env, &format_feature_caps(&caps))
        })
        .resolve::<ThrowSipWakeException>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_layout_and_parts_round_trip() {
        let c = parse_feature_caps(r#"*;+sip.pns="fcm,apns";+sip.pnsreg="120""#).unwrap();
        let f = caps_fields(&c);
        assert_eq!(f[0].as_deref(), Some("1"));
        assert_eq!(f[1].as_deref(), Some("120"));
        assert_eq!(f[2], None);
        assert_eq!(f[3..].len(), 2);
        let back = caps_from_parts(c.pns.clone(), true, 120, None).unwrap();
        assert_eq!(back, c);
        assert_eq!(
            caps_from_parts(vec![], true, -1, None).unwrap().pnsreg,
            Some(None)
        );
        assert!(caps_from_parts(vec![], false, 1 << 40, None).is_err());
    }
}
