#!/usr/bin/env bash
# Side-by-side throughput of siem-relay and its peers on the same job:
#
#   JSON lines on a Unix stream socket -> parse the JSON -> RFC 5424 with structured data
#   (id, severity, sent_ns; HOSTNAME = host, MSGID = event type, MSG = title)
#   -> TCP with octet counting -> siem-relay-bench receive
#
# with flow control everywhere, so nobody drops. Relays (RELAYS, in this order each round):
#   socat       physical baseline: plain byte relay Unix socket -> TCP, no parsing (the
#               receiver splits its output on LF instead)
#   siem-relay  bench/siem-relay.toml.in
#   rsyslog-w1  rsyslog 8.2302, bench/rsyslog.conf.in, 1 ruleset worker thread
#   rsyslog-w2  the same with 2 worker threads ("rsyslog" in RELAYS means both)
#   syslog-ng   syslog-ng 3.38, bench/syslog-ng.conf.in
#
# Every relay gets the same seeded input file (made once by `siem-relay-bench generate`):
# EVENTS events for socat and siem-relay, its first PEER_EVENTS events for rsyslog and
# syslog-ng (they run at a few tens of thousands of events per second; every figure is per
# event or per second, so the sizes compare). The feeder replays the file over one connection
# at full speed, stamping each line's sent_ns as it writes it.
#
# Per run: receiver up (port 0, address via --ready-file), relay up, socket there, feed;
# when the receiver has all N frames (or gave up after TIMEOUT_S without progress) the
# relay's CPU time (utime + stime of all its threads, /proc/PID/stat) and peak RSS (VmHWM)
# are read, then it is stopped. Figures:
#   events/s     received / (last frame received - first byte written)
#   MB/s         input bytes (10^6) / the same seconds
#   CPU s/M      relay CPU seconds per million events
#   RSS MiB      relay peak resident set
#   p50/p99 ms   end-to-end latency of the events (now - sent_ns at the receiver); at full
#                speed this is mostly time spent in buffers, read it as a queueing figure
#   lost         N - received
# The table shows the median over RUNS rounds and the spread (min-max); the raw figures of
# every run go to bench/results/compare-<time>.csv.
#
# Usage: bench/compare.sh [--events N] [--peer-events N] [--runs N] [--relays "a b"]
#                         [--keep] [--verbose] [--no-build]
# or the same as environment variables: EVENTS (1000000), PEER_EVENTS (200000), RUNS (3),
# RELAYS ("socat siem-relay rsyslog-w1 rsyslog-w2 syslog-ng"), KEEP=1 (keep the temporary
# directory with every config, log and JSON summary), VERBOSE=1 (print one sample frame per
# relay and each run's summaries), NO_BUILD=1, SEED (1), TIMEOUT_S (30).
#
# Needs: cargo, python3 (for the table), socat (installed with apt-get when missing and
# root), rsyslog and syslog-ng (tests/interop/provision.sh installs them). The machine's
# cores are shared by the feeder, the relay and the receiver: close other work first.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

EVENTS="${EVENTS:-1000000}"
PEER_EVENTS="${PEER_EVENTS:-200000}"
RUNS="${RUNS:-3}"
RELAYS="${RELAYS:-socat siem-relay rsyslog-w1 rsyslog-w2 syslog-ng}"
KEEP="${KEEP:-0}"
VERBOSE="${VERBOSE:-0}"
NO_BUILD="${NO_BUILD:-0}"
SEED="${SEED:-1}"
TIMEOUT_S="${TIMEOUT_S:-30}"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --events) EVENTS="$2"; shift 2 ;;
        --peer-events) PEER_EVENTS="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --relays) RELAYS="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --verbose) VERBOSE=1; shift ;;
        --no-build) NO_BUILD=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
LOG_PREFIX=compare
is_count "$EVENTS" || die "EVENTS must be a positive integer"
is_count "$PEER_EVENTS" || die "PEER_EVENTS must be a positive integer"
is_count "$RUNS" || die "RUNS must be a positive integer"
[ "$PEER_EVENTS" -le "$EVENTS" ] || PEER_EVENTS="$EVENTS"

relays=()
for r in $RELAYS; do
    case "$r" in
        rsyslog) relays+=(rsyslog-w1 rsyslog-w2) ;;
        socat | siem-relay | rsyslog-w1 | rsyslog-w2 | syslog-ng) relays+=("$r") ;;
        *) die "unknown relay '$r' (socat, siem-relay, rsyslog, rsyslog-w1, rsyslog-w2, syslog-ng)" ;;
    esac
