//! Maps native-method errors and panics to `org.sipwake.SipWakeException`.

use jni::Env;
use jni::errors::ErrorPolicy;
use jni::jni_str;

use crate::error::SdkError;

/// Throws `SipWakeException(message)` and returns the default value (`null`,
/// `false`), which Java never sees because the exception is pending.
#[derive(Debug, Default)]
pub struct ThrowSipWakeException;

fn throw(env: &mut Env<'_>, message: &str) -> jni::errors::Result<()> {
    // An exception already pending (e.g. OutOfMemoryError from a JNI call)
    // is the more accurate report: keep it.
    if env.exception_check() {
        return Ok(());
    }
    let msg = jni::strings::JNIString::from(message);
    let _ = env.throw_new(jni_str!("org/sipwake/SipWakeException"), &msg);
    Ok(())
}

impl<T: Default> ErrorPolicy<T, SdkError> for ThrowSipWakeException {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = ();

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        err: SdkError,
    ) -> jni::errors::Result<T> {
        throw(env, &err.to_string())?;
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        _cap: &mut (),
        payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let detail = payload
            .downcast_ref::<&'static str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        drop(payload);
        throw(
            env,
            &format!("sipwake internal error (Rust panic): {detail}"),
        )?;
        Ok(T::default())
    }
}
