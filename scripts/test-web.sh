#!/usr/bin/env bash
# Web phone, service worker and the gateway's web hosting: the server's web
# module unit tests, the embedded copies against a fresh build, then browser
# end-to-end tests in headless Debian Chromium (playwright-core) against the
# gateway serving its embedded copies: page over HTTPS + accessibility
# (axe-core) + screenshot, service-worker notifications per ntype and clicks,
# two pages calling each other through the standalone gateway, a phone
# registering through the gateway to a real Kamailio upstream with an X-MPUSH
# binding, the whole web push path (API push -> Web Push -> worker ->
# click -> re-register), and /api/v1/webconfig read across origins (CORS).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

# chromium: the browser; dbus-daemon + python3-dbus/gi: the desktop
# notification server the tests click notifications on; kamailio: upstream;
# openssl: certificates of the loopback Web Push service.
need_apt chromium dbus-daemon python3-dbus python3-gi openssl \
  kamailio kamailio-websocket-modules kamailio-tls-modules kamailio-extra-modules kamailio-utils-modules
command -v node >/dev/null && command -v npm >/dev/null || need_apt nodejs npm

passed=0
failed=0
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

log "server web module unit tests (cargo test -p sipwake --lib web::)"
if cargo test -q -p sipwake --lib web:: 2>&1 | tee "$out"; then tally "$out"; else tally "$out"; failed=$((failed + 1)); fi

# The browser tests use the copies built into the gateway binary; this
# rebuilds them from the sources (WASM SDK, web demo, service worker) and
# fails when they differ from what is embedded.
log "embedded web assets equal a fresh build (scripts/web-assets.sh check)"
if scripts/web-assets.sh check 2>&1 | tee "$out"; then tally "$out"; else tally "$out"; failed=$((failed + 1)); fi

log "gateway binary (cargo build -p sipwake)"
cargo build -q -p sipwake
export SIPWAKE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/sipwake"

log "browser tests (node web-demo/tests/run.mjs)"
if node web-demo/tests/run.mjs 2>&1 | tee "$out.all"; then rc=0; else rc=1; fi
tail -n 1 "$out.all" > "$out"
rm -f "$out.all"
tally "$out"
[ "$rc" = 0 ] || [ "$failed" -gt 0 ] || failed=$((failed + 1))

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
