package org.sipwake;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import java.util.Arrays;

/** A parsed push payload (FCM data, APNs / PushKit, Web Push). Absent strings are {@code ""}. */
public final class Notification {
    /** Number of fields in the native layout (see sdk-android/src/fields.rs). */
    static final int FIELDS = 11;

    private final long ntype;
    private final NotificationKind kind;
    private final String kindName;
    private final String from;
    private final String fromUsername;
    private final String fromDisplay;
    private final String msg;
    private final String callId;
    private final String toUser;
    private final String title;
    private final String body;
    private final String sound;

    private Notification(String[] f) {
        this.ntype = Long.parseLong(f[0]);
        this.kindName = f[1];
        this.kind = NotificationKind.fromName(f[1]);
        this.from = f[2];
        this.fromUsername = f[3];
        this.fromDisplay = f[4];
        this.msg = f[5];
        this.callId = f[6];
        this.toUser = f[7];
        this.title = f[8];
        this.body = f[9];
        this.sound = f[10];
    }

    static Notification fromFields(String[] f) {
        if (f.length != FIELDS) {
            throw new IllegalStateException("native layout mismatch: " + Arrays.toString(f));
        }
        return new Notification(f);
    }

    public @NonNull NotificationKind getKind() {
        return kind;
    }

    /** The raw ntype number (0 call, 1 chat, 2 cancel, 3 custom, 4 register refresh, others kept). */
    public long getNtype() {
        return ntype;
    }

    /** {@code call}, {@code chat}, {@code cancel}, {@code custom}, {@code registerRefresh} or {@code other}. */
    public @NonNull String getKindName() {
        return kindName;
    }

    /** Caller URI ({@code nfrom}). */
    public @NonNull String getFrom() {
        return from;
    }

    public @NonNull String getFromUsername() {
        return fromUsername;
    }

    public @NonNull String getFromDisplay() {
        return fromDisplay;
    }

    /** Chat text ({@code nmsg}). */
    public @NonNull String getMsg() {
        return msg;
    }

    /** SIP Call-ID of the call that woke the app ({@code ncallid}). */
    public @NonNull String getCallId() {
        return callId;
    }

    public @NonNull String getToUser() {
        return toUser;
    }

    public @NonNull String getTitle() {
        return title;
    }

    public @NonNull String getBody() {
        return body;
    }

    public @NonNull String getSound() {
        return sound;
    }

    private String[] fields() {
        return new String[] {
            kindName, from, fromUsername, fromDisplay, msg, callId, toUser, title, body, sound
        };
    }

    @Override
    public boolean equals(@Nullable Object o) {
        if (!(o instanceof Notification)) {
            return false;
        }
        Notification n = (Notification) o;
        return ntype == n.ntype && Arrays.equals(fields(), n.fields());
    }

    @Override
    public int hashCode() {
        return 31 * Long.hashCode(ntype) + Arrays.hashCode(fields());
    }

    @Override
    public @NonNull String toString() {
        return "Notification{" + kindName + "(" + ntype + "), from=" + from + ", callId=" + callId + "}";
    }
}
