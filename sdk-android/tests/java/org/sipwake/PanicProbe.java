package org.sipwake;

/** Test-only: a native method that panics in Rust (cargo feature panic-probe). */
final class PanicProbe {
    private PanicProbe() {}

    static native String panic() throws SipWakeException;
}
