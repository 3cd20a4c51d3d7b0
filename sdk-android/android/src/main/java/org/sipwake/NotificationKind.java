package org.sipwake;

import androidx.annotation.NonNull;

/** What a push is for: the manual's {@code ntype}. */
public enum NotificationKind {
    /** ntype 0 (also missing ntype): incoming call, wake up and register. */
    CALL,
    /** ntype 1: chat message. */
    CHAT,
    /** ntype 2: the call was cancelled or answered elsewhere. */
    CANCEL,
    /** ntype 3: custom notification from the API. */
    CUSTOM,
    /** ntype 4: re-register so the gateway knows the app is alive. */
    REGISTER_REFRESH,
    /** any other ntype; see {@link Notification#getNtype()}. */
    OTHER;

    static @NonNull NotificationKind fromName(@NonNull String kindName) {
        switch (kindName) {
            case "call": return CALL;
            case "chat": return CHAT;
            case "cancel": return CANCEL;
            case "custom": return CUSTOM;
            case "registerRefresh": return REGISTER_REFRESH;
            default: return OTHER;
        }
    }
}
