#!/usr/bin/env bash
# Builds SipWakeFFI.xcframework (device + simulator static libraries with the
# C header and module map) for the Swift package. Needs macOS with Xcode and
# rustup targets aarch64-apple-ios, aarch64-apple-ios-sim, x86_64-apple-ios.
# Not run by CI (Linux); scripts/test-ios.sh compile-checks aarch64-apple-ios.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-../target}"
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
  # release profile: panic = "unwind", so entry points report panics as
  # SIPWAKE_STATUS_PANIC instead of aborting the app.
  cargo build --release --lib -p sipwake-ios --target "$t"
done
out="$CARGO_TARGET_DIR/xcframework"
rm -rf "$out" SipWakeFFI.xcframework
mkdir -p "$out/headers" "$out/sim"
cp include/sipwake.h "$out/headers/"
grep -v '^ *link ' include/module.modulemap >"$out/headers/module.modulemap"
lipo -create \
  "$CARGO_TARGET_DIR/aarch64-apple-ios-sim/release/libsipwake_ios.a" \
  "$CARGO_TARGET_DIR/x86_64-apple-ios/release/libsipwake_ios.a" \
  -output "$out/sim/libsipwake_ios.a"
xcodebuild -create-xcframework \
  -library "$CARGO_TARGET_DIR/aarch64-apple-ios/release/libsipwake_ios.a" -headers "$out/headers" \
  -library "$out/sim/libsipwake_ios.a" -headers "$out/headers" \
  -output SipWakeFFI.xcframework
echo "built $(pwd)/SipWakeFFI.xcframework"
