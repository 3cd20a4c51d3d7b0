#!/usr/bin/env bash
# Release artefacts for every SDK into dist/, all carrying the one workspace
# version ([workspace.package] version in Cargo.toml):
#   sipwake-wasm-<v>.tgz                 npm package of the WASM SDK (npm pack)
#   sipwake-service-worker-<v>.tar.gz    firebase-messaging-sw.js (served at the site root)
#   sipwake-android-<v>.tar.gz           jar, host JNI library, Gradle module + Rust sources
#   sipwake-ios-<v>.tar.gz               header, host static library, Swift package + Rust sources
#   SHA256SUMS                           `sha256sum -c SHA256SUMS`
# Rerunnable: dist/ is emptied first. scripts/test-dist.sh installs and uses them.
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_wasm_toolchain
need_apt default-jdk-headless libgoogle-gson-java binutils
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then need_apt nodejs npm; fi
need_npm web-demo

version=$(workspace_version)
DIST="$ROOT/dist"
stage="$ROOT/target/dist-stage"
rm -rf "$DIST" "$stage"
mkdir -p "$DIST" "$stage"
# Archive timestamps are the last commit's, so equal inputs give equal archives.
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
log "sipwake $version: building release artefacts into dist/"

# targz OUT DIR : gzipped tar of DIR, with DIR's name as the top directory.
targz() {
  tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --mode=u+rwX,go+rX,go-w \
    -C "$(dirname "$2")" -cf - "$(basename "$2")" | gzip -9n >"$1"
}
# readme NAME DIR : scripts/dist/NAME-README.md with the version, as DIR/README.md.
readme() { sed "s/@VERSION@/$version/g" "scripts/dist/$1-README.md" >"$2/README.md"; }
# release_lib FILE REAL_SYMBOL PROBE_SYMBOL : a library fit to ship: it has the
# API and not the test-only panic probe.
release_lib() {
  defines_symbol "$1" "$2" || { echo "$1 lacks $2"; return 1; }
  if defines_symbol "$1" "$3"; then echo "$1 exports the test-only $3"; return 1; fi
}
# stage_workspace DEST MEMBER [PATH...] : a Cargo workspace with core/ and
# MEMBER (its Cargo.toml, src/ and PATHs), the root Cargo.toml with only those
# members, and Cargo.lock pruned to them. Files ignored by git are left out.
stage_workspace() {
  local dest=$1 member=$2 f
  shift 2
  mkdir -p "$dest"
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && cp --parents -- "$f" "$dest/"
  done < <(git ls-files -z --cached --others --exclude-standard -- \
    core/Cargo.toml core/src "$member/Cargo.toml" "$member/src" "$@")
  sed -E "s|^members = \[.*\]$|members = [\"core\", \"$member\"]|" Cargo.toml >"$dest/Cargo.toml"
  grep -qx "members = \[\"core\", \"$member\"\]" "$dest/Cargo.toml" || { echo "Cargo.toml: no members line"; return 1; }
  cp Cargo.lock "$dest/"
  # Resolving the smaller workspace rewrites Cargo.lock without the others' packages.
  (cd "$dest" && cargo metadata --offline --format-version 1 >/dev/null)
}

log "WASM SDK: client-wasm/build.sh, then npm pack"
client-wasm/build.sh
pkg="$stage/sipwake-wasm"
mkdir -p "$pkg"
cp -r client-wasm/pkg/web client-wasm/pkg/no-modules client-wasm/pkg/node "$pkg/"
readme npm "$pkg"
if [ -f LICENSE ]; then cp LICENSE "$pkg/"; fi
node scripts/dist/npm-package.mjs stage "$pkg" "$version"
(cd "$pkg" && npm pack --ignore-scripts --pack-destination "$DIST" >/dev/null)
node scripts/dist/npm-package.mjs check "$DIST/sipwake-wasm-$version.tgz" "$version"

