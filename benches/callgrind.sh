#!/usr/bin/env bash
# Instructions per forwarded packet, driver side and simulator side, counted by callgrind.
#
# Runs `ena-pps --callgrind-loop`: the forwarding loop on two stepped in-process device models
# (port 0 a lossless generator, port 1 a sink; see benches/src/manual_loop.rs), single-threaded
# and deterministic, so the counts are exact and repeat to the instruction on any machine, noisy
# or not. Two valgrind passes with collection switched on only inside named functions:
#
#   driver pass: --toggle-collect on manual_loop::driver_rx_burst and ::driver_tx_burst
#                (#[inline(never)] wrappers around RxQueue::rx_burst / TxQueue::tx_burst)
#   sim pass:    --toggle-collect on manual_loop::sim_step (both device models polled until idle)
#
# Warm-up packets go through the plain (inlined) calls and are not counted. Output: per side,
# the total per packet, rx_burst and tx_burst inclusive per packet, and the top functions
# (exclusive instructions per packet, inlined code attributed to the function it was inlined
# into). The raw callgrind files stay in $OUT_DIR for callgrind_annotate / kcachegrind.
#
# Usage: benches/callgrind.sh [--burst N] [--placement llq|host] [--packets N] [--top N]
#                             [--frame-size BYTES]
# Needs valgrind (apt-get install -y valgrind). Takes ~20 s per 100 000 packets and pass.
set -euo pipefail

burst=32
placement=llq
packets=200000
frame=64
top=15
while [ $# -gt 0 ]; do
    case "$1" in
        --burst) burst="$2"; shift 2 ;;
        --placement) placement="$2"; shift 2 ;;
        --packets) packets="$2"; shift 2 ;;
        --frame-size) frame="$2"; shift 2 ;;
        --top) top="$2"; shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "callgrind.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

command -v valgrind >/dev/null || { echo "SKIPPED: valgrind not installed (apt-get install -y valgrind)"; exit 0; }
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
cargo build --release -q -p ena-benches --bin ena-pps
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/ena-pps"
out="${OUT_DIR:-$target/callgrind}"
mkdir -p "$out"
args=(--callgrind-loop --burst "$burst" --placement "$placement" --packets "$packets"
      --frame-size "$frame" --warmup-packets 20000)
tag="b${burst}-${placement}-${frame}B"

run_pass() { # name, toggle patterns...
    local name="$1"; shift
    local toggles=()
    for t in "$@"; do toggles+=(--toggle-collect="$t"); done
    valgrind --tool=callgrind --dump-instr=no --collect-atstart=no \
        --callgrind-out-file="$out/$name-$tag.out" "${toggles[@]}" \
        "$bin" "${args[@]}" >"$out/$name-$tag.json" 2>"$out/$name-$tag.log"
}

run_pass driver '*manual_loop::driver_rx_burst*' '*manual_loop::driver_tx_burst*'
run_pass sim '*manual_loop::sim_step*'

fwd=$(sed -n 's/.*"packets":\([0-9]*\).*/\1/p' "$out/driver-$tag.json")
fwd_sim=$(sed -n 's/.*"packets":\([0-9]*\).*/\1/p' "$out/sim-$tag.json")
[ -n "$fwd" ] && [ "$fwd" -gt 0 ] || { echo "callgrind.sh: the loop forwarded nothing" >&2; exit 1; }

# (awk reads to the end: an early exit would kill callgrind_annotate with SIGPIPE, and
# pipefail would turn that into a failure.)
total() { callgrind_annotate --auto=no "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ && !d { gsub(",", "", $1); print $1; d = 1 }'; }
# Inclusive count of the first function whose name matches $2.
inclusive() {
    callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v pat="$2" 'index($0, pat) && !d { gsub(",", "", $1); print $1; d = 1 }'
}
# Exclusive counts summed per function name (callgrind_annotate splits a function by the
# source file each inlined piece came from), per packet, largest first.
top_functions() { # file packets n
    callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null |
        awk -v pk="$2" '
            /^ *[0-9,]+ +\([ 0-9.]+%\) +/ && !/PROGRAM TOTALS/ {
                n = $1; gsub(",", "", n)
                line = $0
                sub(/^ *[0-9,]+ +\([ 0-9.]+%\) +/, "", line)
                sub(/ \[[^]]*\]$/, "", line)
                i = index(line, ":"); fn = (i > 0) ? substr(line, i + 1) : line
                sum[fn] += n
            }
            END { for (f in sum) printf "%12.1f  %s\n", sum[f] / pk, f }' |
        sort -rn | awk -v n="$3" 'NR <= n'
}

d_total=$(total "$out/driver-$tag.out")
s_total=$(total "$out/sim-$tag.out")
rx=$(inclusive "$out/driver-$tag.out" "manual_loop::driver_rx_burst")
tx=$(inclusive "$out/driver-$tag.out" "manual_loop::driver_tx_burst")
per() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

echo "callgrind: burst $burst, $placement placement, ${frame}-byte frames, $fwd packets forwarded (after 20000 warm-up)"
echo "  driver side (rx_burst + tx_burst): $(per "$d_total" "$fwd") instructions/packet   (target <= 150)"
echo "      rx_burst inclusive:            $(per "$rx" "$fwd")"
echo "      tx_burst inclusive:            $(per "$tx" "$fwd")"
echo "  simulator side (both devices):     $(per "$s_total" "$fwd_sim") instructions/packet"
echo
echo "top driver-side functions (exclusive instructions/packet):"
top_functions "$out/driver-$tag.out" "$fwd" "$top"
echo
echo "top simulator-side functions (exclusive instructions/packet):"
top_functions "$out/sim-$tag.out" "$fwd_sim" "$top"
echo
echo "raw data: $out/{driver,sim}-$tag.out (callgrind_annotate --inclusive=yes <file>)"
