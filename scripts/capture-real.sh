#!/bin/bash
# capture-real.sh: a real-traffic benchmark capture. Runs the bundled generator
# (`connscope gen`, server and client in one process, on loopback) while tcpdump
# captures it on lo, repeating the scenario until the file reaches the size asked.
#
# usage: scripts/capture-real.sh OUT.pcap [SIZE_MB] [SCENARIO] [PORT]
#   SIZE_MB   stop once the capture is at least this big (default 200)
#   SCENARIO  a `connscope gen --scenario` name (default pool-large: 10 workers,
#             idle pool 10, keep-alive; pool-small gives churn)
#   PORT      server port (default 18080; must be free)
# Needs root (or CAP_NET_RAW) for tcpdump, and a release build of connscope
# (CONNSCOPE=path/to/connscope overrides target/release/connscope).
set -euo pipefail
OUT=${1:?usage: capture-real.sh OUT.pcap [SIZE_MB] [SCENARIO] [PORT]}
SIZE_MB=${2:-200}
SCENARIO=${3:-pool-large}
PORT=${4:-18080}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CONNSCOPE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/connscope}
[ -x "$BIN" ] || { echo "capture-real.sh: $BIN not found: build with cargo build --release" >&2; exit 1; }
command -v tcpdump >/dev/null || { echo "capture-real.sh: needs tcpdump (apt-get install tcpdump)" >&2; exit 1; }

ERR=$(mktemp)
CAP=
cleanup() { [ -n "$CAP" ] && kill -INT "$CAP" 2>/dev/null; rm -f "$ERR"; }
trap cleanup EXIT

mkdir -p "$(dirname "$OUT")"
tcpdump -Z root -i lo -B 65536 -s 262144 -w "$OUT" "tcp port $PORT" 2>"$ERR" & CAP=$!
for _ in $(seq 200); do grep -q "listening on" "$ERR" && break; sleep 0.05; done
sleep 0.5
runs=0
while [ "$(stat -c %s "$OUT")" -lt $((SIZE_MB * 1000000)) ]; do
  # 20000 requests per run over 10 workers, 1 KiB..16 KiB bodies; a short
  # think time keeps tcpdump from dropping packets on a small machine.
  "$BIN" gen --scenario "$SCENARIO" --port "$PORT" -n 20000 -c 10 --think-ms "${THINK_MS:-1}" \
    --response-bytes $(( (runs % 16 + 1) * 1024 )) >/dev/null
  runs=$((runs + 1))
done
# libpcap hands packets over in blocks (1 s timeout): wait for the last one.
sleep 2
kill -INT "$CAP"; wait "$CAP" || true; CAP=
cat "$ERR" >&2
if grep -Eq '^[1-9][0-9]* packets dropped by kernel' "$ERR"; then
  echo "capture-real.sh: tcpdump dropped packets; the capture is still usable but not complete" >&2
fi
echo "capture-real.sh: $OUT: $(stat -c %s "$OUT") bytes, $runs generator runs of scenario $SCENARIO" >&2