log "service worker: web-demo/build.mjs"
node web-demo/build.mjs
sw="$stage/sipwake-service-worker-$version"
mkdir -p "$sw"
# The worker, its .LEGAL.txt (license comments of the bundled Firebase code)
# and whatever else the build writes next to it (a source map in --dev builds).
for f in firebase-messaging-sw.js firebase-messaging-sw.js.LEGAL.txt; do
  [ -s "service-worker/dist/$f" ] || { echo "web-demo/build.mjs did not write service-worker/dist/$f"; exit 1; }
done
cp service-worker/dist/firebase-messaging-sw.js* "$sw/"
readme service-worker "$sw"
targz "$DIST/sipwake-service-worker-$version.tar.gz" "$sw"

# The SDK libraries: release profile = panic "unwind" (panics become
# SipWakeException / SIPWAKE_STATUS_PANIC; release-sdk would abort), no
# panic-probe feature (that is a test hook), target-sdk as the test scripts use.
log "Android: libsipwake_android.so (release, host), the wrapper jar, the Gradle module"
CARGO_TARGET_DIR="$ROOT/target-sdk" cargo build -q --release -p sipwake-android
android="$stage/sipwake-android-$version"
mkdir -p "$android/jni/linux-x86_64"
cp target-sdk/release/libsipwake_android.so "$android/jni/linux-x86_64/"
release_lib "$android/jni/linux-x86_64/libsipwake_android.so" \
  Java_org_sipwake_SipWake_nParseMpush Java_org_sipwake_PanicProbe_panic
# javac as scripts/test-android.sh does (the androidx.annotation host stubs
# satisfy the annotations); the jar holds only org/sipwake.
classes="$stage/android-classes"
mkdir -p "$classes"
# shellcheck disable=SC2046
javac -Xlint:all -Werror -d "$classes" -cp /usr/share/java/gson.jar \
  $(find sdk-android/android/src/main/java sdk-android/tests/stubs -name '*.java' | sort)
printf 'Implementation-Title: sipwake-android\nImplementation-Version: %s\nAutomatic-Module-Name: org.sipwake\n' \
  "$version" >"$stage/android-manifest.txt"
jar --create --file "$android/sipwake-android-$version.jar" --manifest "$stage/android-manifest.txt" \
  --date "$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)" -C "$classes" org/sipwake
stage_workspace "$android/source" sdk-android sdk-android/android
readme android "$android"
targz "$DIST/sipwake-android-$version.tar.gz" "$android"

log "iOS: libsipwake_ios.a (release, host), the header, the Swift package"
CARGO_TARGET_DIR="$ROOT/target-sdk" cargo build -q --release -p sipwake-ios
ios="$stage/sipwake-ios-$version"
mkdir -p "$ios/include" "$ios/lib/linux-x86_64"
cp sdk-ios/include/sipwake.h sdk-ios/include/module.modulemap "$ios/include/"
cp target-sdk/release/libsipwake_ios.a "$ios/lib/linux-x86_64/"
release_lib "$ios/lib/linux-x86_64/libsipwake_ios.a" sipwake_parse_mpush sipwake_debug_panic
stage_workspace "$ios/source" sdk-ios sdk-ios/cbindgen.toml sdk-ios/include sdk-ios/Package.swift \
  sdk-ios/Sources sdk-ios/Tests sdk-ios/build-xcframework.sh
readme ios "$ios"
targz "$DIST/sipwake-ios-$version.tar.gz" "$ios"

artefacts=("sipwake-wasm-$version.tgz" "sipwake-service-worker-$version.tar.gz"
  "sipwake-android-$version.tar.gz" "sipwake-ios-$version.tar.gz")
(cd "$DIST" && sha256sum -- "${artefacts[@]}" >SHA256SUMS)

log "dist/ (sipwake $version)"
for f in "${artefacts[@]}" SHA256SUMS; do
  printf '  %-42s %10s bytes\n' "$f" "$(stat -c %s "$DIST/$f")"
done
