#!/usr/bin/env bash
# Area deb: the Debian package (cargo-deb, server/Cargo.toml
# [package.metadata.deb], deploy/debian/). Builds it (release), installs it
# with dpkg on this machine, checks files, owners and modes, validates the
# shipped config, runs the installed binary as the user sipwake with the
# unit's privileges (no new privileges, CAP_NET_BIND_SERVICE only) and sends
# it a REGISTER, verifies the unit with systemd-analyze when present, then
# reinstalls (conffile kept), removes and purges, checking what is left.
# Needs root (dpkg -i); the package is purged again on exit.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

if [ "$(id -u)" != 0 ]; then
  echo "area deb installs a package with dpkg: run it as root"
  exit 1
fi

# dpkg-dev: dpkg-shlibdeps (cargo-deb's $auto Depends); adduser: the
# package's postinst; python3: free ports and the SIP client; curl: /healthz;
# util-linux: setpriv, runuser; procps: ps.
need_apt dpkg-dev adduser python3 curl util-linux procps
need_cargo_bin cargo-deb cargo-deb 3.8.0 --locked

passed=0
failed=0
out="$(mktemp)"
# Readable by the user sipwake: it reads the test config from here.
work="$(mktemp -d)"
chmod 0755 "$work"
gw_pid=""
t_start=$SECONDS

purge_package() {
  if dpkg-query -W -f='${Status}' sipwake 2>/dev/null | grep -qv 'not-installed'; then
    DEBIAN_FRONTEND=noninteractive dpkg --purge sipwake >/dev/null 2>&1 || true
  fi
}
cleanup() {
  if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
    kill "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
  fi
  purge_package
  rm -rf "$work" "$out"
}
trap cleanup EXIT

