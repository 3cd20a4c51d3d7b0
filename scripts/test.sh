#!/usr/bin/env bash
# The whole test suite. Installs every tool it needs and starts every server
# its tests use. Usage: scripts/test.sh [area...]   (default: all areas)
# Areas run in this order; each is scripts/test-<area>.sh. Every area runs
# even when an earlier one failed; the end of the output lists the failed
# areas with the panics/assertions they printed (CI shows the tail first).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

all_areas=(rust)
for a in wasm android ios dist e2e web deploy deb fuzz bench; do
  [ -x "scripts/test-$a.sh" ] && all_areas+=("$a")
done
areas=("${@:-${all_areas[@]}}")

# Backtraces bury the assertion message; the e2e harness prints the logs instead.
export RUST_BACKTRACE=0
logs="$ROOT/target/test-logs"
mkdir -p "$logs"

run_area() {
  case "$1" in
    rust)
      # The Redis store tests start their own redis-server instances (free
      # loopback ports, temp dirs) and fail when it is missing. A service
      # Debian starts and enables on install is not needed: switch it off
      # (one that was there before is left alone; the tests never use 6379).
      local had_redis=1
      dpkg-query -W -f='${Status}' redis-server 2>/dev/null | grep -q 'install ok installed' || had_redis=0
      need_apt redis-server
      if [ "$had_redis" = 0 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now redis-server >/dev/null 2>&1 || true
      fi
      cargo fmt --all -- --check
      cargo clippy --workspace --all-targets --quiet -- -D warnings
      # The e2e and bench crates need Kamailio and SIPp: they run in their own areas.
      cargo test --workspace --exclude sipwake-e2e --exclude sipwake-bench --quiet
      ;;
    *) "scripts/test-$1.sh" ;;
  esac
}

start=$(date +%s)
failed=()
summary=()
for area in "${areas[@]}"; do
  t0=$(date +%s)
  log "area $area"
  set +e
  (set -e; run_area "$area") 2>&1 | tee "$logs/$area.log"
  rc=${PIPESTATUS[0]}
  set -e
  secs=$(( $(date +%s) - t0 ))
  if [ "$rc" -eq 0 ]; then
    summary+=("$area: passed in ${secs}s")
  else
    failed+=("$area")
    summary+=("$area: FAILED (exit $rc) after ${secs}s")
  fi
  log "area $area: ${summary[-1]#*: }"
done

for area in "${failed[@]}"; do
  log "what area $area printed about its failures (full log: target/test-logs/$area.log)"
  # Panic messages, failing test names, assertion lines and script errors.
  grep -n -A40 -E "panicked at|^---- .* ----$|FAILED|^error(\[|:)|failed, | failed$" \
    "$logs/$area.log" | grep -v -E "^\S*-?\s+at /|^\S*-?\s+[0-9]+: " | head -200 >&2 || true
done
log "summary"
printf '  %s\n' "${summary[@]}" >&2
if [ ${#failed[@]} -gt 0 ]; then
  log "failed areas: ${failed[*]} ($(( $(date +%s) - start ))s)"
  exit 1
fi
log "all areas (${areas[*]}) passed in $(( $(date +%s) - start ))s"
