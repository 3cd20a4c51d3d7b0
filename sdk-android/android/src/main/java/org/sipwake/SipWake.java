package org.sipwake;

import androidx.annotation.NonNull;
import androidx.annotation.Nullable;
import java.util.Map;

/**
 * The sipwake client library: X-MPUSH / X-PIID headers for REGISTER, RFC 8599
 * Contact parameters, and parsing of the push payloads the gateway sends.
 *
 * <p>All methods are static, thread-safe and pure (no I/O). Invalid input
 * throws {@link SipWakeException} with the core library's message; a bug in
 * the native code also surfaces as {@link SipWakeException}, never as a
 * crash. From Kotlin call them as {@code SipWake.parsePush(remoteMessage.data)}.
 */
public final class SipWake {
    static {
        System.loadLibrary("sipwake_android");
    }

    private SipWake() {}

    // ---- X-MPUSH ----

    /** The X-MPUSH header value for a binding, validated (non-empty, printable ASCII, size limits). */
    public static @NonNull String mpushHeader(@NonNull MpushBinding binding) throws SipWakeException {
        requireArg(binding, "binding");
        return nMpushHeader(binding.getEnv().jsonName(), String.valueOf(binding.getProvider().letter()),
                binding.getPackageName(), binding.getToken());
    }

    /** Convenience for {@code mpushHeader(new MpushBinding(env, provider, packageName, token))}. */
    public static @NonNull String mpushHeader(
            @NonNull PushEnv env, @NonNull Provider provider, @NonNull String packageName, @NonNull String token)
            throws SipWakeException {
        requireArg(env, "env");
        requireArg(provider, "provider");
        return nMpushHeader(env.jsonName(), String.valueOf(provider.letter()), packageName, token);
    }

    /** Parses an X-MPUSH header value (without {@code X-MPUSH:}). */
    public static @NonNull Mpush parseMpush(@NonNull String value) throws SipWakeException {
        return Mpush.fromFields(nParseMpush(value));
    }

    // ---- X-PIID ----

    /** {@code X-PIID}: lowercase hex md5(username ":" realm ":" password). */
    public static @NonNull String computePiid(
            @NonNull String username, @NonNull String realm, @NonNull String password) throws SipWakeException {
        return nComputePiid(username, realm, password);
    }

    /** Constant-time check of an X-PIID value (hex case ignored). */
    public static boolean verifyPiid(
            @NonNull String piid, @NonNull String username, @NonNull String realm, @NonNull String password)
            throws SipWakeException {
        return nVerifyPiid(piid, username, realm, password);
    }

    // ---- RFC 8599 ----

    /** Push parameters of a Contact URI or name-addr; null when it has none. */
    public static @Nullable PnParams parsePnParams(@NonNull String contact) throws SipWakeException {
        String[] f = nParsePnParams(contact);
        return f == null ? null : PnParams.fromFields(f);
    }

    /** {@code ";pn-provider=fcm;pn-param=...;pn-prid=..."}, %-escaped, to append to a Contact URI. */
    public static @NonNull String formatPnParams(@NonNull PnParams params) throws SipWakeException {
        requireArg(params, "params");
        return nFormatPnParams(params.getProvider(), params.getParam(), params.getPrid(), params.getPurr());
    }

    /** The X-MPUSH equivalent of RFC 8599 parameters (apns→i, fcm→a, webpush→w). */
    public static @NonNull Mpush pnToMpush(@NonNull PnParams params) throws SipWakeException {
        requireArg(params, "params");
        return Mpush.fromFields(
                nPnToMpush(params.getProvider(), params.getParam(), params.getPrid(), params.getPurr()));
    }

    /** The RFC 8599 equivalent of a binding (a, j→fcm; i→apns; w→webpush). */
    public static @NonNull PnParams mpushToPn(@NonNull MpushBinding binding) throws SipWakeException {
        requireArg(binding, "binding");
        return PnParams.fromFields(nMpushToPn(binding.getEnv().jsonName(),
                String.valueOf(binding.getProvider().letter()), binding.getPackageName(), binding.getToken()));
    }

    // ---- Feature-Caps (RFC 6809 / 8599) ----

