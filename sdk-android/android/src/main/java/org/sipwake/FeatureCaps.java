package org.sipwake;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * A {@code Feature-Caps} header (RFC 6809) with the RFC 8599 push indicators:
 * which push services the proxy supports ({@code +sip.pns}), whether it keeps
 * the registration alive by push ({@code +sip.pnsreg}) and the purr.
 */
public final class FeatureCaps {
    private final List<String> pns;
    private final boolean pnsreg;
    @Nullable private final Long pnsregSeconds;
    @Nullable private final String pnspurr;

    /** A non-null {@code pnsregSeconds} implies {@code pnsreg}. */
    public FeatureCaps(
            @NonNull List<String> pns, boolean pnsreg, @Nullable Long pnsregSeconds, @Nullable String pnspurr) {
        this.pns = Collections.unmodifiableList(new ArrayList<>(Objects.requireNonNull(pns, "pns")));
        this.pnsreg = pnsreg || pnsregSeconds != null;
        this.pnsregSeconds = pnsregSeconds;
        this.pnspurr = pnspurr;
    }

    /** Lowercased {@code +sip.pns} service names ({@code fcm}, {@code apns}, {@code webpush}). */
    public @NonNull List<String> getPns() {
        return pns;
    }

    public boolean hasPnsreg() {
        return pnsreg;
    }

    /** The {@code +sip.pnsreg} value: seconds before expiry the proxy wants a re-REGISTER. */
    public @Nullable Long getPnsregSeconds() {
        return pnsregSeconds;
    }

    public @Nullable String getPnspurr() {
        return pnspurr;
    }

    /** Whether {@code +sip.pns} lists the service (case-insensitive). */
    public boolean supports(@NonNull String service) {
        for (String p : pns) {
            if (p.equalsIgnoreCase(service)) {
                return true;
            }
        }
        return false;
    }

    /** The header value, e.g. {@code *;+sip.pns="fcm";+sip.pnsreg="120"}. */
    public @NonNull String headerValue() throws SipWakeException {
        return SipWake.formatFeatureCaps(this);
    }

    static FeatureCaps fromFields(String[] f) {
        return new FeatureCaps(Arrays.asList(f).subList(3, f.length), "1".equals(f[0]),
                f[1] == null ? null : Long.valueOf(f[1]), f[2]);
    }

    @Override
    public boolean equals(@Nullable Object o) {
        if (!(o instanceof FeatureCaps)) {
            return false;
        }
        FeatureCaps c = (FeatureCaps) o;
        return pns.equals(c.pns) && pnsreg == c.pnsreg
                && Objects.equals(pnsregSeconds, c.pnsregSeconds) && Objects.equals(pnspurr, c.pnspurr);
    }

    @Override
    public int hashCode() {
        return Objects.hash(pns, pnsreg, pnsregSeconds, pnspurr);
    }

    @Override
    public @NonNull String toString() {
        return "FeatureCaps{pns=" + pns + ", pnsreg=" + pnsreg + ", seconds=" + pnsregSeconds
                + ", purr=" + pnspurr + "}";
    }
}