done
[ "${#relays[@]}" -gt 0 ] || die "RELAYS is empty"
wants() { [[ " ${relays[*]} " == *" $1 "* ]]; }

started_all="$(date +%s)"

# ------------------------------------------------------------------ tools ---
command -v python3 >/dev/null || die "python3 is needed for the results table"
build_binaries

if wants socat && ! command -v socat >/dev/null; then
    log "installing socat"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends socat >/dev/null \
        || die "socat is missing and could not be installed (apt-get install socat)"
fi
if wants rsyslog-w1 || wants rsyslog-w2 || wants syslog-ng; then
    log "provisioning rsyslog and syslog-ng (tests/interop/provision.sh)"
    bash tests/interop/provision.sh
fi
SNG_DIR="$repo/target/interop/syslog-ng"
CLK_TCK="$(getconf CLK_TCK)"

# ------------------------------------------------------- temp dir, cleanup ---
bench_tmpdir

mkdir -p bench/results
csv="bench/results/compare-$(date -u +%Y%m%dT%H%M%SZ).csv"
echo "round,relay,events,received,lost,malformed,seconds,events_per_s,MB_per_s,cpu_s,cpu_s_per_M,peak_rss_MiB,lat_p50_ms,lat_p99_ms" >"$csv"

# ------------------------------------------------------------------ input ---
log "generating $EVENTS events (seed $SEED)"
"$BENCH" generate --output "$tmp/input.ndjson" --events "$EVENTS" --seed "$SEED" >"$tmp/input.json"
head -n "$PEER_EVENTS" "$tmp/input.ndjson" >"$tmp/input-peer.ndjson"
log "input: $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["events"], "events,", round(s["avg_event_bytes"]), "bytes on average")' "$tmp/input.json")"

# ---------------------------------------------------------------- helpers ---
fill() { # template out dir socket addr workers
    local host="${4%:*}" port="${4##*:}"
    sed -e "s|@DIR@|$2|g" -e "s|@SOCKET@|$3|g" -e "s|@ADDR@|$4|g" -e "s|@HOST@|$host|g" \
        -e "s|@PORT@|$port|g" -e "s|@WORKERS@|$5|g" "$1" >"$6"
}

# Starts relay $1 with its socket $2, sending to $3 (IP:PORT), in $4; sets relay_pid.
start_relay() {
    local relay="$1" sock="$2" addr="$3" dir="$4"
    case "$relay" in
        socat)
            socat -b 65536 "UNIX-LISTEN:$sock" "TCP:$addr" >"$dir/relay.log" 2>&1 &
            ;;
        siem-relay)
            fill bench/siem-relay.toml.in "$dir" "$sock" "$addr" 1 "$dir/siem-relay.toml"
            SIEM_RELAY_LOG=warn "$RELAY_BIN" run --config "$dir/siem-relay.toml" >"$dir/relay.log" 2>&1 &
            ;;
        rsyslog-w1 | rsyslog-w2)
            fill bench/rsyslog.conf.in "$dir" "$sock" "$addr" "${relay#rsyslog-w}" "$dir/rsyslog.conf"
            /usr/sbin/rsyslogd -n -f "$dir/rsyslog.conf" -i "$dir/rsyslogd.pid" >"$dir/relay.log" 2>&1 &
            ;;
        syslog-ng)
            fill bench/syslog-ng.conf.in "$dir" "$sock" "$addr" 1 "$dir/syslog-ng.conf"
            LD_LIBRARY_PATH="$SNG_DIR/usr/lib/syslog-ng" "$SNG_DIR/usr/sbin/syslog-ng" -F --no-caps \
                -f "$dir/syslog-ng.conf" --persist-file "$dir/syslog-ng.persist" \
                --pidfile "$dir/syslog-ng.pid" --control "$dir/syslog-ng.ctl" \
                --module-path "$SNG_DIR/usr/lib/syslog-ng/3.38" >"$dir/relay.log" 2>&1 &
            ;;
    esac
    relay_pid=$!
}

samples_shown=" "

