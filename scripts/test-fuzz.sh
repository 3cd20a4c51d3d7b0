#!/usr/bin/env bash
# Fuzz smoke: every fuzz target (core/fuzz: `parsers`; sip/fuzz: `parse`,
# `stream`) built with libFuzzer's coverage instrumentation on the stable
# toolchain (the recipe in core/fuzz/Cargo.toml, no nightly needed) and run
# for FUZZ_SECONDS (default 20) on its seed corpus: the committed RFC 4475
# torture messages for the SIP targets, every parser input of the shared
# vectors (tests/vectors/parse_*.json) plus the inputs of past findings
# (core/fuzz/regressions/) for the core one. The mutation seed is fixed
# (FUZZ_SEED, default 1) so a run is the same sequence everywhere: a slower
# machine runs a prefix of it. A crash, a panic or a timeout fails the area
# and keeps the input. Long campaigns: docs/testing.md.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

# libfuzzer-sys compiles libFuzzer (C++).
need_apt g++ python3

seconds=${FUZZ_SECONDS:-20}
passed=0
failed=0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$ROOT/target/fuzz"
triple=x86_64-unknown-linux-gnu
# What cargo fuzz passes, minus the sanitizer (which needs nightly).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions"

seeds() { # seeds TARGET DIR : fill DIR with the target's seed corpus
  mkdir -p "$2"
  case "$1" in
    parse | stream) cp tests/fixtures/sip-torture/*.dat "$2/" ;;
    parsers)
      cp core/fuzz/regressions/* "$2/"
      python3 - "$2" <<'PY'
import glob, hashlib, json, os, sys
out = sys.argv[1]
for path in sorted(glob.glob("tests/vectors/parse_*.json")):
    for case in json.load(open(path))["cases"]:
        for value in case["input"].values():
            text = value if isinstance(value, str) else json.dumps(value)
            name = hashlib.sha1(text.encode()).hexdigest()
            open(os.path.join(out, name), "w").write(text)
PY
      ;;
  esac
}

for entry in core/fuzz:parsers sip/fuzz:parse sip/fuzz:stream; do
  dir=${entry%%:*}
  target=${entry##*:}
  log "fuzz $target ($dir), ${seconds}s"
  (cd "$dir" && cargo build -q --release --target "$triple" --bin "$target")
  corpus="$work/corpus-$target"
  seeds "$target" "$corpus"
  n=$(ls "$corpus" | wc -l)
  [ "$n" -gt 0 ] || { echo "no seeds for $target"; exit 1; }
  mkdir -p "$work/crash-$target"
  if "$CARGO_TARGET_DIR/$triple/release/$target" "$corpus" -max_total_time="$seconds" \
    -seed="${FUZZ_SEED:-1}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/crash-$target/" >"$work/$target.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log")
    echo "ok   fuzz $target: $runs runs from $n seeds, no crash"
    passed=$((passed + 1))
  else
    tail -n 40 "$work/$target.log"
    # Keep the input that failed where CI collects logs.
    mkdir -p "$ROOT/target/test-logs/fuzz-crashes"
    cp -r "$work/crash-$target" "$ROOT/target/test-logs/fuzz-crashes/" 2>/dev/null || true
    echo "FAIL fuzz $target (input kept in target/test-logs/fuzz-crashes/crash-$target)"
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
