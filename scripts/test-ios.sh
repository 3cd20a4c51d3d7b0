#!/usr/bin/env bash
# iOS SDK (sdk-ios): the C ABI staticlib from a C program under valgrind
# against every shared vector, ABI contract checks, the committed header
# against cbindgen, Rust unit tests, and a compile check of aarch64-apple-ios
# (no Apple linker or Swift toolchain here).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_apt gcc g++ libc6-dev valgrind python3 "${RUST_WEB_PKGS[@]}"
need_cargo_bin cbindgen cbindgen 0.29.4 --locked

export CARGO_TARGET_DIR="$ROOT/target-sdk"
passed=0
count() { passed=$((passed + $1)); }

log "include/sipwake.h is what cbindgen generates from the sources"
(cd sdk-ios && cbindgen -q --config cbindgen.toml --crate sipwake-ios --output include/sipwake.h --verify) || {
  echo "sdk-ios/include/sipwake.h is stale: run (cd sdk-ios && cbindgen --config cbindgen.toml --crate sipwake-ios --output include/sipwake.h)"
  exit 1
}
count 1

log "the header compiles as C++ too"
g++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -Isdk-ios/include sdk-ios/tests/cxx_header_check.cpp
count 1

log "sipwake-ios unit tests"
out=$(cargo test -q -p sipwake-ios 2>&1) || { echo "$out"; exit 1; }
count "$(echo "$out" | sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' | awk '{s+=$1} END {print s+0}')"

# Release profile = panic "unwind": entry points catch panics and return
# SIPWAKE_STATUS_PANIC (the release-sdk profile would abort instead).
log "build libsipwake_ios.a (release, with the panic-probe test hook)"
cargo build -q --release -p sipwake-ios --features panic-probe

log "compile the C vector runner against the staticlib"
bin="$CARGO_TARGET_DIR/ios-vectors"
gcc -std=c11 -Wall -Wextra -Werror -g -Isdk-ios/include sdk-ios/tests/vectors.c \
  "$CARGO_TARGET_DIR/release/libsipwake_ios.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$bin"

log "every vector through the C ABI, under valgrind"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Snapshot the vectors so prep and check read the same files.
cp tests/vectors/*.json "$work/"
python3 sdk-ios/tests/vectors.py prep "$work" "$work/cases"
set +e
# The panic probe's message on stderr is expected.
# valgrind.supp: only the core's process-lifetime template cache (reachable).
RUST_BACKTRACE=0 valgrind -q --leak-check=full --errors-for-leak-kinds=all --error-exitcode=99 \
  --suppressions=sdk-ios/tests/valgrind.supp --num-callers=50 \
  "$bin" "$work/cases" "$work/results" >"$work/out" 2>&1
rc=$?
set -e
cat "$work/out"
[ $rc -eq 0 ] || { echo "C runner failed under valgrind (exit $rc)"; exit 1; }
count "$(sed -n 's/^contract: \([0-9]*\) passed, 0 failed$/\1/p' "$work/out")"
python3 sdk-ios/tests/vectors.py check "$work" "$work/results" | tee "$work/check"
count "$(sed -n 's/^vectors: \([0-9]*\) passed, 0 failed$/\1/p' "$work/check")"

log "compile check: aarch64-apple-ios (Debian rustc-web + build-std)"
PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$ROOT/target-sdk-cross" \
  cargo rustc -q -Zbuild-std=std,panic_abort --target aarch64-apple-ios --release \
  --lib --crate-type staticlib -p sipwake-ios
test -s "$ROOT/target-sdk-cross/aarch64-apple-ios/release/libsipwake_ios.a"
count 1

echo "$passed passed, 0 failed"
