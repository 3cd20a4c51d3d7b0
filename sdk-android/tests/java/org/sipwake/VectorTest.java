package org.sipwake;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Runs every shared vector (tests/vectors/*.json) through the Java wrapper
 * and the JNI library, then API-level checks the vectors cannot express.
 * Usage: java -Xcheck:jni -Djava.library.path=DIR -cp ... org.sipwake.VectorTest VECTOR_DIR
 * With -Dsipwake.panicProbe=absent (a release library, no panic-probe feature)
 * it checks that the probe is missing instead of calling it.
 * Exits 1 on any failure; the last line is "N passed, M failed".
 */
public final class VectorTest {
    private int passed;
    private final List<String> failures = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: VectorTest VECTOR_DIR");
            System.exit(2);
        }
        VectorTest t = new VectorTest();
        t.runVectorFiles(Paths.get(args[0]));
        t.runApiChecks();
        for (String f : t.failures) {
            System.out.println("FAIL " + f);
        }
        System.out.println(t.passed + " passed, " + t.failures.size() + " failed");
        System.exit(t.failures.isEmpty() ? 0 : 1);
    }

    // ---- shared vectors ----

    private void runVectorFiles(Path dir) throws IOException {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.json")) {
            ds.forEach(files::add);
        }
        files.sort(null);
        if (files.isEmpty()) {
            failures.add("no vector files in " + dir);
            return;
        }
        for (Path file : files) {
            JsonObject doc = JsonParser.parseString(
                    new String(Files.readAllBytes(file), StandardCharsets.UTF_8)).getAsJsonObject();
            String function = doc.get("function").getAsString();
            JsonArray cases = doc.getAsJsonArray("cases");
            if (cases == null || cases.size() == 0) {
                failures.add(file.getFileName() + ": no cases");
            }
            for (JsonElement c : cases) {
                runCase(function, c.getAsJsonObject());
            }
        }
    }

    private void runCase(String function, JsonObject c) {
        String label = function + " / " + c.get("name").getAsString();
        JsonObject in = c.getAsJsonObject("input");
        JsonElement got;
        String error = null;
        try {
            got = call(function, in);
        } catch (SipWakeException e) {
            got = null;
            error = e.getMessage();
        } catch (RuntimeException e) {
            // Unknown function, wrong input shape, native layout mismatch.
            failures.add(label + ": harness error " + e);
            return;
        }
        boolean hasOutput = c.has("output");
        boolean hasError = c.has("error");
        if (hasOutput == hasError) {
            failures.add(label + ": exactly one of output/error required");
        } else if (hasOutput) {
            JsonElement want = c.get("output");
            check(got != null && got.equals(want), label, "want " + want + ", got "
                    + (got != null ? got : "error " + error));
        } else {
            String want = c.get("error").getAsString();
            check(error != null && error.contains(want), label, "want error containing \"" + want
                    + "\", got " + (error != null ? "error \"" + error + "\"" : got));
        }
    }

    /** Calls the typed API for one vector function and renders the result in the vector shape. */
    private static JsonElement call(String function, JsonObject in) throws SipWakeException {
        switch (function) {
            case "parse_mpush":
                return mpushJson(SipWake.parseMpush(str(in, "value")));
            case "format_mpush":
                return new JsonPrimitive(SipWake.mpushHeader(binding(in.getAsJsonObject("binding"))));
            case "compute_piid":
                return new JsonPrimitive(SipWake.computePiid(
                        str(in, "username"), str(in, "realm"), str(in, "password")));
            case "verify_piid":
                return new JsonPrimitive(SipWake.verifyPiid(
                        str(in, "piid"), str(in, "username"), str(in, "realm"), str(in, "password")));
            case "parse_pn_params": {
                PnParams p = SipWake.parsePnParams(str(in, "contact"));
                return p == null ? JsonNull.INSTANCE : pnJson(p);
            }
            case "format_pn_params":
                return new JsonPrimitive(SipWake.formatPnParams(pn(in.getAsJsonObject("params"))));
            case "pn_to_mpush":
                return mpushJson(SipWake.pnToMpush(pn(in.getAsJsonObject("params"))));
            case "mpush_to_pn":
                return pnJson(SipWake.mpushToPn(binding(in.getAsJsonObject("binding"))));
            case "parse_fcm_data": {
                Map<String, String> data = new HashMap<>();
                for (Map.Entry<String, JsonElement> e : in.getAsJsonObject("data").entrySet()) {
                    data.put(e.getKey(), e.getValue().getAsString());
                }
                return notificationJson(SipWake.parsePush(data));
            }
            case "parse_apns":
                return notificationJson(SipWake.parseApns(str(in, "json")));
            case "parse_webpush":
                return notificationJson(SipWake.parseWebpush(str(in, "json")));
            case "parse_push":
                return notificationJson(SipWake.parsePush(str(in, "json")));
            case "parse_feature_caps":
                return capsJson(SipWake.parseFeatureCaps(str(in, "value")));
            case "format_feature_caps":
                return new JsonPrimitive(SipWake.formatFeatureCaps(caps(in.getAsJsonObject("caps"))));
            case "push_defaults":
                return JsonParser.parseString(PushTemplates.pushDefaults(json(in, "fields")));
            case "render_template":
                return JsonParser.parseString(PushTemplates.render(str(in, "template"), json(in, "fields")));
            case "render_fcm":
                return JsonParser.parseString(PushTemplates.renderFcm(json(in, "fields"),
                        str(in, "target"), in.get("removeNotification").getAsInt()));
            case "render_apns":
                return JsonParser.parseString(PushTemplates.renderApns(json(in, "fields")));
            default:
                throw new IllegalArgumentException("unknown vector function " + function);
        }
    }

    private static String str(JsonObject in, String name) {
        JsonElement e = in.get(name);
        if (e == null || !e.isJsonPrimitive()) {
            throw new IllegalArgumentException("input lacks string " + name);
        }
        return e.getAsString();
    }

    /** A JSON-valued argument, re-serialised as text for the JSON-in API. */
    private static String json(JsonObject in, String name) {
        JsonElement e = in.get(name);
        if (e == null) {
            throw new IllegalArgumentException("input lacks " + name);
        }
        return e.toString();
    }

    private static FeatureCaps caps(JsonObject c) {
        List<String> pns = new ArrayList<>();
        JsonElement p = c.get("pns");
        if (p != null && !p.isJsonNull()) {
            for (JsonElement e : p.getAsJsonArray()) {
                pns.add(e.getAsString());
            }
        }
        JsonElement reg = c.get("pnsreg");
        JsonElement secs = c.get("pnsregSeconds");
        return new FeatureCaps(pns, reg != null && !reg.isJsonNull() && reg.getAsBoolean(),
                secs == null || secs.isJsonNull() ? null : secs.getAsLong(), optStr(c, "pnspurr"));
    }

    static JsonObject capsJson(FeatureCaps c) {
        JsonObject o = new JsonObject();
        JsonArray pns = new JsonArray();
        c.getPns().forEach(pns::add);
        o.add("pns", pns);
        o.addProperty("pnsreg", c.hasPnsreg());
        Long secs = c.getPnsregSeconds();
        o.add("pnsregSeconds", secs == null ? JsonNull.INSTANCE : new JsonPrimitive(secs));
        o.add("pnspurr", nullable(c.getPnspurr()));
        return o;
    }

    private static String optStr(JsonObject in, String name) {
        JsonElement e = in.get(name);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }

    private static MpushBinding binding(JsonObject b) {
        String env = optStr(b, "env");
        return new MpushBinding(env == null ? PushEnv.DEFAULT : pushEnv(env),
                Provider.fromLetter(str(b, "provider")), str(b, "package"), str(b, "token"));
    }

    /** Binding JSON accepts the env names and their header letters. */
    private static PushEnv pushEnv(String name) {
        for (PushEnv e : PushEnv.values()) {
            if (name.equals(String.valueOf(e.letter()))) {
                return e;
            }
        }
        return PushEnv.fromJsonName(name);
    }

    private static PnParams pn(JsonObject p) {
        return new PnParams(str(p, "provider"), optStr(p, "param"), optStr(p, "prid"), optStr(p, "purr"));
    }

    private static JsonElement nullable(String s) {
        return s == null ? JsonNull.INSTANCE : new JsonPrimitive(s);
    }

    static JsonObject mpushJson(Mpush m) {
        JsonObject o = new JsonObject();
        o.addProperty("remove", m.isRemove());
        MpushBinding b = m.getBinding();
        if (b != null) {
            o.addProperty("env", b.getEnv().jsonName());
            o.addProperty("provider", String.valueOf(b.getProvider().letter()));
            o.addProperty("package", b.getPackageName());
            o.addProperty("token", b.getToken());
        }
        return o;
    }

    static JsonObject pnJson(PnParams p) {
        JsonObject o = new JsonObject();
        o.addProperty("provider", p.getProvider());
        o.add("param", nullable(p.getParam()));
        o.add("prid", nullable(p.getPrid()));
        o.add("purr", nullable(p.getPurr()));
        return o;
    }

    static JsonObject notificationJson(Notification n) {
        JsonObject o = new JsonObject();
        o.addProperty("kind", n.getNtype());
        o.addProperty("kindName", n.getKindName());
        o.addProperty("from", n.getFrom());
        o.addProperty("fromUsername", n.getFromUsername());
        o.addProperty("fromDisplay", n.getFromDisplay());
        o.addProperty("msg", n.getMsg());
        o.addProperty("callId", n.getCallId());
        o.addProperty("toUser", n.getToUser());
        o.addProperty("title", n.getTitle());
        o.addProperty("body", n.getBody());
        o.addProperty("sound", n.getSound());
        return o;
    }

    // ---- API-level checks ----

    private void check(boolean ok, String label, String detail) {
        if (ok) {
            passed++;
        } else {
            failures.add(label + ": " + detail);
        }
    }

    private interface Call {
        Object run() throws Exception;
    }

    /** The call must throw SipWakeException whose message contains {@code want}. */
    private void expectSipWakeException(String label, String want, Call call) {
        try {
            Object r = call.run();
            failures.add(label + ": expected SipWakeException, got " + r);
        } catch (SipWakeException e) {
            check(e.getMessage() != null && e.getMessage().contains(want), label,
                    "message \"" + e.getMessage() + "\" lacks \"" + want + "\"");
        } catch (Exception | Error e) {
            failures.add(label + ": expected SipWakeException, got " + e);
        }
    }

    private void runApiChecks() throws Exception {
        // Nulls reach the native code and come back as exceptions, not crashes.
        expectSipWakeException("null header value", "value must not be null",
                () -> SipWake.parseMpush(null));
        expectSipWakeException("null json", "json must not be null", () -> SipWake.parsePush((String) null));
        expectSipWakeException("null map", "data must not be null",
                () -> SipWake.parsePush((Map<String, String>) null));
        expectSipWakeException("null piid arg", "realm must not be null",
                () -> SipWake.computePiid("u", null, "p"));
        expectSipWakeException("null binding", "binding must not be null",
                () -> SipWake.mpushHeader((MpushBinding) null));

        if ("absent".equals(System.getProperty("sipwake.panicProbe"))) {
            // A release library (scripts/test-dist.sh) is built without the
            // test-only panic-probe feature: the probe must not be there.
            try {
                PanicProbe.panic();
                failures.add("panic probe: a release library must not export it");
            } catch (UnsatisfiedLinkError e) {
                passed++;
            } catch (SipWakeException e) {
                failures.add("panic probe: a release library must not export it (" + e.getMessage() + ")");
            }
        } else {
            // A Rust panic inside a native method becomes a SipWakeException.
            expectSipWakeException("panic probe", "(Rust panic): panic probe", PanicProbe::panic);
            // ...and the library keeps working afterwards.
            check(SipWake.parseMpush("null").isRemove(), "usable after panic", "parseMpush failed");
        }

        // Typed API round trips.
        MpushBinding b = new MpushBinding(PushEnv.SANDBOX, Provider.APNS, "com.x.voip", "ab:cd");
        check(b.headerLine().equals("X-MPUSH: s:i:com.x.voip:ab:cd"), "headerLine", b.headerLine());
        Mpush back = SipWake.parseMpush(b.headerValue());
        check(b.equals(back.getBinding()), "mpush round trip", String.valueOf(back));
        check(!b.toString().contains("ab:cd"), "toString hides token", b.toString());
        check(Mpush.remove().headerValue().equals("null"), "remove header", "not null");
        PnParams pn = SipWake.mpushToPn(MpushBinding.fcm("com.x", "tok"));
        check(SipWake.pnToMpush(pn).equals(Mpush.bind(MpushBinding.fcm("com.x", "tok"))),
                "pn round trip", String.valueOf(pn));
        check(SipWake.parsePnParams("<sip:alice@example.com>") == null, "no pn params", "not null");

        // FCM data map with null entries: ignored like missing keys.
        Map<String, String> data = new HashMap<>();
        data.put("ntype", "2");
        data.put("ncallid", "abc@host");
        data.put("nfrom", null);
        data.put(null, "x");
        Notification n = SipWake.parsePush(data);
        check(n.getKind() == NotificationKind.CANCEL && n.getCallId().equals("abc@host")
                && n.getFrom().isEmpty(), "fcm map with nulls", String.valueOf(n));

        // Non-BMP and NUL characters survive the modified-UTF-8 JNI crossing.
        String odd = "caf\u00e9 \uD83D\uDCDE \u0000 end";
        Map<String, String> m2 = new HashMap<>();
        m2.put("nfromdisplayname", odd);
        check(SipWake.parsePush(m2).getFromDisplay().equals(odd), "non-BMP and NUL",
                SipWake.parsePush(m2).getFromDisplay());

        // A large map (more entries than the default JNI local-ref frame of 16/512).
        Map<String, String> big = new HashMap<>();
        for (int i = 0; i < 5000; i++) {
            big.put("k" + i, "v" + i);
        }
        big.put("ntype", "1");
        big.put("nmsg", "hello");
        Notification bn = SipWake.parsePush(big);
        check(bn.getKind() == NotificationKind.CHAT && bn.getMsg().equals("hello"), "big map",
                String.valueOf(bn));

        // Feature-Caps from a registrar's 200 OK.
        check(SipWake.supportsPush("*;+sip.pns=\"fcm\";+sip.pnsreg=\"120\"", "FCM"), "supportsPush",
                "fcm not found");
        expectSipWakeException("feature caps seconds out of range", "pnsregSeconds",
                () -> SipWake.formatFeatureCaps(new FeatureCaps(new ArrayList<>(), true, 1L << 33, null)));
        expectSipWakeException("bad template fields", "invalid fields JSON",
                () -> PushTemplates.renderApns("[1,2]"));
        expectSipWakeException("bad fcm target", "invalid target",
                () -> PushTemplates.renderFcm("{}", "ios", -1));

        concurrentCalls();
    }

    /** Several threads calling at once get correct, independent results. */
    private void concurrentCalls() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<String>> results = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                final int id = t;
                results.add(pool.submit(() -> {
                    for (int i = 0; i < 2000; i++) {
                        String tok = "t" + id + "-" + i;
                        Mpush m = SipWake.parseMpush("a:com.x:" + tok);
                        MpushBinding mb = m.getBinding();
                        if (mb == null || !mb.getToken().equals(tok)) {
                            return "thread " + id + " call " + i + " got " + m;
                        }
                        try {
                            SipWake.parseMpush("x:bad");
                            return "thread " + id + " bad header accepted";
                        } catch (SipWakeException expected) {
                            // the error path must be as thread-safe as the happy path
                        }
                    }
                    return "";
                }));
            }
            for (Future<String> f : results) {
                String r = f.get(60, TimeUnit.SECONDS);
                check(r.isEmpty(), "concurrent calls", r);
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
