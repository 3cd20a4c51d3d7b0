// Must NOT compile (scripts/test-android.sh checks the errors): proves Kotlin
// sees the SDK's nullability annotations instead of platform types.
import org.sipwake.PnParams
import org.sipwake.SipWake

fun nullableResultAsNonNull(): PnParams = SipWake.parsePnParams("<sip:a@b>")

fun nullArgument() = SipWake.parseMpush(null)
