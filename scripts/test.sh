#!/usr/bin/env bash
# The whole test suite. Installs every tool it needs and starts every server
# its tests use. Usage: scripts/test.sh [area...]   (default: all areas)
# Areas run in this order; each is scripts/test-<area>.sh.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

all_areas=(rust)
for a in wasm android ios e2e web bench; do
  [ -x "scripts/test-$a.sh" ] && all_areas+=("$a")
done
areas=("${@:-${all_areas[@]}}")

start=$(date +%s)
for area in "${areas[@]}"; do
  t0=$(date +%s)
  log "area $area"
  case "$area" in
    rust)
      cargo fmt --all -- --check
      cargo clippy --workspace --all-targets --quiet -- -D warnings
      # The e2e and bench crates need Kamailio and SIPp: they run in their own areas.
      cargo test --workspace --exclude sipwake-e2e --exclude sipwake-bench --quiet
      ;;
    *) "scripts/test-$area.sh" ;;
  esac
  log "area $area passed in $(( $(date +%s) - t0 ))s"
done
log "all areas (${areas[*]}) passed in $(( $(date +%s) - start ))s"
