#!/usr/bin/env bash
# deploy/: the Prometheus alert rules (promtool check + rule unit tests), the
# gateway's own /metrics (promtool's exposition lint), and the Grafana
# dashboard and rules against the metric families a running gateway exposes.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

# prometheus: promtool; curl: the scrape.
need_apt prometheus python3 curl

passed=0
failed=0
out="$(mktemp)"
work="$(mktemp -d)"
gw_pid=""
cleanup() {
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null || true
  rm -rf "$work" "$out"
}
trap cleanup EXIT

check() { # check NAME CMD... : one counted check
  local name=$1; shift
  if "$@" >"$out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; cat "$out"
  fi
}

log "alert rules (promtool)"
check "promtool check rules" promtool check rules deploy/prometheus/sipwake-alerts.yml
check "promtool test rules (every alert fires on trouble, none on a healthy gateway)" \
  promtool test rules deploy/prometheus/sipwake-alerts.test.yml

log "gateway binary (cargo build -p sipwake)"
cargo build -q -p sipwake
bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug/sipwake"

log "scrape /metrics of a gateway in upstream mode (every family present)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# HTTPS on too (a self-signed certificate): the certificate families.
tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
token="deploy-test-token-0123456789"
cat >"$work/sipwake.toml" <<TOML
data_dir = "$work/data"
[sip]
udp = ["127.0.0.1:0"]
tcp = ["127.0.0.1:0"]
tls = []
[http]
https = "127.0.0.1:$tls_port"
http = "127.0.0.1:$port"
[upstream]
# Never contacted: only the keeper's metric families are wanted.
server = "sip:127.0.0.1:9;transport=udp"
[api]
tokens = ["$token"]
TOML
(cd "$work" && exec "$bin" --config "$work/sipwake.toml") >"$work/sipwake.log" 2>&1 &
gw_pid=$!
deadline=$((SECONDS + 30))
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$gw_pid" 2>/dev/null; then
    echo "gateway did not become healthy"; cat "$work/sipwake.log"; exit 1
  fi
  sleep 0.1
done
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
check "promtool check metrics (the gateway's exposition)" sh -c "promtool check metrics < '$work/metrics.txt'"

log "dashboard and rules name only exposed metrics; every family has a panel"
if python3 deploy/tests/check_metrics.py "$work/metrics.txt" deploy/grafana/sipwake-dashboard.json \
  deploy/prometheus/sipwake-alerts.yml | tee "$out"; then tally "$out"; else tally "$out"; failed=$((failed + 1)); fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