# Runs relay $1 in round $2 and appends its figures to the CSV.
run_one() {
    local relay="$1" round="$2"
    local dir="$tmp/$round-$relay"
    mkdir -p "$dir"
    local n="$EVENTS" input="$tmp/input.ndjson" framing=octet
    case "$relay" in
        rsyslog-* | syslog-ng) n="$PEER_EVENTS"; input="$tmp/input-peer.ndjson" ;;
    esac
    [ "$relay" = socat ] && framing=lf
    local sock="$dir/events.sock"

    "$BENCH" receive --tcp 127.0.0.1:0 --framing "$framing" --expect "$n" --timeout-s "$TIMEOUT_S" \
        --ready-file "$dir/ready" --sample-file "$dir/sample" --linger-until "$dir/release" \
        >"$dir/receive.json" 2>"$dir/receive.err" &
    local recv_pid=$!
    pids+=("$recv_pid")
    wait_for 10 test -s "$dir/ready" || die "$relay: the receiver did not start: $(cat "$dir/receive.err")"
    local addr
    addr="$(cat "$dir/ready")"

    local relay_pid
    start_relay "$relay" "$sock" "$addr" "$dir"
    pids+=("$relay_pid")
    wait_for 15 test -S "$sock" || die "$relay: no socket $sock after 15 s: $(tail -n 20 "$dir/relay.log")"

    "$BENCH" generate --input "$input" --events "$n" --socket "$sock" --hold-until "$dir/release" \
        --drain-timeout-s 10 >"$dir/generate.json" 2>"$dir/generate.err" &
    local gen_pid=$!
    pids+=("$gen_pid")

    # The receiver prints its figures when it has all N frames (or gives up after TIMEOUT_S
    # without progress), then keeps its connections open until released: the relay is
    # measured while it still runs (socat would exit as soon as its output closes).
    until [ -s "$dir/receive.json" ] || gone "$recv_pid"; do sleep 0.01; done
    local ticks rss_kib
    ticks="$(cpu_ticks "$relay_pid" || echo "")"
    rss_kib="$(peak_rss_kib "$relay_pid" || echo "")"
    touch "$dir/release"
    local recv_rc=0
    wait "$recv_pid" || recv_rc=$?
    # A relay that stalled may leave the feeder blocked in a write: stop it after a while.
    wait_for 20 gone "$gen_pid" || kill -TERM "$gen_pid" 2>/dev/null || true
    local gen_rc=0
    wait "$gen_pid" || gen_rc=$?
    stop "$relay_pid"
    pids=()

    [ "$recv_rc" = 0 ] || log "$relay round $round: receiver incomplete (status $recv_rc): $(cat "$dir/receive.json")"
    [ "$gen_rc" = 0 ] || log "$relay round $round: feeder failed (status $gen_rc): $(cat "$dir/generate.err")"
    [ -s "$dir/generate.json" ] || die "$relay: the feeder printed no summary: $(cat "$dir/generate.err")"
    [ -s "$dir/receive.json" ] || die "$relay: the receiver printed no summary: $(cat "$dir/receive.err")"
    [ -n "$ticks" ] || log "$relay round $round: the relay exited before it could be measured: $(tail -n 5 "$dir/relay.log")"

    local received started last bytes malformed p50 p99
    received="$(jget "$dir/receive.json" frames)"
    malformed="$(jget "$dir/receive.json" malformed)"
    last="$(jget "$dir/receive.json" last_frame_at)"
    p50="$(jget "$dir/receive.json" latency_p50_us)"
    p99="$(jget "$dir/receive.json" latency_p99_us)"
    started="$(jget "$dir/generate.json" started_at)"
    bytes="$(jget "$dir/generate.json" bytes)"
    awk -v round="$round" -v relay="$relay" -v n="$n" -v received="$received" -v malformed="$malformed" \
        -v started="$started" -v last="$last" -v bytes="$bytes" -v ticks="$ticks" -v tck="$CLK_TCK" \
        -v rss="$rss_kib" -v p50="$p50" -v p99="$p99" 'BEGIN {
            secs = (last != "" && started != "") ? (last - started) / 1e9 : 0
            eps = secs > 0 ? received / secs : 0
            mbs = secs > 0 ? bytes / 1e6 / secs : 0
            cpu = ticks != "" ? ticks / tck : ""
            cpum = (ticks != "" && received > 0) ? cpu / (received / 1e6) : ""
            rssm = rss != "" ? rss / 1024 : ""
            printf "%s,%s,%d,%d,%d,%d,%.3f,%.0f,%.2f,%s,%s,%s,%s,%s\n", round, relay, n, received,
                n - received, malformed, secs, eps, mbs, cpu, cpum, rssm,
                p50 != "" ? p50 / 1000 : "", p99 != "" ? p99 / 1000 : ""
        }' >>"$csv"
    log "round $round $(tail -n 1 "$csv" | awk -F, '{ printf "%-10s %7d events  %9.0f events/s  %6.1f MB/s  cpu %6.2f s/M  rss %6.1f MiB  lost %d", $2, $4, $8, $9, $11, $12, $5 }')"

    if [ "$VERBOSE" = 1 ]; then
        log "  feeder:   $(cat "$dir/generate.json")"
        log "  receiver: $(cat "$dir/receive.json")"
        if [[ "$samples_shown" != *" $relay "* ]]; then
            samples_shown+="$relay "
            log "  sample frame from $relay:"
            LC_ALL=C cat -v "$dir/sample" >&2
            echo >&2
        fi
    fi
    rm -f "$sock"
}

