package org.sipwake;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import java.util.Objects;

/** One app instance's push address: the value of {@code X-MPUSH: [env:]provider:package:token}. */
public final class MpushBinding {
    private final PushEnv env;
    private final Provider provider;
    private final String packageName;
    private final String token;

    public MpushBinding(
            @NonNull PushEnv env,
            @NonNull Provider provider,
            @NonNull String packageName,
            @NonNull String token) {
        this.env = Objects.requireNonNull(env, "env");
        this.provider = Objects.requireNonNull(provider, "provider");
        this.packageName = Objects.requireNonNull(packageName, "packageName");
        this.token = Objects.requireNonNull(token, "token");
    }

    /** Android app with an FCM registration token, default environment. */
    public static @NonNull MpushBinding fcm(@NonNull String packageName, @NonNull String token) {
        return new MpushBinding(PushEnv.DEFAULT, Provider.ANDROID_FCM, packageName, token);
    }

    public @NonNull PushEnv getEnv() {
        return env;
    }

    public @NonNull Provider getProvider() {
        return provider;
    }

    public @NonNull String getPackageName() {
        return packageName;
    }

    public @NonNull String getToken() {
        return token;
    }

    /** The validated header value, e.g. {@code a:com.x:TOKEN}. */
    public @NonNull String headerValue() throws SipWakeException {
        return SipWake.mpushHeader(this);
    }

    /** {@code "X-MPUSH: " + headerValue()}, for SIP stacks that take whole lines. */
    public @NonNull String headerLine() throws SipWakeException {
        return "X-MPUSH: " + headerValue();
    }

    static MpushBinding fromFields(String[] f) {
        return new MpushBinding(PushEnv.fromJsonName(f[0]), Provider.fromLetter(f[1]), f[2], f[3]);
    }

    @Override
    public boolean equals(@Nullable Object o) {
        if (!(o instanceof MpushBinding)) {
            return false;
        }
        MpushBinding b = (MpushBinding) o;
        return env == b.env && provider == b.provider
                && packageName.equals(b.packageName) && token.equals(b.token);
    }

    @Override
    public int hashCode() {
        return Objects.hash(env, provider, packageName, token);
    }

    /** Leaves the token out: it is a secret that must not end up in logs. */
    @Override
    public @NonNull String toString() {
        return "MpushBinding{" + env + ", " + provider + ", " + packageName + ", token="
                + token.length() + " chars}";
    }
}
