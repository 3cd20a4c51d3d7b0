#!/usr/bin/env bash
# Android SDK (sdk-android): the JNI cdylib and the Java wrapper on the host
# JVM (-Xcheck:jni) against every shared vector, Rust unit tests, and a
# compile check of the aarch64-linux-android target (no NDK here, so no link).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_apt default-jdk-headless libgoogle-gson-java rustc-web cargo-web rust-web-src rust-web-llvm lld-22

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

log "compile check: aarch64-linux-android (Debian rustc-web + build-std)"
PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$ROOT/target-sdk-cross" \
  cargo rustc -q -Zbuild-std=std,panic_abort --target aarch64-linux-android --release \
  --lib --crate-type staticlib -p sipwake-android
test -s "$ROOT/target-sdk-cross/aarch64-linux-android/release/libsipwake_android.a"
count 1

echo "$passed passed, 0 failed"
