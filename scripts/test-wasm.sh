#!/usr/bin/env bash
# WASM SDK (client-wasm): host unit tests of the facade, then the release
# build (Debian rustc-web + build-std + wasm-bindgen) and every shared vector
# in Node, a headless Chromium page, a real service worker and push events
# delivered to it, a JsSIP phone registering with push through the SDK, plus
# a strict TypeScript check of the emitted .d.ts.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_wasm_toolchain
need_apt chromium chromium-driver
command -v node >/dev/null && command -v npm >/dev/null || need_apt nodejs npm
need_npm client-wasm/tests

passed=0
failed=0
out="$(mktemp)"
trap 'rm -f "$out"' EXIT


log "host unit tests (cargo test -p sipwake-wasm)"
if cargo test -q -p sipwake-wasm 2>&1 | tee "$out"; then tally "$out"; else tally "$out"; failed=$((failed + 1)); fi

log "wasm build (client-wasm/build.sh)"
client-wasm/build.sh

log "vectors in node, chromium page, service worker, push; jssip; typescript"
# run.mjs prints per-suite lines and a total line; count only the total.
if node client-wasm/tests/run.mjs 2>&1 | tee "$out.all"; then rc=0; else rc=1; fi
tail -n 1 "$out.all" > "$out"
rm -f "$out.all"
tally "$out"
[ "$rc" = 0 ] || [ "$failed" -gt 0 ] || failed=$((failed + 1))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
