#!/usr/bin/env bash
# Android SDK (sdk-android): the JNI cdylib and the Java wrapper on the host
# JVM (-Xcheck:jni) against every shared vector, Rust unit tests, and a
# compile check of the aarch64-linux-android target (no NDK here, so no link).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_apt default-jdk-headless libgoogle-gson-java "${RUST_WEB_PKGS[@]}"
# npm only provides kotlinc; a Node.js that ships its own npm is fine too.
command -v node >/dev/null && command -v npm >/dev/null || need_apt nodejs npm

# Own target dirs: the SDK libs are release builds, and the cross check uses
# Debian's rustc (a different compiler) which must not share artefacts.
export CARGO_TARGET_DIR="$ROOT/target-sdk"
passed=0
count() { # count N: add N to the passed total
  passed=$((passed + $1))
}

log "sipwake-android unit tests"
out=$(cargo test -q -p sipwake-android 2>&1) || { echo "$out"; exit 1; }
count "$(echo "$out" | sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' | awk '{s+=$1} END {print s+0}')"

# Release profile = panic "unwind": the natives catch panics and throw
# SipWakeException (the release-sdk profile would abort instead).
log "build libsipwake_android.so (release, with the panic-probe test hook)"
cargo build -q --release -p sipwake-android --features panic-probe

log "javac the wrapper and the vector test"
classes="$CARGO_TARGET_DIR/android-java"
rm -rf "$classes" && mkdir -p "$classes"
gson=/usr/share/java/gson.jar
# shellcheck disable=SC2046
javac -Xlint:all -Werror -d "$classes" -cp "$gson" \
  $(find sdk-android/android/src/main/java sdk-android/tests -name '*.java' | sort)

log "run every vector through the JVM (-Xcheck:jni)"
set +e
# The panic probe's panic message on stderr is expected.
out=$(RUST_BACKTRACE=0 java -Xcheck:jni -Djava.library.path="$CARGO_TARGET_DIR/release" -cp "$classes:$gson" \
  org.sipwake.VectorTest tests/vectors 2>&1)
rc=$?
set -e
echo "$out"
[ $rc -eq 0 ] || { echo "VectorTest failed (exit $rc)"; exit 1; }
# -Xcheck:jni only warns; treat any JNI misuse it reports as a failure.
if echo "$out" | grep -q 'WARNING in native method\|FATAL ERROR in native method'; then
  echo "-Xcheck:jni reported JNI misuse"; exit 1
fi
count "$(echo "$out" | sed -n 's/^\([0-9]*\) passed, 0 failed$/\1/p')"

log "Kotlin: the API as Kotlin sees it (kotlinc from npm, Debian's is too old)"
kt=sdk-android/tests/kotlin
if [ ! -f "$kt/node_modules/kotlin-compiler/bin/kotlinc" ] || [ "$kt/package-lock.json" -nt "$kt/node_modules" ]; then
  (cd "$kt" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
  touch "$kt/node_modules"
fi
kotlinc() { bash "$kt/node_modules/kotlin-compiler/bin/kotlinc" "$@"; }
kotlinc -Werror -cp "$classes" "$kt/KotlinUsage.kt" -d "$CARGO_TARGET_DIR/kotlin-usage.jar"
RUST_BACKTRACE=0 java -Xcheck:jni -Djava.library.path="$CARGO_TARGET_DIR/release" \
  -cp "$classes:$CARGO_TARGET_DIR/kotlin-usage.jar:$kt/node_modules/kotlin-compiler/lib/kotlin-stdlib.jar" \
  KotlinUsageKt | tee "$CARGO_TARGET_DIR/kotlin.out"
count "$(sed -n 's/^kotlin: \([0-9]*\) passed, 0 failed$/\1/p' "$CARGO_TARGET_DIR/kotlin.out")"
# NullSafety.kt must be rejected, for exactly the two nullability errors.
if kotlinc -cp "$classes" "$kt/NullSafety.kt" -d "$CARGO_TARGET_DIR/kotlin-nullsafety.jar" \
  >"$CARGO_TARGET_DIR/kotlin-ns.out" 2>&1; then
  echo "NullSafety.kt compiled: Kotlin does not see the nullability annotations"; exit 1
fi
grep -q "expected 'PnParams', actual 'PnParams?'" "$CARGO_TARGET_DIR/kotlin-ns.out" &&
  grep -q "null cannot be a value of a non-null type 'String'" "$CARGO_TARGET_DIR/kotlin-ns.out" ||
  { cat "$CARGO_TARGET_DIR/kotlin-ns.out"; echo "NullSafety.kt failed for another reason"; exit 1; }
count 1

log "compile check: aarch64-linux-android (Debian rustc-web + build-std)"
PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$ROOT/target-sdk-cross" \
  cargo rustc -q -Zbuild-std=std,panic_abort --target aarch64-linux-android --release \
  --lib --crate-type staticlib -p sipwake-android
test -s "$ROOT/target-sdk-cross/aarch64-linux-android/release/libsipwake_android.a"
count 1

echo "$passed passed, 0 failed"
