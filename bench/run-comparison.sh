#!/usr/bin/env bash
# The full side-by-side comparison (manual; several minutes): one upstream
# Kamailio, a Kamailio front proxy and sipwake under identical load, then
# pushes to the HTTP/2 mocks. Writes bench/RESULTS.md (machine, commands,
# numbers, ratios) with bench/NOTES.md (the closing analysis) appended.
# Usage: bench/run-comparison.sh [extra `sipwake-bench compare` flags]
. "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"

need_apt kamailio kamailio-websocket-modules kamailio-extra-modules kamailio-utils-modules \
  ca-certificates redis-server
if command -v systemctl >/dev/null && systemctl is-active --quiet kamailio 2>/dev/null; then
  systemctl stop kamailio || true
fi

log "release build (measurements use release binaries)"
cargo build -q --release -p sipwake -p sipwake-bench
target="${CARGO_TARGET_DIR:-$ROOT/target}"
export SIPWAKE_BIN="$target/release/sipwake"

# Held WebSocket clients need one descriptor each in the proxy and in the
# load tool: take the hard limit, and hold as many clients as it allows (the
# 50k target needs a hard limit above 50k; raising it needs CAP_SYS_RESOURCE).
ulimit -n "$(ulimit -Hn)"
fds=$(ulimit -n)
max_hold=$(( fds - 2000 ))
[ "$max_hold" -gt 50000 ] && max_hold=50000
holds="10000,$max_hold"
[ "$max_hold" -le 10000 ] && holds="$max_hold"

cmd=("$target/release/sipwake-bench" compare --size full --holds "$holds" \
  --out bench/RESULTS.md --notes bench/NOTES.md "$@")
log "${cmd[*]}"
"${cmd[@]}" --commands "bench/run-comparison.sh $*
# which ran (after a release build, with ulimit -n $fds):
SIPWAKE_BIN=$SIPWAKE_BIN ${cmd[*]}"
log "wrote bench/RESULTS.md"

# The cluster run (Redis store, cross-node wake, Redis memory) → its own section.
log "$target/release/sipwake-bench cluster --size full"
"$target/release/sipwake-bench" cluster --size full --out bench/CLUSTER.md
log "wrote bench/CLUSTER.md"
