#!/usr/bin/env bash
# Release artefacts: runs scripts/dist.sh, then uses every artefact in dist/
# as an app developer would, each in a scratch directory outside the
# repository (removed on exit):
#   - SHA256SUMS verifies and every artefact carries the one workspace version;
#   - npm: a scratch project installs sipwake-wasm-<v>.tgz; the shared vectors
#     run through require('sipwake-wasm') and import('sipwake-wasm') in Node,
#     tsc resolves the package's types, and an esbuild bundle of
#     `import init, * as sdk from 'sipwake-wasm'` runs them in headless Chromium;
#   - the service worker tarball holds a worker that parses;
#   - Android: VectorTest compiled against the jar (not the sources) runs every
#     vector through the shipped JNI library under -Xcheck:jni;
#   - iOS: sdk-ios/tests/vectors.c built against the shipped header and static
#     library runs every vector (vectors.py prep/check, as test-ios.sh does);
#   - the Rust sources in the Android and iOS tarballs compile (cargo check).
# The shipped libraries are built without the test-only panic-probe feature:
# instead of the panic test, the probe's absence is checked.
# Each step runs even when an earlier one failed; a failed step counts once.
# The check_* functions run through `step`, which shellcheck cannot follow:
# shellcheck disable=SC2317
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_apt chromium gcc g++ libc6-dev python3 default-jdk-headless libgoogle-gson-java binutils
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then need_apt nodejs npm; fi
# esbuild, playwright-core and typescript for the scratch app's checks.
need_npm client-wasm/tests

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
counts="$scratch/passed" # one number per line: passes recorded inside steps
: >"$counts"
pass() { echo "ok: $*"; echo 1 >>"$counts"; }
# suite_passed OUT : the passes of the `[label: ]N passed, 0 failed` lines in OUT.
suite_passed() { sed -nE 's/^([A-Za-z ]+: )?([0-9]+) passed, 0 failed.*$/\2/p' "$1" >>"$counts"; }
# step NAME FUNCTION : runs FUNCTION with errexit in a subshell; the run goes on after a failure.
step() {
  log "$1"
  set +e
  (set -e; "$2")
  local rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "FAILED: $1 (exit $rc)"
    failed=$((failed + 1))
  fi
}
finish() {
  passed=$(awk '{s += $1} END {print s + 0}' "$counts")
  echo "$passed passed, $failed failed"
  if [ "$failed" -gt 0 ]; then exit 1; fi
  exit 0
}

log "scripts/dist.sh"
if ! scripts/dist.sh; then
  echo "FAILED: scripts/dist.sh"
  failed=1
  finish
fi

version=$(workspace_version)
DIST="$ROOT/dist"
npm_tgz="sipwake-wasm-$version.tgz"
sw_tgz="sipwake-service-worker-$version.tar.gz"
android_tgz="sipwake-android-$version.tar.gz"
ios_tgz="sipwake-ios-$version.tar.gz"
vectors="$ROOT/tests/vectors"

check_sums() {
  (cd "$DIST" && sha256sum -c --strict SHA256SUMS)
  pass "sha256sum -c SHA256SUMS"
  local want have
  want=$(printf '%s\n' "$npm_tgz" "$sw_tgz" "$android_tgz" "$ios_tgz" | sort)
  have=$(cd "$DIST" && find . -mindepth 1 -maxdepth 1 ! -name SHA256SUMS -printf '%f\n' | sort)
  [ "$have" = "$want" ] || { printf 'dist/ holds:\n%s\nwant (version %s):\n%s\n' "$have" "$version" "$want"; exit 1; }
  pass "dist/ holds exactly the four artefacts, each named with version $version"
  [ "$(awk '{print $2}' "$DIST/SHA256SUMS" | sort)" = "$want" ] || { echo "SHA256SUMS does not list every artefact"; exit 1; }
  pass "SHA256SUMS lists every artefact"
}

