#!/usr/bin/env bash
# End-to-end tests: the sipwake gateway between real SIP peers (Kamailio 5.6
# as upstream, SIPp 3.6 as UAs, Rust WebSocket/TLS clients, pebble as the
# ACME CA). Installs its tools on a fresh Debian 12, builds the gateway, runs
# `cargo test -p sipwake-e2e`.
# Extra args go to the test binaries, e.g. `scripts/test-e2e.sh torture`.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_apt kamailio kamailio-websocket-modules kamailio-tls-modules kamailio-extra-modules \
  kamailio-utils-modules sip-tester ca-certificates redis-server
# pebble: Let's Encrypt's ACME test server, for tests/tests/acme.rs.
need_apt pebble
# The cluster tests start their own redis-server processes (free ports);
# the packaged service is not needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi
# Debian starts the packaged kamailio service on install; the tests run their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet kamailio 2>/dev/null; then
  systemctl stop kamailio || true
fi

log "build the gateway (debug)"
cargo build -q -p sipwake
export SIPWAKE_BIN="${SIPWAKE_BIN:-$ROOT/target/debug/sipwake}"

log "cargo test -p sipwake-e2e"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# 2 threads: every test starts its own Kamailio/SIPp/gateway processes; the
# machine has 2 cores.
set +e
cargo test -p sipwake-e2e -- --test-threads=2 "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e

# Sum the per-binary "test result:" lines.
read -r passed failed ignored < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) {
      if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i
    } } END { print p+0, f+0, g+0 }' "$out")
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed, $ignored skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
