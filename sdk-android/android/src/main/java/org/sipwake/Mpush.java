package org.sipwake;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import java.util.Objects;

/** A parsed X-MPUSH value: a binding, or {@code null} (remove the push binding). */
public final class Mpush {
    private static final Mpush REMOVE = new Mpush(null);

    @Nullable private final MpushBinding binding;

    private Mpush(@Nullable MpushBinding binding) {
        this.binding = binding;
    }

    public static @NonNull Mpush remove() {
        return REMOVE;
    }

    public static @NonNull Mpush bind(@NonNull MpushBinding binding) {
        return new Mpush(Objects.requireNonNull(binding, "binding"));
    }

    /** True for the literal {@code null}: the app asks to stop push. */
    public boolean isRemove() {
        return binding == null;
    }

    /** The binding, or null when {@link #isRemove()}. */
    public @Nullable MpushBinding getBinding() {
        return binding;
    }

    /** The header value: the binding's, or {@code "null"}. */
    public @NonNull String headerValue() throws SipWakeException {
        return binding == null ? "null" : binding.headerValue();
    }

    static Mpush fromFields(String[] f) {
        return f.length == 0 ? REMOVE : new Mpush(MpushBinding.fromFields(f));
    }

    @Override
    public boolean equals(@Nullable Object o) {
        return o instanceof Mpush && Objects.equals(binding, ((Mpush) o).binding);
    }

    @Override
    public int hashCode() {
        return Objects.hashCode(binding);
    }

    @Override
    public @NonNull String toString() {
        return binding == null ? "Mpush{remove}" : "Mpush{" + binding + "}";
    }
}
