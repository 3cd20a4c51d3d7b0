#!/usr/bin/env bash
# Bench area: smoke versions of every benchmark (tiny counts, seconds) so the
# load tool and the comparison cannot rot. Installs Kamailio on a fresh
# Debian 12, builds the gateway, runs `cargo test -p sipwake-bench` including
# the smoke test (ignored in the workspace-wide run, which has no Kamailio).
# The full comparison is manual: bench/run-comparison.sh (see bench/README.md).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

need_apt kamailio kamailio-websocket-modules kamailio-extra-modules kamailio-utils-modules \
  ca-certificates redis-server
# The cluster run starts its own redis-server processes; not the packaged service.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi
# Debian starts the packaged kamailio service on install; the tests run their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet kamailio 2>/dev/null; then
  systemctl stop kamailio || true
fi

log "build the gateway (debug)"
cargo build -q -p sipwake
target="${CARGO_TARGET_DIR:-$ROOT/target}"
export SIPWAKE_BIN="${SIPWAKE_BIN:-$target/debug/sipwake}"

log "cargo test -p sipwake-bench (with the smoke run)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
timeout 600 cargo test -p sipwake-bench -- --include-ignored "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e

read -r passed failed < <(awk '/^test result:/ {
    for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
  } END { print p+0, f+0 }' "$out")
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
