package org.sipwake;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import java.util.Objects;

/** RFC 8599 push parameters of a Contact URI ({@code pn-provider}, {@code pn-param}, {@code pn-prid}, {@code pn-purr}). */
public final class PnParams {
    private final String provider;
    @Nullable private final String param;
    @Nullable private final String prid;
    @Nullable private final String purr;

    /** @param provider {@code "fcm"}, {@code "apns"}, {@code "webpush"} or another name */
    public PnParams(
            @NonNull String provider,
            @Nullable String param,
            @Nullable String prid,
            @Nullable String purr) {
        this.provider = Objects.requireNonNull(provider, "provider");
        this.param = param;
        this.prid = prid;
        this.purr = purr;
    }

    public @NonNull String getProvider() {
        return provider;
    }

    public @Nullable String getParam() {
        return param;
    }

    public @Nullable String getPrid() {
        return prid;
    }

    public @Nullable String getPurr() {
        return purr;
    }

    /** {@code pn-prid=null}: the device asks to stop push. */
    public boolean isRemove() {
        return "null".equals(prid);
    }

    static PnParams fromFields(String[] f) {
        return new PnParams(f[0], f[1], f[2], f[3]);
    }

    @Override
    public boolean equals(@Nullable Object o) {
        if (!(o instanceof PnParams)) {
            return false;
        }
        PnParams p = (PnParams) o;
        return provider.equals(p.provider) && Objects.equals(param, p.param)
                && Objects.equals(prid, p.prid) && Objects.equals(purr, p.purr);
    }

    @Override
    public int hashCode() {
        return Objects.hash(provider, param, prid, purr);
    }

    /** Leaves the prid (the device token) out of logs. */
    @Override
    public @NonNull String toString() {
        return "PnParams{" + provider + ", param=" + param + ", prid="
                + (prid == null ? "null" : prid.length() + " chars") + ", purr=" + purr + "}";
    }
}