# ------------------------------------------------------------------- runs ---
log "runs: $RUNS rounds of: ${relays[*]} ($EVENTS events; $PEER_EVENTS for rsyslog and syslog-ng)"
log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work skews the figures)"
for round in $(seq 1 "$RUNS"); do
    for relay in "${relays[@]}"; do
        run_one "$relay" "$round"
    done
done

# ------------------------------------------------------------------ table ---
python3 - "$csv" <<'PY'
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1])))
order = []
for r in rows:
    if r["relay"] not in order:
        order.append(r["relay"])

def values(relay, key):
    out = []
    for r in rows:
        if r["relay"] == relay and r[key] not in ("", None):
            out.append(float(r[key]))
    return out

def cell(relay, key, fmt):
    v = values(relay, key)
    if not v:
        return "-"
    med = statistics.median(v)
    if len(v) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(v))}-{fmt.format(max(v))})"

def med(relay, key):
    v = values(relay, key)
    return statistics.median(v) if v else None

cols = [
    ("events/s", "events_per_s", "{:,.0f}"),
    ("MB/s", "MB_per_s", "{:.1f}"),
    ("CPU s/M events", "cpu_s_per_M", "{:.2f}"),
    ("peak RSS MiB", "peak_rss_MiB", "{:.0f}"),
]
def fmt_opt(v, fmt):
    return "-" if v is None else fmt.format(v)
table = [["relay", "events"] + [c[0] for c in cols] + ["p50/p99 ms", "lost"]]
for relay in order:
    latency = f"{fmt_opt(med(relay, 'lat_p50_ms'), '{:.0f}')}/{fmt_opt(med(relay, 'lat_p99_ms'), '{:.0f}')}"
    table.append(
        [relay, fmt_opt(med(relay, "events"), "{:.0f}")]
        + [cell(relay, key, fmt) for _, key, fmt in cols]
        + [latency, f"{sum(values(relay, 'lost')):.0f}"]
    )
widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
runs = max(len(values(r, "events_per_s")) for r in order)
print()
print(f"median (min-max) over {runs} run(s); events/s = received / (last frame received - first byte written);")
print("latency: medians of each run's p50/p99; lost: total over all runs")
for i, row in enumerate(table):
    print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
    if i == 0:
        print("  ".join("-" * w for w in widths))

peers = [r for r in order if r.startswith("rsyslog") or r == "syslog-ng"]
ours = med("siem-relay", "events_per_s")
if ours:
    print()
    if peers:
        best = max(peers, key=lambda r: med(r, "events_per_s") or 0)
        b = med(best, "events_per_s")
        line = f"siem-relay vs the faster peer ({best}): {ours / b:.2f}x events/s"
        oc, bc = med("siem-relay", "cpu_s_per_M"), med(best, "cpu_s_per_M")
        if oc and bc:
            line += f", {oc / bc:.2f}x CPU per event"
        print(line)
    if med("socat", "events_per_s"):
        s = med("socat", "events_per_s")
        line = f"siem-relay vs socat (no parsing, physical baseline): {ours / s:.2f}x events/s"
        oc, sc = med("siem-relay", "cpu_s_per_M"), med("socat", "cpu_s_per_M")
        if oc and sc:
            line += f", {oc / sc:.2f}x CPU per event"
        print(line)
lost = [r for r in rows if int(r["lost"]) > 0 or int(r["malformed"]) > 0]
for r in lost:
    print(f"WARNING: {r['relay']} round {r['round']}: {r['lost']} lost, {r['malformed']} malformed")
PY
log "raw figures: $csv"
log "total time: $(( $(date +%s) - started_all )) s"
