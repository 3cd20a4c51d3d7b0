//! C ABI of `sipwake-core` for iOS (and any C caller): `include/sipwake.h`.
//!
//! Conventions (see docs/sdk-ios.md):
//! - Strings in are `SipwakeStr` (pointer + length, UTF-8, may contain NUL);
//!   optional ones are `const SipwakeStr *` where `NULL` means absent.
//! - Every function returns a `SipwakeStatusCode` (a `SipwakeStatus` value);
//!   results go to out-pointers.
//!   Returned strings are NUL-terminated and owned by the caller, who frees
//!   them with `sipwake_string_free`.
//! - On failure `sipwake_last_error_message()` describes the error (per thread).
//! - Structured results (Mpush, PnParams, Notification, FeatureCaps) are JSON
//!   text in the shapes of tests/vectors/README.md; the Swift package decodes
//!   them into structs.
//! - Nothing unwinds across the boundary: every entry point catches panics
//!   and reports `SIPWAKE_STATUS_PANIC` (needs `panic = "unwind"`, the default
//!   `release` profile; with `panic = "abort"` a bug aborts the process).

mod api;
mod api_push;
mod ffi;
mod status;

pub use api::*;
pub use api_push::*;
pub use ffi::{SipwakeKeyValue, SipwakeStr, sipwake_str_from_c, sipwake_string_free};
pub use status::{SipwakeStatus, SipwakeStatusCode, sipwake_last_error_message};