check() { # check NAME CMD... : one counted check
  local name=$1; shift
  if "$@" >"$out" 2>&1; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' "$out"
  fi
}
# owner_mode PATH USER:GROUP MODE : stat matches.
owner_mode() {
  local got
  got=$(stat -c '%U:%G %a' "$1") || return 1
  [ "$got" = "$2 $3" ] || { echo "$1: $got, expected $2 $3"; return 1; }
}
absent() { # absent PATH... : none of them exists (not even as a dangling link)
  local p rc=0
  for p in "$@"; do
    if [ -e "$p" ] || [ -L "$p" ]; then echo "still there: $p"; rc=1; fi
  done
  return $rc
}
status_is() { # status_is WANT : dpkg's status of the package
  local got
  got=$(dpkg-query -W -f='${Status}' sipwake 2>/dev/null || echo "not-installed")
  [ "$got" = "$1" ] || { echo "dpkg status: '$got', expected '$1'"; return 1; }
}
grep_in() { # grep_in FILE PATTERN : an extended regex matches a line
  grep -qE -- "$2" "$1" || { echo "no line matching /$2/ in $1:"; cat "$1"; return 1; }
}
wait_until() { # wait_until SECONDS CMD... : poll CMD until it succeeds or the deadline
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

if dpkg-query -W -f='${Status}' sipwake 2>/dev/null | grep -qv 'not-installed'; then
  log "a sipwake package is already on this machine ($(dpkg-query -W -f='${Version} ${Status}' sipwake)): purging it first"
  purge_package
fi

version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
deb_version="$version-1"

log "cargo deb -p sipwake (release build)"
t0=$SECONDS
deb=$(cargo deb -p sipwake --locked 2>"$work/cargo-deb.log" | tail -n 1) || { cat "$work/cargo-deb.log"; exit 1; }
build_secs=$((SECONDS - t0))
[ -f "$deb" ] || { echo "cargo deb printed no package path: '$deb'"; cat "$work/cargo-deb.log"; exit 1; }
echo "package: $deb ($(stat -c %s "$deb") bytes, built in ${build_secs}s)"

log "the package file"
dpkg-deb --info "$deb" >"$work/info.txt"
dpkg-deb --contents "$deb" >"$work/contents.txt"
dpkg-deb --control "$deb" "$work/control"
check "Package sipwake, Version $deb_version, Architecture $(dpkg --print-architecture)" sh -c "
  [ \"\$(dpkg-deb -f '$deb' Package Version Architecture | tr '\n' ' ')\" = \
    'Package: sipwake Version: $deb_version Architecture: $(dpkg --print-architecture) ' ]"
check "Depends: libc6 (dpkg-shlibdeps) and adduser (postinst)" \
  sh -c "dpkg-deb -f '$deb' Depends | grep -q 'libc6' && dpkg-deb -f '$deb' Depends | grep -qw adduser"
check "/etc/sipwake/sipwake.toml is the one conffile" \
  sh -c "[ \"\$(cat '$work/control/conffiles')\" = /etc/sipwake/sipwake.toml ]"
check "maintainer scripts: postinst, postrm, prerm with the systemd snippets" \
  sh -c "grep -q 'adduser --system' '$work/control/postinst' && grep -q 'deb-systemd-helper' '$work/control/postinst' \
    && grep -q 'rm -rf /var/lib/sipwake' '$work/control/postrm' && grep -q 'deb-systemd-helper purge' '$work/control/postrm' \
    && grep -q 'deb-systemd-invoke stop' '$work/control/prerm' && ! grep -q '#DEBHELPER#' '$work/control/postinst' '$work/control/postrm'"
installed_kib=$(dpkg-deb -f "$deb" Installed-Size)
echo "Installed-Size: $installed_kib KiB"

log "dpkg -i"
check "dpkg -i installs and configures it" dpkg -i "$deb"
check "status: install ok installed" status_is "install ok installed"
unit=""
for u in /usr/lib/systemd/system/sipwake.service /lib/systemd/system/sipwake.service; do
  [ -f "$u" ] && unit=$u && break
done
check "the unit is installed (${unit:-missing})" test -n "$unit"
check "the unit is what deploy/debian/sipwake.service says" cmp "${unit:-/nonexistent}" deploy/debian/sipwake.service
check "the unit is enabled (multi-user.target.wants)" \
  test -L /etc/systemd/system/multi-user.target.wants/sipwake.service
if [ -d /run/systemd/system ]; then
  # postinst started it on the shipped config's fixed loopback ports, which a
  # test machine may have taken: reported, not judged. Stopped by the purge.
  log "systemd runs here: postinst started sipwake.service: $(systemctl is-active sipwake.service || true)"
else
  log "systemd is not running here (no /run/systemd/system): postinst enabled the unit but did not start it; the gateway is started directly below"
fi
check "system user sipwake: system uid, group sipwake, home /var/lib/sipwake, nologin" sh -c '
  IFS=: read -r name _ uid gid _ home shell <<EOF
$(getent passwd sipwake)
EOF
  [ "$name" = sipwake ] && [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/sipwake ] \
    && [ "$shell" = /usr/sbin/nologin ] && [ "$(getent group "$gid" | cut -d: -f1)" = sipwake ] \
    || { getent passwd sipwake; exit 1; }'
check "/usr/bin/sipwake root:root 755" owner_mode /usr/bin/sipwake root:root 755
check "/etc/sipwake/sipwake.toml root:sipwake 640 (may hold API tokens)" \
  owner_mode /etc/sipwake/sipwake.toml root:sipwake 640
check "/var/lib/sipwake sipwake:sipwake 750" owner_mode /var/lib/sipwake sipwake:sipwake 750
check "/etc/sipwake/sipwake.toml is deploy/debian/sipwake.toml" cmp /etc/sipwake/sipwake.toml deploy/debian/sipwake.toml
check "/usr/bin/sipwake --version is $version" sh -c "[ \"\$(/usr/bin/sipwake --version)\" = 'sipwake $version' ]"

# Every file the binary embeds is installed, byte for byte, root:root 644.
web_files() {
  local rc=0 src dst rel n=0
  while IFS= read -r src; do
    rel=${src#server/web-assets/}
    case "$rel" in
      demo/*) dst=/usr/share/sipwake/web-demo/${rel#demo/} ;;
      firebase-messaging-sw.js* | sdk/*) dst=/usr/share/sipwake/$rel ;;
      *) continue ;; # README.md, TOOLS: about the source tree
    esac
    n=$((n + 1))
    cmp "$src" "$dst" || rc=1
    owner_mode "$dst" root:root 644 || rc=1
  done < <(find server/web-assets -type f | sort)
  echo "$n files"
  [ "$n" -ge 10 ] || rc=1
  return $rc
}
check "web demo, service worker and WASM SDK under /usr/share/sipwake (same bytes as embedded)" web_files
check "docs under /usr/share/doc/sipwake" sh -c '
  for f in copyright README.md install.md configuration.md push.md push-providers.md web.md api.md cluster.md tls.md; do
    [ -s /usr/share/doc/sipwake/$f ] || { echo "missing /usr/share/doc/sipwake/$f"; exit 1; }
  done'

log "sipwake --check on the shipped config"
check "sipwake --check --config /etc/sipwake/sipwake.toml (as root)" \
  sh -c "/usr/bin/sipwake --check --config /etc/sipwake/sipwake.toml >'$work/check-root.txt'"
cat "$work/check-root.txt"
check "it is a standalone registrar on loopback with data in /var/lib/sipwake" sh -c "
  grep -qx 'config ok' '$work/check-root.txt' && grep -qx 'mode: standalone registrar' '$work/check-root.txt' \
  && grep -qx 'data_dir: /var/lib/sipwake' '$work/check-root.txt' && grep -qx 'sip udp: 127.0.0.1:5060' '$work/check-root.txt' \
  && grep -qx 'https: 127.0.0.1:8443' '$work/check-root.txt' && grep -qx 'api tokens: 0' '$work/check-root.txt'"
# Every commented example ("#   key = value", "# [section]") uncommented,
# each replacing the active key it shows another value for: still valid.
examples() {
  python3 - /etc/sipwake/sipwake.toml "$work/examples.toml" <<'PY' || return 1
import re, sys
example = re.compile(r"^#\s+(\[[a-z_]+\]|([A-Za-z_][A-Za-z0-9_.\"-]*) = .*)$")
lines, section, shown = [], "", set()
for line in open(sys.argv[1]).read().split("\n"):
    m = example.match(line)
    text = m.group(1) if m else line
    if text.startswith("["):
        section = text
    key = re.match(r"^([A-Za-z_][A-Za-z0-9_.\"-]*) = ", text)
    if m and key:
        shown.add((section, key.group(1)))
    lines.append((text, bool(m), section, key.group(1) if key else None))
out = [t for t, ex, sec, key in lines if ex or key is None or (sec, key) not in shown]
open(sys.argv[2], "w").write("\n".join(out))
print(f"{sum(ex for _, ex, _, _ in lines)} example lines")
if sum(ex for _, ex, _, _ in lines) < 20:
    sys.exit("fewer example lines than expected: is the pattern still right?")
PY
  /usr/bin/sipwake --check --config "$work/examples.toml" | tee "$work/examples-check.txt" \
    && grep -qx 'mode: upstream sip:pbx.example.org:5060;transport=udp' "$work/examples-check.txt" \
    && grep -qx 'sip udp: 0.0.0.0:5060' "$work/examples-check.txt" && grep -qx 'api tokens: 1' "$work/examples-check.txt"
}
check "every commented example in it is valid too (sipwake --check)" examples
check "the user sipwake can read and check it" \
  runuser -u sipwake -- /usr/bin/sipwake --check --config /etc/sipwake/sipwake.toml
check "another user cannot read it" sh -c "
  ! runuser -u nobody -- /usr/bin/sipwake --check --config /etc/sipwake/sipwake.toml 2>'$work/nobody.txt' \
  && grep -qi 'permission denied' '$work/nobody.txt'"

log "the installed gateway as the user sipwake (NoNewPrivileges, CAP_NET_BIND_SERVICE only)"
# Free loopback ports, free for UDP and TCP alike, below the ephemeral range
# (so no port-0 socket elsewhere takes them first); SIP UDP on a port < 1024
# to show the one capability at work.
read -r low p_tcp p_tls p_https p_http < <(python3 - <<'PY'
import random, socket
held, ports = [], []
def grab(lo, hi):
    for p in random.sample(range(lo, hi), hi - lo):
        if p in ports:
            continue
        t = socket.socket(); u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", p)); u.bind(("127.0.0.1", p))
        except OSError:
            t.close(); u.close(); continue
        held.extend((t, u)); ports.append(p); return
    raise SystemExit(f"no free port in {lo}..{hi}")
grab(600, 1024)
for _ in range(4):
    grab(20000, 32000)
print(*ports)
PY
)
sed -e "s|^udp = .*|udp = [\"127.0.0.1:$low\"]|" -e "s|^tcp = .*|tcp = [\"127.0.0.1:$p_tcp\"]|" \
  -e "s|^tls = .*|tls = [\"127.0.0.1:$p_tls\"]|" -e "s|^https = .*|https = \"127.0.0.1:$p_https\"|" \
  -e "s|^http = .*|http = \"127.0.0.1:$p_http\"|" /etc/sipwake/sipwake.toml >"$work/sipwake.toml"
chmod 0644 "$work/sipwake.toml"
check "the test config is the shipped one with only the five listeners moved" sh -c "
  [ \"\$(diff /etc/sipwake/sipwake.toml '$work/sipwake.toml' | grep -c '^>')\" = 5 ] \
  && /usr/bin/sipwake --check --config '$work/sipwake.toml' | grep -qx 'sip udp: 127.0.0.1:$low' \
  && /usr/bin/sipwake --check --config '$work/sipwake.toml' | grep -qx 'http: 127.0.0.1:$p_http'"

# What the unit grants, without systemd: the user sipwake, no new
# privileges, CAP_NET_BIND_SERVICE as the only (ambient, bounding) capability,
# the state directory as the working directory, UMask=0077.
as_sipwake() { # as_sipwake CAPS CMD... : CAPS is "+net_bind_service" or "" (none)
  local caps=$1; shift
  local set="-all${caps:+,$caps}"
  umask 0077
  cd /var/lib/sipwake && exec setpriv --reuid=sipwake --regid=sipwake --init-groups --no-new-privs \
    --inh-caps="$set" --ambient-caps="$set" --bounding-set="$set" "$@"
}
t_gw=$SECONDS
(as_sipwake +net_bind_service /usr/bin/sipwake --config "$work/sipwake.toml") >"$work/sipwake.log" 2>&1 &
gw_pid=$!
deadline=$((SECONDS + 30))
until curl -sf "http://127.0.0.1:$p_http/healthz" | grep -qx ok; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$gw_pid" 2>/dev/null; then
    echo "FAIL the installed gateway did not become healthy within 30 s"; cat "$work/sipwake.log"; exit 1
  fi
  sleep 0.1
done
echo "healthy after $((SECONDS - t_gw))s"
check "it runs as sipwake with NoNewPrivs and only cap_net_bind_service (0x400)" sh -c "
  [ \"\$(ps -o user= -p $gw_pid)\" = sipwake ] && grep -qP '^NoNewPrivs:\t1$' /proc/$gw_pid/status \
  && grep -qP '^CapEff:\t0000000000000400$' /proc/$gw_pid/status \
  && grep -qP '^CapBnd:\t0000000000000400$' /proc/$gw_pid/status || { grep -E 'Uid|Cap|NoNew' /proc/$gw_pid/status; exit 1; }"
check "it listens on SIP UDP 127.0.0.1:$low (< 1024)" grep_in "$work/sipwake.log" "listening transport=udp addr=127.0.0.1:$low"

# A REGISTER over UDP, retransmitted on RFC 3261's timer E schedule until a
# final response or 8 s. The shipped config has no users_file, so the
# built-in registrar accepts anyone on loopback: 200 OK with the binding.
check "REGISTER over UDP to the installed gateway: 200 OK with the Contact bound" python3 - "$low" <<'PY'
import random, socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
branch = "z9hG4bK-deb-%08x" % random.getrandbits(32)
call_id = "deb-%08x@127.0.0.1" % random.getrandbits(32)
contact = f"sip:alice@127.0.0.1:{me};transport=udp"
req = (f"REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n"
       f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch={branch};rport\r\n"
       "Max-Forwards: 70\r\n"
       f"From: <sip:alice@127.0.0.1>;tag=deb{random.getrandbits(24)}\r\n"
       "To: <sip:alice@127.0.0.1>\r\n"
       f"Call-ID: {call_id}\r\n"
       "CSeq: 1 REGISTER\r\n"
       f"Contact: <{contact}>\r\n"
       "Expires: 600\r\n"
       "Content-Length: 0\r\n\r\n").encode()
deadline = time.monotonic() + 8
interval = 0.5
while True:
    s.sendto(req, ("127.0.0.1", port))
    s.settimeout(max(0.01, min(interval, deadline - time.monotonic())))
    try:
        data = s.recv(65535).decode()
    except socket.timeout:
        if time.monotonic() >= deadline:
            sys.exit("no final response within 8 s")
        interval = min(interval * 2, 4)
        continue
    status = data.split("\r\n", 1)[0]
    print(status)
    if status.split(" ")[1].startswith("1"):
        continue
    break
head = data.split("\r\n\r\n", 1)[0]
lines = head.split("\r\n")
assert status.startswith("SIP/2.0 200 "), data
assert any(l.lower().startswith("via:") and branch in l for l in lines), data
assert any(l.lower().startswith("call-id:") and call_id in l for l in lines), data
assert any(l.lower().startswith("contact:") and contact in l and "expires=" in l for l in lines), data
PY

check "/ , the service worker and the SDK served = the copies in /usr/share/sipwake" sh -c "
  curl -sf http://127.0.0.1:$p_http/ | cmp - /usr/share/sipwake/web-demo/index.html \
  && curl -sf http://127.0.0.1:$p_http/firebase-messaging-sw.js | cmp - /usr/share/sipwake/firebase-messaging-sw.js \
  && curl -sf http://127.0.0.1:$p_http/sdk/web/sipwake_wasm_bg.wasm | cmp - /usr/share/sipwake/sdk/web/sipwake_wasm_bg.wasm"

check "its state in /var/lib/sipwake: owned by sipwake, keys not readable by others" sh -c '
  rc=0
  for f in tls-cert.pem tls-key.pem store.key bindings.db vapid-private.key; do
    p=/var/lib/sipwake/$f
    [ -f "$p" ] || { echo "missing $p"; rc=1; continue; }
    [ "$(stat -c %U "$p")" = sipwake ] || { echo "$p: owner $(stat -c %U "$p")"; rc=1; }
  done
  for f in tls-key.pem store.key vapid-private.key; do
    m=$(stat -c %a /var/lib/sipwake/$f 2>/dev/null) && [ "${m#?}" = 00 ] || { echo "$f: mode $m"; rc=1; }
  done
  ls -l /var/lib/sipwake; exit $rc'

kill -TERM "$gw_pid"
check "SIGTERM: it exits within 15 s" wait_until 15 sh -c "! kill -0 $gw_pid"
rc=0; wait "$gw_pid" || rc=$?
gw_pid=""
check "exit status 0, logged \"stopped\"" sh -c "[ $rc = 0 ] && grep -q 'stopped' '$work/sipwake.log'"

# Without the capability the same start must fail on the port below 1024:
# the capability is what lets it bind, not something else. Meaningless where
# the kernel lets anyone bind it (net.ipv4.ip_unprivileged_port_start).
unpriv=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)
if [ "$low" -ge "$unpriv" ]; then
  log "SKIPPED: net.ipv4.ip_unprivileged_port_start is $unpriv here, so port $low needs no capability: the start without CAP_NET_BIND_SERVICE is not tested"
else
  (as_sipwake "" /usr/bin/sipwake --config "$work/sipwake.toml") >"$work/nocap.log" 2>&1 &
  nocap_pid=$!
  nocap_rc=0
  if wait_until 15 sh -c "! kill -0 $nocap_pid"; then wait "$nocap_pid" || nocap_rc=$?; else
    kill "$nocap_pid"; wait "$nocap_pid" || true; nocap_rc=timeout
  fi
  check "without CAP_NET_BIND_SERVICE it refuses to start (port $low: permission denied)" sh -c "
    [ '$nocap_rc' != 0 ] && [ '$nocap_rc' != timeout ] && grep -qi 'permission denied' '$work/nocap.log' \
      || { echo 'exit: $nocap_rc'; cat '$work/nocap.log'; exit 1; }"
fi

log "the unit (systemd-analyze)"
if command -v systemd-analyze >/dev/null; then
  # verify: syntax, directives this systemd knows, ExecStart exists.
  check "systemd-analyze verify $unit" sh -c "systemd-analyze verify '$unit' 2>&1 | tee /dev/stderr | (! grep -q .)"
  # security --offline: the exposure score of the sandbox (0 safest … 10).
  if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    systemd-analyze security --offline=true --no-pager "$unit" >"$work/security.txt" 2>&1 || true
    exposure=$(grep -oE 'Overall exposure level for [^:]+: [0-9.]+' "$work/security.txt" | grep -oE '[0-9.]+$' || true)
    echo "systemd-analyze security: overall exposure ${exposure:-?} (0 = safest, 10 = none)"
    check "exposure level at most 2.0 (\"OK\")" sh -c "[ -n '$exposure' ] && awk 'BEGIN { exit !($exposure <= 2.0) }' || { cat '$work/security.txt'; exit 1; }"
  else
    log "systemd-analyze $(systemd-analyze --version | head -1): no 'security --offline', exposure not measured"
  fi
else
  log "SKIPPED: systemd-analyze is not installed (Debian package systemd), the unit was not verified"
fi

log "reinstall: the admin's config edits are kept (conffile)"
echo "# local edit $$" >>/etc/sipwake/sipwake.toml
check "dpkg -i again" dpkg -i "$deb"
check "the edited /etc/sipwake/sipwake.toml is kept, no .dpkg-new / .dpkg-dist" sh -c "
  tail -n 1 /etc/sipwake/sipwake.toml | grep -qx '# local edit $$' && ! ls /etc/sipwake/*.dpkg-* 2>/dev/null"
check "still root:sipwake 640" owner_mode /etc/sipwake/sipwake.toml root:sipwake 640
check "the state survives" test -s /var/lib/sipwake/store.key

log "dpkg --remove: program gone, config and state kept"
check "dpkg --remove sipwake" dpkg --remove sipwake
check "status: deinstall ok config-files" status_is "deinstall ok config-files"
check "binary, unit, web files and docs are gone" absent /usr/bin/sipwake /usr/share/sipwake /usr/share/doc/sipwake \
  /lib/systemd/system/sipwake.service /usr/lib/systemd/system/sipwake.service
check "config and state are kept" sh -c "test -f /etc/sipwake/sipwake.toml && test -s /var/lib/sipwake/store.key && test -s /var/lib/sipwake/bindings.db"

log "dpkg --purge: config, state and the service's links gone"
check "dpkg --purge sipwake" dpkg --purge sipwake
check "status: not installed" sh -c "! dpkg-query -W -f='\${Status}' sipwake 2>/dev/null | grep -q ok"
check "/etc/sipwake, /var/lib/sipwake and the unit's enable/mask links are gone" absent /etc/sipwake /var/lib/sipwake \
  /etc/systemd/system/multi-user.target.wants/sipwake.service /etc/systemd/system/sipwake.service \
  /var/lib/systemd/deb-systemd-helper-enabled/sipwake.service \
  /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/sipwake.service
check "the system user sipwake stays (Debian keeps system users; docs/install.md)" getent passwd sipwake

echo "package $(basename "$deb"): $(stat -c %s "$deb") bytes, Installed-Size $installed_kib KiB; cargo deb ${build_secs}s, area $((SECONDS - t_start))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
