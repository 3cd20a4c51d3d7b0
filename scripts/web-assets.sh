#!/usr/bin/env bash
# The web files the gateway binary embeds (server/web-assets/): the web demo,
# firebase-messaging-sw.js and the WASM SDK (web, no-modules, node builds).
#
#   scripts/web-assets.sh build   rebuild them from the sources into server/web-assets/
#   scripts/web-assets.sh check   rebuild into a scratch dir and fail when that
#                                 differs from server/web-assets/ (CI runs this)
#
# Run `build` and commit server/web-assets/ after changing client-wasm/,
# core/, web-demo/ or service-worker/ sources. Both builds are reproducible
# with the pinned tools recorded in server/web-assets/TOOLS: Debian's
# rustc-web, wasm-bindgen-cli (lib.sh) and the npm lockfile's esbuild.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

mode=${1:-}
case "$mode" in
  build | check) ;;
  *) echo "usage: $0 build|check" >&2; exit 2 ;;
esac

need_wasm_toolchain
command -v node >/dev/null && command -v npm >/dev/null || need_apt nodejs npm
need_npm web-demo

log "WASM SDK (client-wasm/build.sh)"
# Its own target dir (a different compiler), shared with the other scripts.
env -u CARGO_TARGET_DIR client-wasm/build.sh
log "web demo + service worker bundles (web-demo/build.mjs)"
node web-demo/build.mjs

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/demo" "$out/sdk"
cp web-demo/dist/index.html web-demo/dist/app.css web-demo/dist/app.js web-demo/dist/app.js.LEGAL.txt "$out/demo/"
cp service-worker/dist/firebase-messaging-sw.js service-worker/dist/firebase-messaging-sw.js.LEGAL.txt "$out/"
for t in web no-modules node; do
  mkdir -p "$out/sdk/$t"
  cp client-wasm/pkg/$t/sipwake_wasm.js client-wasm/pkg/$t/sipwake_wasm.d.ts \
    client-wasm/pkg/$t/sipwake_wasm_bg.wasm client-wasm/pkg/$t/sipwake_wasm_bg.wasm.d.ts "$out/sdk/$t/"
done
{
  echo "# Tools that built these files (scripts/web-assets.sh); a different"
  echo "# version may produce different bytes."
  echo "rustc-web: $(dpkg-query -W -f='${Version}' rustc-web)"
  echo "wasm-bindgen-cli: $(wasm-bindgen --version | awk '{print $2}')"
  echo "esbuild: $(node -p "require('./web-demo/node_modules/esbuild/package.json').version")"
} >"$out/TOOLS"
cp server/web-assets/README.md "$out/README.md" 2>/dev/null || true

case "$mode" in
  build)
    rm -rf server/web-assets.new
    cp -r "$out" server/web-assets.new
    rm -rf server/web-assets
    mv server/web-assets.new server/web-assets
    log "server/web-assets/ rebuilt; commit it"
    ;;
  check)
    if ! diff -r server/web-assets "$out" >"$out.diff" 2>&1; then
      sed -e 's/^Binary files \(.*\) and .* differ$/differs: \1/' "$out.diff" | head -40 >&2
      rm -f "$out.diff"
      echo "0 passed, 1 failed: embedded web assets differ from a fresh build"
      echo "server/web-assets/ is not what the sources build: run scripts/web-assets.sh build and commit it" >&2
      echo "(tools recorded in server/web-assets/TOOLS vs this machine are shown above when they differ)" >&2
      exit 1
    fi
    rm -f "$out.diff"
    echo "1 passed, 0 failed: embedded web assets equal a fresh build"
    ;;
esac
