#!/bin/bash
# pgo-build.sh: the release binary built with profile-guided optimisation
# (`make release`, `make install`, `make bench`). Prints the binary's path on
# stdout; everything else goes to stderr.
#
# 1. An instrumented build (-Cprofile-generate) in $TARGET/pgo-gen.
# 2. Training: that build reads captures written by benchgen with a seed and
#    sizes of their own (not the bench's files) and the fixtures, in the
#    summary, per-packet-line, JSON and ndjson modes.
# 3. llvm-profdata merges the counts; rustc's own (the llvm-tools component),
#    as the format follows rustc's LLVM.
# 4. The release build with -Cprofile-use in $TARGET/pgo; the profile's hash
#    is in its file name, so cargo rebuilds when the profile changes.
#
# Without an llvm-profdata for rustc's LLVM (no rustup, or no network to add
# the component) it builds without PGO, says so, and still prints a path.
#
# Environment: CARGO_TARGET_DIR (default target), PGO=0 (build without PGO).
# $TARGET/pgo/built-with says which it was.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# Absolute: rustc reads the profile from build scripts' directories too.
TARGET=$(realpath -m "${CARGO_TARGET_DIR:-$ROOT/target}")
PROF=$TARGET/pgo-profile
OUT=$TARGET/pgo/release/connscope

# How $OUT was built, for the bench's report.
NOTE=$TARGET/pgo/built-with

plain() { # REASON
  echo "pgo-build: $1: building without profile-guided optimisation" >&2
  CARGO_TARGET_DIR=$TARGET/pgo cargo build --release --bin connscope >&2
  echo "without PGO ($1)" >"$NOTE"
  echo "$OUT"
  exit 0
}

[ "${PGO:-1}" = 0 ] && plain "PGO=0"

# llvm-profdata must read the raw profiles of rustc's own LLVM version.
sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
PROFDATA=$sysroot/lib/rustlib/$host/bin/llvm-profdata
if [ ! -x "$PROFDATA" ] && command -v rustup >/dev/null; then
  echo "pgo-build: adding rustup's llvm-tools component (llvm-profdata)" >&2
  rustup component add llvm-tools >&2 || true
fi
if [ ! -x "$PROFDATA" ]; then
  PROFDATA=""
  for p in "llvm-profdata-$llvm_major" llvm-profdata; do
    if command -v "$p" >/dev/null &&
      "$p" --version 2>/dev/null | grep -q "LLVM version $llvm_major\."; then
      PROFDATA=$(command -v "$p")
      break
    fi
  done
  [ -n "$PROFDATA" ] || plain "no llvm-profdata for LLVM $llvm_major (rustup component add llvm-tools)"
fi

# 1. Instrumented build. Build scripts run during it write profiles too;
#    they are cleared before the training.
echo "pgo-build: instrumented build" >&2
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$PROF/build-raw" \
  CARGO_TARGET_DIR=$TARGET/pgo-gen cargo build --release --bin connscope --bin benchgen >&2
GEN=$TARGET/pgo-gen/release
# The training depends on these binaries and on this script's steps.
stamp=$(cat "$GEN/connscope" "$GEN/benchgen" "$0" | sha256sum | cut -c1-16)

# 2. Training, only when the stamp changed.
if [ "$(cat "$PROF/stamp" 2>/dev/null)" != "$stamp" ] || ! ls "$PROF"/merged-*.profdata >/dev/null 2>&1; then
  echo "pgo-build: training" >&2
  rm -rf "$PROF"
  mkdir -p "$PROF/data" "$PROF/raw"
  export LLVM_PROFILE_FILE=$PROF/raw/%m-%p.profraw
  D=$PROF/data
  "$GEN/benchgen" --seed 7 --scenario keepalive --size 30 --conns 20 --reqs 50-500 -o "$D/keepalive.pcap" >/dev/null
  "$GEN/benchgen" --seed 7 --scenario churn --size 30 --conns 20 -o "$D/churn.pcap" >/dev/null
  "$GEN/benchgen" --seed 7 --scenario synflood --packets 100000 -o "$D/synflood.pcap" >/dev/null
  rm -f "$PROF"/raw/* # benchgen's own counts are not wanted
  for f in "$D"/*.pcap fixtures/*.pcap fixtures/*.pcapng; do
    # Some fixtures are broken on purpose: their non-zero exit is expected.
    "$GEN/connscope" read -q "$f" >/dev/null 2>&1 || true
    TZ=UTC "$GEN/connscope" read --no-summary "$f" >/dev/null 2>&1 || true
  done
  for f in "$D"/*.pcap; do
    "$GEN/connscope" read -q --format ndjson "$f" >/dev/null 2>&1 || true
  done
  for f in fixtures/*.pcap fixtures/*.pcapng; do
    "$GEN/connscope" read --format json "$f" >/dev/null 2>&1 || true
  done
  rm -rf "$D"
  # 3. The counts merged.
  "$PROFDATA" merge -o "$PROF/merged.profdata" "$PROF"/raw/*.profraw
  h=$(sha256sum "$PROF/merged.profdata" | cut -c1-16)
  mv "$PROF/merged.profdata" "$PROF/merged-$h.profdata"
  rm -rf "$PROF/raw" "$PROF/build-raw"
  echo "$stamp" >"$PROF/stamp"
fi

# 4. The optimised build.
profile=$(ls "$PROF"/merged-*.profdata | head -1)
echo "pgo-build: optimised build with $profile" >&2
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$profile" \
  CARGO_TARGET_DIR=$TARGET/pgo cargo build --release --bin connscope >&2
echo "with PGO ($(basename "$profile"))" >"$NOTE"
echo "$OUT"
