//! Status codes and the per-thread last error message.

use std::cell::RefCell;
use std::ffi::{CString, c_char};

use sipwake_core::{FeatureCapsError, MpushError, PayloadError, PnError, TemplateError};
use thiserror::Error;

/// What every `sipwake_*` call returns: a `SipwakeStatus` value. A plain
/// `uint32_t` rather than the enum type so C and Swift agree on its size and
/// no importer has to reconcile the enum tag with a typedef.
pub type SipwakeStatusCode = u32;

/// The `SipwakeStatusCode` values.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipwakeStatus {
    Ok = 0,
    /// A required pointer (out pointer, string or array pointer) was NULL.
    NullPointer = 1,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument is out of range (enum code, seconds, JSON shape, ...).
    InvalidArgument = 3,
    /// X-MPUSH value or binding rejected.
    Mpush = 4,
    /// RFC 8599 parameters rejected.
    Pn = 5,
    /// Push payload rejected.
    Payload = 6,
    /// Feature-Caps value rejected.
    FeatureCaps = 7,
    /// Template rendering failed.
    Template = 8,
    /// A bug: the library panicked. It stays usable.
    Panic = 9,
}

/// What went wrong inside a call; `Display` is the last error message.
#[derive(Debug, Error)]
pub enum SdkError {
    #[error("{0} must not be NULL")]
    NullPointer(&'static str),
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    #[error("invalid {name}: {value} (expected {expected})")]
    InvalidArgument {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("invalid {name} JSON: {detail}")]
    InvalidJson { name: &'static str, detail: String },
    #[error("result contains a NUL character and cannot be returned as a C string")]
    NulInResult,
    #[error(transparent)]
    Mpush(#[from] MpushError),
    #[error(transparent)]
    Pn(#[from] PnError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    FeatureCaps(#[from] FeatureCapsError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("sipwake internal error (Rust panic): {0}")]
    Panic(String),
}

impl SdkError {
    pub fn status(&self) -> SipwakeStatus {
        match self {
            SdkError::NullPointer(_) => SipwakeStatus::NullPointer,
            SdkError::InvalidUtf8(_) => SipwakeStatus::InvalidUtf8,
            SdkError::InvalidArgument { .. } | SdkError::InvalidJson { .. } => {
                SipwakeStatus::InvalidArgument
            }
            SdkError::NulInResult => SipwakeStatus::InvalidArgument,
            SdkError::Mpush(_) => SipwakeStatus::Mpush,
            SdkError::Pn(_) => SipwakeStatus::Pn,
            SdkError::Payload(_) => SipwakeStatus::Payload,
            SdkError::FeatureCaps(_) => SipwakeStatus::FeatureCaps,
            SdkError::Template(_) => SipwakeStatus::Template,
            SdkError::Panic(_) => SipwakeStatus::Panic,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records the outcome of a call: clears the message on success.
pub fn set_last_error(err: Option<&SdkError>) {
    let msg = err.map(|e| {
        // Messages quote inputs with `{:?}`, so NULs are escaped already;
        // replace any left so the C string is never truncated silently.
        let text = e.to_string().replace('\0', "\\0");
        CString::new(text).unwrap_or_default()
    });
    // try_with: during thread teardown the slot may be gone; losing the
    // message then is better than aborting.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut() {
            *s = msg;
        }
    });
}

/// The message of the last failed `sipwake_*` call on this thread, or NULL
/// when the last call succeeded. The pointer stays valid until the next
/// `sipwake_*` call on the same thread; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn sipwake_last_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| match slot.try_borrow() {
            Ok(s) => s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            Err(_) => std::ptr::null(),
        })
        .unwrap_or(std::ptr::null())
}
