#!/usr/bin/env bash
# Instructions per event through the whole daemon, counted by callgrind: a figure that does
# not move with the machine's load, unlike the timings of bench/compare.sh.
#
# The release daemon runs under `valgrind --tool=callgrind` with compare.sh's job
# (bench/siem-relay.toml.in): JSON lines on its Unix socket -> parse -> route -> RFC 5424 with
# structured data -> TCP with octet counting -> `siem-relay-bench receive`. Two runs:
#   base   the daemon starts, gets no events, and is stopped (SIGTERM)
#   load   the same, with EVENTS events fed (the generator's seeded events, about 365 bytes)
# and the figure is (Ir(load) - Ir(base)) / EVENTS: every instruction of the daemon process,
# all its threads, user space only (the kernel's share of a syscall is not counted, the
# instructions that make it are), without start-up and shutdown.
#
# The feeder and the receiver run natively, far faster than the daemon under valgrind, so the
# daemon always finds its input socket full and its output free: the figure is for the daemon
# at saturation (full read buffers, full batches), the state the throughput figures are about.
# Repeated runs agree within about 0.5%.
#
# Usage: bench/callgrind.sh [--events N] [--config FILE] [--annotate N] [--keep] [--no-build]
# or the same as environment variables: EVENTS (100000), CONFIG (bench/siem-relay.toml.in;
# @DIR@, @SOCKET@ and @ADDR@ are filled in), ANNOTATE (20: the top N functions of the load
# run by exclusive Ir, 0 for none), KEEP=1 (keep the temporary directory with the callgrind
# output files, for callgrind_annotate or kcachegrind), NO_BUILD=1, SEED (1), BIN_DIR (take
# siem-relay and siem-relay-bench from this directory, e.g. a saved build of another commit,
# instead of building).
#
# Builds into CARGO_TARGET_DIR when set (else target/), then copies the two binaries into the
# temporary directory, so a build running meanwhile cannot swap them mid-run.
#
# Needs: cargo, valgrind, python3.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

EVENTS="${EVENTS:-100000}"
CONFIG="${CONFIG:-bench/siem-relay.toml.in}"
ANNOTATE="${ANNOTATE:-20}"
KEEP="${KEEP:-0}"
NO_BUILD="${NO_BUILD:-0}"
SEED="${SEED:-1}"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --events) EVENTS="$2"; shift 2 ;;
        --config) CONFIG="$2"; shift 2 ;;
        --annotate) ANNOTATE="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --no-build) NO_BUILD=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "callgrind.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
LOG_PREFIX=callgrind
is_count "$EVENTS" || die "EVENTS must be a positive integer"
[[ "$ANNOTATE" =~ ^[0-9]+$ ]] || die "ANNOTATE must be a number"
[ -f "$CONFIG" ] || die "no config template $CONFIG"
command -v valgrind >/dev/null || die "valgrind is needed (apt-get install valgrind)"
command -v python3 >/dev/null || die "python3 is needed"

if [ -n "${BIN_DIR:-}" ]; then
    RELAY_BIN="$BIN_DIR/siem-relay" BENCH="$BIN_DIR/siem-relay-bench"
    [ -x "$RELAY_BIN" ] && [ -x "$BENCH" ] || die "no siem-relay and siem-relay-bench in $BIN_DIR"
else
    build_binaries
fi
bench_tmpdir
cp "$RELAY_BIN" "$tmp/siem-relay"
cp "$BENCH" "$tmp/siem-relay-bench"
RELAY_BIN="$tmp/siem-relay"
BENCH="$tmp/siem-relay-bench"

log "generating $EVENTS events (seed $SEED)"
"$BENCH" generate --output "$tmp/input.ndjson" --events "$EVENTS" --seed "$SEED" >"$tmp/input.json"

