package org.sipwake;

import androidx.annotation.NonNull;

/** The push provider letter of X-MPUSH. */
public enum Provider {
    /** {@code a}: Android through FCM. */
    ANDROID_FCM('a'),
    /** {@code i}: iOS through APNs / PushKit. */
    APNS('i'),
    /** {@code j}: iOS through FCM. */
    IOS_FCM('j'),
    /** {@code w}: Web Push. */
    WEB_PUSH('w');

    private final char letter;

    Provider(char letter) {
        this.letter = letter;
    }

    public char letter() {
        return letter;
    }

    /** @throws IllegalArgumentException for anything but a, i, j, w (any case) */
    public static @NonNull Provider fromLetter(@NonNull String letter) {
        for (Provider p : values()) {
            if (letter.equalsIgnoreCase(String.valueOf(p.letter))) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown push provider: " + letter);
    }
}
