#!/usr/bin/env bash
# WASM SDK (client-wasm): host unit tests of the facade, then the release
# build (Debian rustc-web + build-std + wasm-bindgen) and every shared vector
# in Node, a headless Chromium page, a real service worker and push events
# delivered to it, a JsSIP phone registering with push through the SDK, plus
# a strict TypeScript check of the emitted .d.ts.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_apt rustc-web cargo-web rust-web-src rust-web-llvm lld-22 chromium chromium-driver
command -v node >/dev/null && command -v npm >/dev/null || need_apt nodejs npm
need_cargo_bin wasm-bindgen wasm-bindgen-cli 0.2.130
need_npm client-wasm/tests

passed=0
failed=0
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

# Adds the counts of the `N passed, M failed` / `test result: ok. N passed; M failed` lines in $out.
tally() {
  local p f
  p=$(grep -oE '^(test result: [a-zA-Z]+\. )?[0-9]+ passed[;,] [0-9]+ failed' "$out" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
  f=$(grep -oE '^(test result: [a-zA-Z]+\. )?[0-9]+ passed[;,] [0-9]+ failed' "$out" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p))
  failed=$((failed + f))
}

log "host unit tests (cargo test -p sipwake-wasm)"
if cargo test -q -p sipwake-wasm 2>&1 | tee "$out"; then tally; else tally; failed=$((failed + 1)); fi

log "wasm build (client-wasm/build.sh)"
client-wasm/build.sh

log "vectors in node, chromium page, service worker, push; jssip; typescript"
# run.mjs prints per-suite lines and a total line; count only the total.
if node client-wasm/tests/run.mjs 2>&1 | tee "$out.all"; then rc=0; else rc=1; fi
tail -n 1 "$out.all" > "$out"
rm -f "$out.all"
tally
[ "$rc" = 0 ] || [ "$failed" -gt 0 ] || failed=$((failed + 1))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