# Total Ir of a callgrind output file (every thread: one file, not --separate-threads).
total_ir() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# Runs the daemon under callgrind with $1 events; prints its total Ir.
run_one() {
    local n="$1" dir="$tmp/run-$1"
    mkdir -p "$dir"
    local sock="$dir/events.sock"
    # The receiver expects at least one frame; the base run stops the daemon before any.
    "$BENCH" receive --tcp 127.0.0.1:0 --framing octet --expect "$((n > 0 ? n : 1))" --timeout-s 600 \
        --ready-file "$dir/ready" --linger-until "$dir/release" \
        >"$dir/receive.json" 2>"$dir/receive.err" &
    local recv_pid=$!
    pids+=("$recv_pid")
    wait_for 10 test -s "$dir/ready" || die "the receiver did not start: $(cat "$dir/receive.err")"
    local addr host port
    addr="$(cat "$dir/ready")"
    host="${addr%:*}" port="${addr##*:}"
    sed -e "s|@DIR@|$dir|g" -e "s|@SOCKET@|$sock|g" -e "s|@ADDR@|$addr|g" -e "s|@HOST@|$host|g" \
        -e "s|@PORT@|$port|g" -e "s|@WORKERS@|1|g" "$CONFIG" >"$dir/siem-relay.toml"
    # Logging at info for its "listening" line (nothing is logged per event at info).
    SIEM_RELAY_LOG=info valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
        "$RELAY_BIN" run --config "$dir/siem-relay.toml" >"$dir/relay.log" 2>&1 &
    local relay_pid=$!
    pids+=("$relay_pid")
    wait_for 120 grep -q "siem-relay listening" "$dir/relay.log" \
        || die "the daemon did not start within 120 s: $(tail -n 20 "$dir/relay.log")"
    # Its signal handlers are installed just after that line: SIGTERM must not come first.
    sleep 1
    if [ "$n" -gt 0 ]; then
        "$BENCH" generate --input "$tmp/input.ndjson" --events "$n" --socket "$sock" \
            --drain-timeout-s 600 >"$dir/generate.json" 2>"$dir/generate.err" &
        local gen_pid=$!
        pids+=("$gen_pid")
        until [ -s "$dir/receive.json" ] || gone "$recv_pid"; do sleep 0.1; done
        local received
        received="$(jget "$dir/receive.json" frames)"
        [ "$received" = "$n" ] || die "the receiver got $received of $n frames: $(cat "$dir/receive.json")"
    fi
    # SIGTERM: a graceful shutdown, after which valgrind writes the profile.
    kill -TERM "$relay_pid"
    wait_for 120 gone "$relay_pid" || die "the daemon did not stop within 120 s"
    wait "$relay_pid" 2>/dev/null || true
    touch "$dir/release"
    [ "$n" -gt 0 ] || kill -TERM "$recv_pid" 2>/dev/null || true
    wait "$recv_pid" 2>/dev/null || true
    [ "$n" -gt 0 ] && { wait "$gen_pid" 2>/dev/null || true; }
    pids=()
    [ -s "$dir/callgrind.out" ] || die "no callgrind output: $(tail -n 20 "$dir/relay.log")"
    ! grep -q "Process terminating with default action" "$dir/relay.log" \
        || die "the daemon did not shut down gracefully: $(tail -n 20 "$dir/relay.log")"
    total_ir "$dir/callgrind.out"
}

log "base run (no events)"
base="$(run_one 0)"
log "load run ($EVENTS events)"
load="$(run_one "$EVENTS")"
python3 - "$base" "$load" "$EVENTS" <<'PY'
import sys
base, load, n = (int(x) for x in sys.argv[1:])
print(f"Ir base (start-up, shutdown) {base:,}")
print(f"Ir with {n:,} events        {load:,}")
print(f"Ir/event                      {(load - base) / n:,.0f}")
PY
if [ "$ANNOTATE" -gt 0 ]; then
    echo
    echo "top $ANNOTATE functions of the load run by exclusive Ir (inlined code counted in its caller):"
    callgrind_annotate --inclusive=no --auto=no --threshold=100 "$tmp/run-$EVENTS/callgrind.out" 2>/dev/null \
        | python3 -c '
import re, sys
n, top, total = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
functions = {}
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)", line)
    if not m:
        continue
    ir, name = int(m.group(1).replace(",", "")), m.group(3)
    if "PROGRAM TOTALS" in name:
        continue
    # "file:function": inlined code is listed under the file it came from; sum per function.
    name = re.sub(r"\s*\[[^]]*\]$", "", name)
    name = re.sub(r"^[^:]*:(?!:)", "", name)
    name = re.sub(r"\x27\d+$", "", name)
    functions[name] = functions.get(name, 0) + ir
print("  share  Ir/event  function")
for name, ir in sorted(functions.items(), key=lambda item: -item[1])[:top]:
    print(f"{100 * ir / total:>6.2f}% {ir / n:>9,.0f}  {name[:150]}")
' "$EVENTS" "$ANNOTATE" "$load"
fi