# The scratch app: a project that installed the tarball, with the checks of
# scripts/dist/app and the vector runner of the WASM tests copied in.
app="$scratch/npm-app"
check_npm_node() {
  node scripts/dist/npm-package.mjs check "$DIST/$npm_tgz" "$version" | tee "$scratch/npm-pkg.out"
  suite_passed "$scratch/npm-pkg.out"
  mkdir -p "$app"
  printf '{ "name": "sipwake-dist-check", "version": "1.0.0", "private": true }\n' >"$app/package.json"
  # Offline: the package has no dependencies, nothing needs the registry.
  (cd "$app" && npm install --offline --no-audit --no-fund "$DIST/$npm_tgz")
  [ "$(cd "$app" && node -p "require('sipwake-wasm/package.json').version")" = "$version" ]
  pass "npm install $npm_tgz"
  cp scripts/dist/app/* client-wasm/tests/vectors.js "$app/"
  # Node 20.19+ guesses ES module syntax in files without a "type"; turn that
  # off so only the package's own "type" fields decide (older Node never guesses).
  local strict=()
  if node --no-experimental-detect-module -e 0 2>/dev/null; then strict=(--no-experimental-detect-module); fi
  (cd "$app" && node "${strict[@]}" require.cjs "$vectors" "$version") | tee "$scratch/require.out"
  suite_passed "$scratch/require.out"
  (cd "$app" && node "${strict[@]}" import.mjs "$vectors" "$version") | tee "$scratch/import.out"
  suite_passed "$scratch/import.out"
  local tsc="$ROOT/client-wasm/tests/node_modules/typescript/bin/tsc"
  (cd "$app" && node "$tsc" -p tsconfig.bundler.json)
  pass "tsc (moduleResolution bundler): sipwake-wasm has the web build's types"
  (cd "$app" && node "$tsc" -p tsconfig.node.json)
  pass "tsc (moduleResolution node16, CommonJS): sipwake-wasm has the node build's types"
}

check_npm_page() {
  [ -f "$app/page.mjs" ] || { echo "no scratch app (the npm install step failed)"; exit 1; }
  (cd "$app" && node page.mjs "$vectors" "$version" "$ROOT/client-wasm/tests") | tee "$scratch/page.out"
  suite_passed "$scratch/page.out"
}

check_service_worker() {
  local d="$scratch/sw"
  mkdir -p "$d"
  tar -xzf "$DIST/$sw_tgz" -C "$d"
  local top="$d/sipwake-service-worker-$version"
  [ -s "$top/firebase-messaging-sw.js" ] && [ -s "$top/firebase-messaging-sw.js.LEGAL.txt" ] && [ -s "$top/README.md" ]
  pass "$sw_tgz: firebase-messaging-sw.js, its .LEGAL.txt and README.md"
  node --check "$top/firebase-messaging-sw.js"
  grep -q "/sdk/no-modules/sipwake_wasm.js" "$top/firebase-messaging-sw.js"
  grep -q "sipwake-wasm-$version.tgz" "$top/README.md"
  pass "the worker parses and loads the SDK from /sdk/no-modules/, as its README says"
}

check_android() {
  local d="$scratch/android"
  mkdir -p "$d"
  tar -xzf "$DIST/$android_tgz" -C "$d"
  local top="$d/sipwake-android-$version"
  local jar="$top/sipwake-android-$version.jar" jni="$top/jni/linux-x86_64"
  for f in "$jar" "$jni/libsipwake_android.so" "$top/README.md" "$top/source/Cargo.toml" "$top/source/Cargo.lock" \
    "$top/source/core/src/lib.rs" "$top/source/sdk-android/src/lib.rs" "$top/source/sdk-android/android/build.gradle.kts" \
    "$top/source/sdk-android/android/src/main/AndroidManifest.xml"; do
    [ -s "$f" ] || { echo "missing in $android_tgz: ${f#"$d/"}"; exit 1; }
  done
  pass "$android_tgz: jar, jni/linux-x86_64/libsipwake_android.so, Gradle module and its Rust sources"
  unzip -p "$jar" META-INF/MANIFEST.MF | tr -d '\r' >"$scratch/MANIFEST.MF"
  grep -qx "Implementation-Version: $version" "$scratch/MANIFEST.MF"
  grep -qx "Implementation-Title: sipwake-android" "$scratch/MANIFEST.MF"
  pass "jar manifest: Implementation-Title sipwake-android, Implementation-Version $version"
  local other
  other=$(unzip -Z1 "$jar" | grep -vE '^(META-INF/(MANIFEST\.MF)?|org/|org/sipwake/|org/sipwake/[A-Za-z$]+\.class)$' || true)
  [ -z "$other" ] || { echo "unexpected in the jar: $other"; exit 1; }
  if unzip -Z1 "$jar" | grep -q PanicProbe; then echo "the jar holds the test-only PanicProbe"; exit 1; fi
  pass "the jar holds org/sipwake classes only"
  defines_symbol "$jni/libsipwake_android.so" Java_org_sipwake_SipWake_nParseMpush
  if defines_symbol "$jni/libsipwake_android.so" Java_org_sipwake_PanicProbe_panic; then
    echo "the shipped JNI library exports the test-only panic probe"; exit 1
  fi
  pass "the JNI library has the natives and no panic probe"

  # The test program against the jar, not the sources (PanicProbe is test code).
  local gson=/usr/share/java/gson.jar classes="$scratch/android-test"
  mkdir -p "$classes"
  javac -Xlint:all -Werror -d "$classes" -cp "$jar:$gson" \
    sdk-android/tests/java/org/sipwake/VectorTest.java sdk-android/tests/java/org/sipwake/PanicProbe.java
  local rc=0
  (cd "$scratch" && RUST_BACKTRACE=0 java -Xcheck:jni -Dsipwake.panicProbe=absent -Djava.library.path="$jni" \
    -cp "$classes:$jar:$gson" org.sipwake.VectorTest "$vectors") >"$scratch/java.out" 2>&1 || rc=$?
  cat "$scratch/java.out"
  [ "$rc" -eq 0 ] || { echo "VectorTest failed (exit $rc)"; exit 1; }
  # -Xcheck:jni only warns; any JNI misuse it reports is a failure.
  if grep -q 'WARNING in native method\|FATAL ERROR in native method' "$scratch/java.out"; then
    echo "-Xcheck:jni reported JNI misuse"; exit 1
  fi
  suite_passed "$scratch/java.out"

  # What the Gradle module's cargo-ndk task builds: the shipped workspace
  # resolves with its own Cargo.lock, offline, and compiles.
  (cd "$top/source" && CARGO_TARGET_DIR="$ROOT/target-sdk" cargo check -q --locked --offline -p sipwake-android)
  pass "the Rust sources of the Gradle module compile (cargo check --locked --offline)"
}

check_ios() {
  local d="$scratch/ios"
  mkdir -p "$d"
  tar -xzf "$DIST/$ios_tgz" -C "$d"
  local top="$d/sipwake-ios-$version"
  local inc="$top/include" lib="$top/lib/linux-x86_64/libsipwake_ios.a" pkg="$top/source/sdk-ios"
  for f in "$inc/sipwake.h" "$inc/module.modulemap" "$lib" "$top/README.md" "$top/source/Cargo.toml" \
    "$top/source/Cargo.lock" "$top/source/core/src/lib.rs" "$pkg/src/lib.rs" "$pkg/Package.swift" \
    "$pkg/Sources/SipWake/SipWake.swift" "$pkg/include/sipwake.h" "$pkg/include/module.modulemap"; do
    [ -s "$f" ] || { echo "missing in $ios_tgz: ${f#"$d/"}"; exit 1; }
  done
  [ -x "$pkg/build-xcframework.sh" ] || { echo "build-xcframework.sh is missing or not executable"; exit 1; }
  cmp "$inc/sipwake.h" "$pkg/include/sipwake.h"
  pass "$ios_tgz: header, module map, static library, Swift package, build-xcframework.sh and the Rust sources"
  defines_symbol "$lib" sipwake_parse_mpush
  if defines_symbol "$lib" sipwake_debug_panic; then
    echo "the shipped static library exports the test-only panic probe"; exit 1
  fi
  pass "the static library has the C ABI and no panic probe"
  g++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I"$inc" sdk-ios/tests/cxx_header_check.cpp
  pass "the shipped header compiles as C++"

  # The link line the artefact's README gives.
  local bin="$scratch/ios-vectors" work="$scratch/ios-work"
  gcc -std=c11 -Wall -Wextra -Werror -DSIPWAKE_NO_PANIC_PROBE -I"$inc" sdk-ios/tests/vectors.c \
    "$lib" -lpthread -ldl -lm -o "$bin"
  mkdir -p "$work"
  # Snapshot the vectors so prep and check read the same files.
  cp "$vectors"/*.json "$work/"
  python3 sdk-ios/tests/vectors.py prep "$work" "$work/cases"
  local rc=0
  RUST_BACKTRACE=0 "$bin" "$work/cases" "$work/results" >"$work/out" 2>&1 || rc=$?
  cat "$work/out"
  [ "$rc" -eq 0 ] || { echo "the C runner failed (exit $rc)"; exit 1; }
  suite_passed "$work/out"
  python3 sdk-ios/tests/vectors.py check "$work" "$work/results" | tee "$work/check"
  suite_passed "$work/check"

  # What build-xcframework.sh builds: the shipped workspace resolves with its
  # own Cargo.lock, offline, and compiles.
  (cd "$top/source" && CARGO_TARGET_DIR="$ROOT/target-sdk" cargo check -q --locked --offline -p sipwake-ios)
  pass "the Rust sources of the Swift package compile (cargo check --locked --offline)"
}

step "checksums and versions" check_sums
step "npm: install the tarball, Node require/import, TypeScript" check_npm_node
step "npm: an esbuild bundle in headless Chromium" check_npm_page
step "service worker" check_service_worker
step "Android: VectorTest against the jar and the shipped JNI library" check_android
step "iOS: the C vector runner against the shipped header and static library" check_ios
finish
