#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) and prints the executions reached.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (make fuzz FUZZ_SECONDS=600)
#
# Seeds fuzz/corpus/<target>/ from fixtures/ first. With a nightly toolchain
# and cargo-fuzz (`cargo install cargo-fuzz`) it runs libFuzzer through
# `cargo +nightly fuzz run`; without them it falls back to the stable replayer
# (the same targets over the corpus plus seeded random inputs), and says so.
# Crashes land in fuzz/artifacts/<target>/; the script exits non-zero on one.
#
# FUZZ_SANITIZER (default none): the crate forbids unsafe code and the
# targets reach no C, so AddressSanitizer finds nothing Rust's own checks
# (bounds, overflow with debug assertions) do not, at a fifth of the speed;
# FUZZ_SANITIZER=address brings it back.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
sanitizer=${FUZZ_SANITIZER:-none}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_render track http_split)

(cd fuzz && cargo run --release --quiet --bin seed -- ../fixtures corpus)

if rustup toolchain list 2>/dev/null | grep -q '^nightly' && cargo fuzz --version >/dev/null 2>&1; then
  mode=libfuzzer
else
  mode=stable
  echo "fuzz.sh: no nightly toolchain or cargo-fuzz: running the stable replayer instead of libFuzzer" >&2
fi

status=0
for t in "${targets[@]}"; do
  log=$(mktemp)
  start=$(date +%s)
  if [ "$mode" = libfuzzer ]; then
    # -rss_limit_mb: a target that needs more than this is a finding too.
    if (cd fuzz && cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- \
          -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=1024 \
          -timeout=10 -max_len=8192) >"$log" 2>&1; then rc=0; else rc=$?; fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  else
    n=$((secs * 20000))
    if (cd fuzz && FUZZ_SMOKE_N=$n cargo test --release --quiet --test smoke -- "$t" --exact) >"$log" 2>&1; then rc=0; else rc=$?; fi
    execs=$n
  fi
  took=$(( $(date +%s) - start ))
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "$t: FAILED after ${took}s (log: $log)"
    grep -E 'panicked|SUMMARY|Test unit written|artifact' "$log" | head -5 || true
  else
    echo "$t: ${execs:-?} executions in ${took}s ($mode), no crash"
    rm -f "$log"
  fi
done
exit $status
