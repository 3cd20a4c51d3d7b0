package org.sipwake;

import androidx.annotation.NonNull;

/**
 * The gateway's push message templates, for apps or tools that build FCM /
 * APNs requests themselves the same way. Fields and results are JSON text
 * (the {@code PushFields} shape of tests/vectors/README.md; results are
 * free-form JSON messages), so this class needs no JSON library.
 */
public final class PushTemplates {
    static {
        System.loadLibrary("sipwake_android");
    }

    /** Names the built-in FCM template in {@link #render}. */
    public static final String DEFAULT_FCM = "@fcm";
    /** Names the built-in APNs template in {@link #render}. */
    public static final String DEFAULT_APNS = "@apns";

    private PushTemplates() {}

    /** The fields with the gateway's defaults filled in (all keys present). */
    public static @NonNull String pushDefaults(@NonNull String fieldsJson) throws SipWakeException {
        return nPushDefaults(fieldsJson);
    }

    /**
     * Renders {@code template} (text, or {@link #DEFAULT_FCM} / {@link #DEFAULT_APNS}):
     * cut at {@code --EOF}, keywords substituted with JSON escaping. Fields are used as given.
     */
    public static @NonNull String render(@NonNull String template, @NonNull String fieldsJson)
            throws SipWakeException {
        return nRender(template, fieldsJson);
    }

    /**
     * The default FCM v1 request for the fields (defaults filled), pruned for
     * {@code target} ({@code fcmAndroid}, {@code fcmIos}, {@code fcmWeb}, {@code apns}).
     *
     * @param removeNotification the manual's fcm_removenotification: -1 auto, 0 keep, 1 for calls, 2 always
     */
    public static @NonNull String renderFcm(
            @NonNull String fieldsJson, @NonNull String target, int removeNotification) throws SipWakeException {
        return nRenderFcm(fieldsJson, target, removeNotification);
    }

    /** The default APNs / PushKit message for the fields (defaults filled). */
    public static @NonNull String renderApns(@NonNull String fieldsJson) throws SipWakeException {
        return nRenderApns(fieldsJson);
    }

    private static native String nPushDefaults(String fields) throws SipWakeException;

    private static native String nRender(String template, String fields) throws SipWakeException;

    private static native String nRenderFcm(String fields, String target, int removeNotification)
            throws SipWakeException;

    private static native String nRenderApns(String fields) throws SipWakeException;
}
