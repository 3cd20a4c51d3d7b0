//! Push binding capture: what a REGISTER says about waking this device.
//!
//! The proxy calls [`capture`] for every REGISTER from a client. The
//! answer tells it whether to store or remove a binding (durably, before the
//! 200 OK is relayed), which `Feature-Caps` to add to that 200 OK, and
//! whether RFC 8599 wants a 555. Malformed push data never fails the
//! registration: it is logged and the REGISTER goes on without push.

mod capture;

pub use capture::{Capture, CaptureOptions, RegisterPush, aor_of, capture};