    /** Parses a Feature-Caps header value (a {@code Feature-Caps:} prefix is tolerated). */
    public static @NonNull FeatureCaps parseFeatureCaps(@NonNull String value) throws SipWakeException {
        return FeatureCaps.fromFields(nParseFeatureCaps(value));
    }

    /** Formats a Feature-Caps header value. */
    public static @NonNull String formatFeatureCaps(@NonNull FeatureCaps caps) throws SipWakeException {
        requireArg(caps, "caps");
        Long seconds = caps.getPnsregSeconds();
        return nFormatFeatureCaps(caps.getPns().toArray(new String[0]), caps.hasPnsreg(),
                seconds == null ? -1L : seconds, caps.getPnspurr());
    }

    /**
     * Whether a Feature-Caps header from the registrar's 200 OK announces
     * {@code service} (e.g. {@code "fcm"}): the gateway will wake this app by push.
     */
    public static boolean supportsPush(@NonNull String featureCapsValue, @NonNull String service)
            throws SipWakeException {
        requireArg(service, "service");
        return parseFeatureCaps(featureCapsValue).supports(service);
    }

    // ---- push payloads ----

    /**
     * Parses an FCM data message: pass {@code RemoteMessage.getData()} from
     * {@code FirebaseMessagingService.onMessageReceived}. Null keys or values are ignored.
     */
    public static @NonNull Notification parsePush(@NonNull Map<String, String> data) throws SipWakeException {
        requireArg(data, "data");
        String[] flat = new String[data.size() * 2];
        int i = 0;
        for (Map.Entry<String, String> e : data.entrySet()) {
            if (i >= flat.length) {
                break; // the map grew while we iterated: ignore the extra entries
            }
            flat[i++] = e.getKey();
            flat[i++] = e.getValue();
        }
        return Notification.fromFields(nParseFcmData(flat));
    }

    /** Parses a push payload given as JSON text: FCM data, APNs / PushKit or Web Push shape (detected). */
    public static @NonNull Notification parsePush(@NonNull String json) throws SipWakeException {
        return Notification.fromFields(nParsePush(json));
    }

    /** Parses an APNs / PushKit payload ({@code aps} + data keys) given as JSON text. */
    public static @NonNull Notification parseApns(@NonNull String json) throws SipWakeException {
        return Notification.fromFields(nParseApns(json));
    }

    /** Parses a Web Push payload ({@code {"data":{...}}} or flat) given as JSON text. */
    public static @NonNull Notification parseWebpush(@NonNull String json) throws SipWakeException {
        return Notification.fromFields(nParseWebpush(json));
    }

    private static void requireArg(@Nullable Object arg, String name) throws SipWakeException {
        if (arg == null) {
            throw new SipWakeException(name + " must not be null");
        }
    }

    // Implemented in sdk-android/src/natives.rs. Null String arguments throw
    // SipWakeException there, so a null from Kotlin/Java never crashes.
    private static native String[] nParseMpush(String value) throws SipWakeException;

    private static native String nMpushHeader(String env, String provider, String packageName, String token)
            throws SipWakeException;

    private static native String[] nMpushToPn(String env, String provider, String packageName, String token)
            throws SipWakeException;

    private static native String nComputePiid(String username, String realm, String password)
            throws SipWakeException;

    private static native boolean nVerifyPiid(String piid, String username, String realm, String password)
            throws SipWakeException;

    private static native String[] nParsePnParams(String contact) throws SipWakeException;

    private static native String nFormatPnParams(String provider, String param, String prid, String purr)
            throws SipWakeException;

    private static native String[] nPnToMpush(String provider, String param, String prid, String purr)
            throws SipWakeException;

    private static native String[] nParseFeatureCaps(String value) throws SipWakeException;

    private static native String nFormatFeatureCaps(String[] pns, boolean pnsreg, long pnsregSeconds, String pnspurr)
            throws SipWakeException;

    private static native String[] nParseFcmData(String[] keysAndValues) throws SipWakeException;

    private static native String[] nParseApns(String json) throws SipWakeException;

    private static native String[] nParseWebpush(String json) throws SipWakeException;

    private static native String[] nParsePush(String json) throws SipWakeException;
}
