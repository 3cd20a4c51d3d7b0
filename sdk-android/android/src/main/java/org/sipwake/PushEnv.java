package org.sipwake;

import androidx.annotation.NonNull;

/** The optional environment field of X-MPUSH ({@code d}, {@code s}, {@code p}). */
public enum PushEnv {
    /** No env field: the gateway's configured default. */
    DEFAULT("default", 'd'),
    /** {@code s}: APNs sandbox / development builds. */
    SANDBOX("sandbox", 's'),
    /** {@code p}: production. */
    PRODUCTION("production", 'p');

    private final String jsonName;
    private final char letter;

    PushEnv(String jsonName, char letter) {
        this.jsonName = jsonName;
        this.letter = letter;
    }

    /** The name used in JSON and across the JNI boundary ({@code "sandbox"}). */
    public @NonNull String jsonName() {
        return jsonName;
    }

    /** The X-MPUSH letter. */
    public char letter() {
        return letter;
    }

    /** @throws IllegalArgumentException for an unknown name */
    public static @NonNull PushEnv fromJsonName(@NonNull String name) {
        for (PushEnv e : values()) {
            if (e.jsonName.equals(name)) {
                return e;
            }
        }
        throw new IllegalArgumentException("unknown push env: " + name);
    }
}
