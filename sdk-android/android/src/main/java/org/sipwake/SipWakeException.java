package org.sipwake;

/**
 * A sipwake call failed: invalid input (bad X-MPUSH value, malformed push
 * payload, null argument, ...). The message is the core library's error text,
 * e.g. {@code X-MPUSH: unknown provider "x" (expected a, i, j or w)}.
 *
 * <p>Checked on purpose: push payloads and header values come from the
 * network, so callers should decide what a bad one means for them.
 */
public final class SipWakeException extends Exception {
    private static final long serialVersionUID = 1L;

    public SipWakeException(String message) {
        super(message);
    }
}
