// Compiled by scripts/test-android.sh with kotlinc against the Java wrapper
// and run on the JVM: the SDK as a Kotlin app sees it (platform types are
// replaced by the androidx nullability annotations).
import org.sipwake.FeatureCaps
import org.sipwake.Mpush
import org.sipwake.MpushBinding
import org.sipwake.NotificationKind
import org.sipwake.PnParams
import org.sipwake.Provider
import org.sipwake.PushEnv
import org.sipwake.SipWake
import org.sipwake.SipWakeException
import kotlin.system.exitProcess

private var passed = 0
private val failures = mutableListOf<String>()

private fun check(ok: Boolean, name: String, detail: () -> String) {
    if (ok) passed++ else failures += "$name: ${detail()}"
}

fun main() {
    val binding = MpushBinding(PushEnv.PRODUCTION, Provider.IOS_FCM, "com.example.voip", "tok:1")
    val header: String = SipWake.mpushHeader(binding)
    check(header == "p:j:com.example.voip:tok:1", "mpushHeader") { header }

    val parsed: Mpush = SipWake.parseMpush(header)
    check(parsed.binding == binding, "parseMpush") { parsed.toString() }

    // A nullable result must be handled as nullable.
    val none: PnParams? = SipWake.parsePnParams("<sip:alice@example.com>")
    check(none == null, "parsePnParams none") { none.toString() }
    val pn = SipWake.parsePnParams("<sip:a@b;pn-provider=fcm;pn-param=com.x;pn-prid=t>")
    check(pn?.prid == "t" && pn.param == "com.x", "parsePnParams") { pn.toString() }

    // FirebaseMessagingService.onMessageReceived: remoteMessage.data is a Map<String, String>.
    val data = mapOf("ntype" to "1", "nfrom" to "sip:bob@example.com", "nmsg" to "hi")
    val n = SipWake.parsePush(data)
    val text = when (n.kind) {
        NotificationKind.CHAT -> "${n.from}: ${n.msg}"
        else -> "unexpected ${n.kind}"
    }
    check(text == "sip:bob@example.com: hi", "parsePush(Map)") { text }

    val caps: FeatureCaps = SipWake.parseFeatureCaps("*;+sip.pns=\"fcm\";+sip.pnsreg=\"60\"")
    check(caps.supports("fcm") && caps.pnsregSeconds == 60L, "Feature-Caps") { caps.toString() }

    val error = try {
        SipWake.parseMpush("x:pkg:tok")
        null
    } catch (e: SipWakeException) {
        e.message
    }
    check(error?.contains("unknown provider") == true, "SipWakeException") { error.toString() }

    for (f in failures) println("FAIL $f")
    println("kotlin: $passed passed, ${failures.size} failed")
    exitProcess(if (failures.isEmpty()) 0 else 1)
}
