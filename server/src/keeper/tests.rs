use super::*;

fn policy(keepupperreg: u8, regrefresh: i8) -> PushPolicy {
    PushPolicy {
        keepupperreg,
        regrefresh,
        ..PushPolicy::default()
    }
}

#[test]
fn mode_follows_keepupperreg_and_regrefresh() {
    // Defaults (keepupperreg 1, regrefresh -1): X-PIID → register, else push.
    assert_eq!(mode_for(&policy(1, -1), true), Mode::Register);
    assert_eq!(mode_for(&policy(1, -1), false), Mode::Push);
    // keepupperreg 2 keeps even without credentials.
    assert_eq!(mode_for(&policy(2, -1), false), Mode::Register);
    // regrefresh 1/2: push instead of keeping, credentials or not.
    assert_eq!(mode_for(&policy(1, 1), true), Mode::Push);
    assert_eq!(mode_for(&policy(0, 2), false), Mode::Push);
    // No keeping, no pushes.
    assert_eq!(mode_for(&policy(0, 0), true), Mode::None);
    assert_eq!(mode_for(&policy(1, 0), false), Mode::None);
    assert_eq!(mode_for(&policy(0, -1), true), Mode::None);
}

#[test]
fn refresh_comes_before_expiry_with_a_margin() {
    assert_eq!(refresh_delay(3600), Duration::from_secs(3240));
    assert_eq!(refresh_delay(60), Duration::from_secs(54));
    // Short intervals: at least 3 s (or half) before expiry.
    assert_eq!(refresh_delay(10), Duration::from_secs(7));
    assert_eq!(refresh_delay(4), Duration::from_secs(2));
    assert_eq!(refresh_delay(1), Duration::from_millis(500));
}

#[test]
fn retries_back_off_up_to_fifteen_minutes() {
    assert_eq!(retry_delay(0), Duration::from_secs(30));
    assert_eq!(retry_delay(1), Duration::from_secs(60));
    assert_eq!(retry_delay(10), Duration::from_secs(900));
}

#[test]
fn persists_filters_by_last_seen() {
    use super::restore::persists_allows;
    assert!(persists_allows(-1, 0, 10_000_000));
    assert!(!persists_allows(0, 100, 100));
    assert!(persists_allows(2, 100, 100 + 86_400));
    assert!(!persists_allows(2, 100, 100 + 3 * 86_400));
}
