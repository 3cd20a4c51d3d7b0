//! Argument and result plumbing shared by every entry point.

use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::status::{SdkError, SipwakeStatus, SipwakeStatusCode, set_last_error};

/// A borrowed UTF-8 string: `len` bytes at `ptr` (no NUL terminator needed;
/// NULs inside are data). `ptr` must not be NULL, even for an empty string
/// (a NULL pointer is reported as `SIPWAKE_STATUS_NULL_POINTER`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SipwakeStr {
    pub ptr: *const c_char,
    pub len: usize,
}

/// One entry of an FCM data map.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SipwakeKeyValue {
    pub key: SipwakeStr,
    pub value: SipwakeStr,
}

/// Reads a required string argument.
///
/// # Safety
/// `s.ptr` must be NULL or point to `s.len` readable bytes.
pub unsafe fn read_str<'a>(s: SipwakeStr, name: &'static str) -> Result<&'a str, SdkError> {
    if s.ptr.is_null() {
        return Err(SdkError::NullPointer(name));
    }
    // SAFETY: the caller guarantees ptr/len describe readable memory.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
    std::str::from_utf8(bytes).map_err(|_| SdkError::InvalidUtf8(name))
}

/// Reads an optional string argument (`NULL` = absent).
///
/// # Safety
/// `s` must be NULL or point to a valid `SipwakeStr` (see [`read_str`]).
pub unsafe fn read_opt_str<'a>(
    s: *const SipwakeStr,
    name: &'static str,
) -> Result<Option<&'a str>, SdkError> {
    if s.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null and valid per the caller.
    unsafe { read_str(*s, name).map(Some) }
}

/// Reads `count` elements at `ptr` (NULL allowed when `count == 0`).
///
/// # Safety
/// `ptr` must point to `count` valid, initialised `T`.
pub unsafe fn read_slice<'a, T>(
    ptr: *const T,
    count: usize,
    name: &'static str,
) -> Result<&'a [T], SdkError> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(SdkError::NullPointer(name));
    }
    // SAFETY: per the caller.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

/// Turns a Rust string into a caller-owned C string.
pub fn into_c_string(s: String) -> Result<*mut c_char, SdkError> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|_| SdkError::NulInResult)
}

/// Runs one API call: catches panics, records the last error, writes the
/// result through `out` only on success. Never unwinds.
pub fn call<T>(out: *mut T, f: impl FnOnce() -> Result<T, SdkError>) -> SipwakeStatusCode {
    call_status(out, f) as SipwakeStatusCode
}

fn call_status<T>(out: *mut T, f: impl FnOnce() -> Result<T, SdkError>) -> SipwakeStatus {
    let result = if out.is_null() {
        Err(SdkError::NullPointer("out"))
    } else {
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            let detail = payload
                .downcast_ref::<&'static str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            drop(payload);
            Err(SdkError::Panic(detail))
        })
    };
    match result {
        Ok(v) => {
            // SAFETY: `out` is non-null and the caller provides writable storage.
            unsafe { out.write(v) };
            set_last_error(None);
            SipwakeStatus::Ok
        }
        Err(e) => {
            set_last_error(Some(&e));
            e.status()
        }
    }
}

/// Like [`call`] for string results.
pub fn call_string(
    out: *mut *mut c_char,
    f: impl FnOnce() -> Result<String, SdkError>,
) -> SipwakeStatusCode {
    call(out, || f().and_then(into_c_string))
}

/// Frees a string returned by this library. NULL is ignored.
///
/// # Safety
/// `s` must be NULL or a pointer returned through a `char **out` of this
/// library, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: it came from CString::into_raw in `into_c_string`.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// A `SipwakeStr` for a NUL-terminated C string. Convenience for C callers;
/// NULL gives `{NULL, 0}`, which the functions reject as a NULL pointer.
///
/// # Safety
/// `s` must be NULL or a valid NUL-terminated string that outlives the result.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sipwake_str_from_c(s: *const c_char) -> SipwakeStr {
    if s.is_null() {
        return SipwakeStr {
            ptr: std::ptr::null(),
            len: 0,
        };
    }
    // SAFETY: per the caller.
    let len = unsafe { CStr::from_ptr(s) }.to_bytes().len();
    SipwakeStr { ptr: s, len }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::sipwake_last_error_message;

    fn last_error() -> Option<String> {
        let p = sipwake_last_error_message();
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    #[test]
    fn read_str_checks_null_and_utf8() {
        let ok = b"a\0b";
        let s = SipwakeStr {
            ptr: ok.as_ptr().cast(),
            len: ok.len(),
        };
        assert_eq!(unsafe { read_str(s, "x") }.unwrap(), "a\0b");
        let null = SipwakeStr {
            ptr: std::ptr::null(),
            len: 0,
        };
        assert!(matches!(
            unsafe { read_str(null, "x") },
            Err(SdkError::NullPointer("x"))
        ));
        let bad = [0xffu8];
        let s = SipwakeStr {
            ptr: bad.as_ptr().cast(),
            len: 1,
        };
        assert!(matches!(
            unsafe { read_str(s, "x") },
            Err(SdkError::InvalidUtf8("x"))
        ));
    }

    #[test]
    fn call_records_errors_and_catches_panics() {
        let mut out = 0u32;
        assert_eq!(call(&mut out, || Ok(7)), SipwakeStatus::Ok as u32);
        assert_eq!(out, 7);
        assert_eq!(last_error(), None);

        let st = call(&mut out, || Err::<u32, _>(SdkError::NullPointer("value")));
        assert_eq!(st, SipwakeStatus::NullPointer as u32);
        assert_eq!(last_error().as_deref(), Some("value must not be NULL"));
        assert_eq!(out, 7, "out untouched on error");

        let st = call(&mut out, || -> Result<u32, SdkError> { panic!("boom") });
        assert_eq!(st, SipwakeStatus::Panic as u32);
        assert!(last_error().unwrap().contains("boom"));

        assert_eq!(
            call(std::ptr::null_mut::<u32>(), || Ok(1)),
            SipwakeStatus::NullPointer as u32
        );
    }

    #[test]
    fn result_strings_round_trip_and_reject_nul() {
        let p = into_c_string("X-MPUSH".to_owned()).unwrap();
        assert_eq!(unsafe { CStr::from_ptr(p) }.to_str().unwrap(), "X-MPUSH");
        unsafe { sipwake_string_free(p) };
        assert!(matches!(
            into_c_string("a\0b".to_owned()),
            Err(SdkError::NulInResult)
        ));
    }
}
