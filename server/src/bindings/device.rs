//! Store device keys and registrar identities: the keys differ
//! (`instance:<urn>` in the store, the raw `+sip.instance` value or the
//! Contact URI in registrations), so matching normalises both.

/// `"<urn:uuid:x>"` → `urn:uuid:x` (quotes and angle brackets off).
pub fn normalize_instance(raw: &str) -> String {
    let v = raw.trim().trim_matches('"');
    v.strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(v)
        .to_owned()
}

/// The instance inside a store device key (`instance:<i>[;reg-id=N]`);
/// `None` for token-keyed devices.
pub fn instance_of_device(device: &str) -> Option<String> {
    let rest = device.strip_prefix("instance:")?;
    let inst = rest.rsplit_once(";reg-id=").map_or(rest, |(i, _)| i);
    Some(inst.to_owned())
}
