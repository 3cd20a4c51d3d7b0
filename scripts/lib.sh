# Shared helpers for the test scripts. Source it: `. "$(dirname "$0")/lib.sh"`.
# Every script installs what it needs, so a fresh machine (and CI) works.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\n==> %s\n' "$*" >&2; }

_apt_updated=0
# need_apt PKG... : install the Debian packages that are not installed yet.
need_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ "$_apt_updated" = 0 ]; then apt-get update -qq >/dev/null; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# need_cargo_bin BIN CRATE VERSION [extra cargo-install flags]
need_cargo_bin() {
  local bin=$1 crate=$2 version=$3; shift 3
  if command -v "$bin" >/dev/null && "$bin" --version 2>/dev/null | grep -q -- "$version"; then return 0; fi
  log "cargo install $crate@$version"
  cargo install -q "$crate" --version "$version" "$@"
}

# need_npm DIR : npm ci (or install) in DIR when node_modules is missing or stale.
need_npm() {
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package.json" -nt "$dir/node_modules" ]; then
    log "npm install in $dir"
    (cd "$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi) >/dev/null
    touch "$dir/node_modules"
  fi
}

# The Debian toolchain the cross builds use (rustc-web + build-std: WASM SDK,
# Android/iOS compile checks), see TOOLCHAIN.md.
RUST_WEB_PKGS=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)

# need_wasm_toolchain : what client-wasm/build.sh needs.
need_wasm_toolchain() {
  need_apt "${RUST_WEB_PKGS[@]}"
  need_cargo_bin wasm-bindgen wasm-bindgen-cli 0.2.130
}

# tally FILE : adds the counts of every `N passed, M failed` and
# `test result: ok. N passed; M failed` line in FILE to $passed / $failed.
tally() {
  local lines p f
  lines=$(grep -oE '^(test result: [a-zA-Z]+\. )?[0-9]+ passed[;,] [0-9]+ failed' "$1" || true)
  p=$({ grep -oE '[0-9]+ passed' <<<"$lines" || true; } | awk '{s+=$1} END {print s+0}')
  f=$({ grep -oE '[0-9]+ failed' <<<"$lines" || true; } | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p))
  failed=$((failed + f))
}

# workspace_version : the release version, `[workspace.package] version` in
# Cargo.toml (every crate inherits it). Fails when the SDK crates disagree.
workspace_version() {
  cargo metadata --no-deps --format-version 1 --offline --manifest-path "$ROOT/Cargo.toml" | node -e '
    const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const sdk = ["sipwake-core", "sipwake-wasm", "sipwake-android", "sipwake-ios"];
    const v = [...new Set(m.packages.filter((p) => sdk.includes(p.name)).map((p) => p.version))];
    if (v.length !== 1 || !/^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$/.test(v[0])) {
      console.error("no single SDK version in Cargo.toml: " + JSON.stringify(v));
      process.exit(1);
    }
    console.log(v[0]);'
}

# defines_symbol FILE SYMBOL : FILE (a .so, .a or .o) defines the global function SYMBOL.
# readelf, because GNU nm stumbles over the LLVM bitcode in Rust staticlibs.
defines_symbol() {
  readelf -sW "$1" 2>/dev/null | awk -v s="$2" '$4 == "FUNC" && $5 == "GLOBAL" && $7 != "UND" && $8 == s { f = 1 } END { exit !f }'
}
