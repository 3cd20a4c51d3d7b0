#!/usr/bin/env bash
# Builds the WASM SDK into client-wasm/pkg/{web,no-modules,node}.
#
# Recipe from the project's toolchain notes: rustup has no wasm32 std here, so
# Debian's rustc-web (1.96) rebuilds std with -Zbuild-std. No wasm-opt (Debian's
# binaryen miscompiles) and no wasm-pack (adds nothing over wasm-bindgen).
# Prerequisites (scripts/test-wasm.sh installs them): rustc-web cargo-web
# rust-web-src rust-web-llvm lld-22 (apt), wasm-bindgen-cli 0.2.130 (cargo).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
WASM_BINDGEN="${WASM_BINDGEN:-$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")}"

# A different compiler from the host build: keep its artefacts apart.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/wasm}"
# The workspace release profile is tuned for the server; the SDK wants size.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=s
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=abort
export CARGO_PROFILE_RELEASE_DEBUG=false
# Reproducible output (the gateway embeds this build and CI compares it with
# a fresh one): panic locations name source files, so map the machine's
# checkout and cargo home to fixed prefixes.
CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
export RUSTFLAGS="--remap-path-prefix=$ROOT=/sipwake --remap-path-prefix=$CARGO_HOME_DIR=/cargo"

cd "$ROOT"
PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 cargo build -Zbuild-std=std,panic_abort \
  --target wasm32-unknown-unknown --release -p sipwake-wasm ${CARGO_BUILD_JOBS:+-j "$CARGO_BUILD_JOBS"}

wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/sipwake_wasm.wasm"
rm -rf "$HERE/pkg"
for target in web no-modules nodejs; do
  out="$HERE/pkg/${target/nodejs/node}"
  # The name section only helps stack traces; it is a third of the file.
  "$WASM_BINDGEN" --target "$target" --out-dir "$out" --remove-name-section "$wasm"
done
printf 'built %s (%s bytes)\n' "$HERE/pkg/web/sipwake_wasm_bg.wasm" \
  "$(stat -c %s "$HERE/pkg/web/sipwake_wasm_bg.wasm")" >&2
