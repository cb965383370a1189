#!/usr/bin/env bash
# siem-relay on its own: fan-out to several sinks, and overload with drop policies.
#
# MODE=fanout (default): the same seeded input (EVENTS, default 200000) through siem-relay
#   with one sink (rfc5424 over TCP, octet counting, as in compare.sh) and with four sinks at
#   once, each to its own receiver:
#     syslog  rfc5424 over TCP (octet counting)        -> siem-relay-bench receive --tcp
#     cef     CEF over TLS (a throw-away CA, openssl)   -> siem-relay-bench receive --tls
#     hook    JSON webhook over HTTP, batches of up to 500 (a JSON array per POST)
#                                                      -> siem-relay-bench receive --http
#     file    rfc5424 lines to a file                   -> lines counted
#   All queues block when full (nothing dropped), so the fan-out runs at the pace of the
#   slowest sink. events/s = N / (the last sink complete - first byte written). RUNS rounds
#   (default 3), one-sink and four-sink runs interleaved; medians and the ratio.
#
# MODE=overload: one rfc5424/TCP sink whose receiver drains only DRAIN_RATE events/s (default
#   5000), fed at 10 times that for OVERLOAD_S seconds (default 10), with a memory queue of
#   QUEUE_EVENTS (default 10000) and when_full = drop_oldest, then drop_newest. The daemon's
#   RSS is sampled every 0.5 s while it is fed and while it drains; prints the curves and the
#   delivered / dropped counts. A bounded queue should show a flat RSS once it is full.
#
# MODE=latency: one rfc5424/TCP sink fed at fixed rates (RATES, default "1000 10000 100000
#   220000": low rates, and about half of the full-speed rate on this machine), LATENCY_S
#   seconds each (default 5); prints end-to-end latency percentiles per rate, as the receiver
#   sees it: now - sent_ns, stamped by the feeder as it writes each line.
#
# MODE=webhooks: one webhook sink at a time, EVENTS events at full speed, memory queues that
#   block (nothing dropped): hec = splunk_hec with its default batching (100 events / 1 MiB /
#   1 s, concurrency 2); json = json, one event per request (the default, concurrency 4).
#   Prints events/s, requests/s and events per request.
#
# Usage: MODE=fanout|overload|latency|webhooks bench/fanout.sh; also EVENTS, RUNS, DRAIN_RATE,
# OVERLOAD_S, QUEUE_EVENTS, RATES, LATENCY_S, KEEP=1, NO_BUILD=1, SEED. Needs cargo, python3,
# openssl.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
LOG_PREFIX=fanout

MODE="${MODE:-fanout}"
EVENTS="${EVENTS:-200000}"
RUNS="${RUNS:-3}"
DRAIN_RATE="${DRAIN_RATE:-5000}"
OVERLOAD_S="${OVERLOAD_S:-10}"
QUEUE_EVENTS="${QUEUE_EVENTS:-10000}"
KEEP="${KEEP:-0}"
NO_BUILD="${NO_BUILD:-0}"
SEED="${SEED:-1}"
TIMEOUT_S="${TIMEOUT_S:-30}"
RATES="${RATES:-1000 10000 100000 220000}"
LATENCY_S="${LATENCY_S:-5}"

case "${1:-}" in
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
for v in EVENTS RUNS DRAIN_RATE OVERLOAD_S QUEUE_EVENTS; do
    is_count "${!v}" || die "$v must be a positive integer"
done
case "$MODE" in fanout | overload | latency | webhooks) ;; *) die "MODE must be fanout, overload, latency or webhooks" ;; esac
command -v python3 >/dev/null || die "python3 is needed"
started_all="$(date +%s)"

build_binaries

bench_tmpdir
log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work skews the figures)"

# Starts a receiver in $1 named $2 with its listen arguments; sets rx_pid and rx_addr.
start_receiver() {
    local dir="$1" name="$2"; shift 2
    "$BENCH" receive "$@" --timeout-s "$TIMEOUT_S" --ready-file "$dir/$name.ready" \
        >"$dir/$name.json" 2>"$dir/$name.err" &
    rx_pid=$!
    pids+=("$rx_pid")
    wait_for 10 test -s "$dir/$name.ready" || die "receiver $name did not start: $(cat "$dir/$name.err")"
    rx_addr="$(cat "$dir/$name.ready")"
}

# Starts the daemon on config $1 (socket $2); sets relay_pid.
start_daemon() {
    SIEM_RELAY_LOG=warn "$RELAY_BIN" run --config "$1" >"${1%.toml}.log" 2>&1 &
    relay_pid=$!
    pids+=("$relay_pid")
    wait_for 15 test -S "$2" || die "siem-relay did not start: $(tail -n 20 "${1%.toml}.log")"
}

config_head() { # dir socket
    printf 'hostname = "bench"\nshutdown_timeout_ms = 2000\ndata_dir = "%s/data"\n' "$1"
    printf '[input]\nsocket = "%s"\n[control]\nsocket = "%s/control.sock"\n' "$2" "$1"
    printf '[egress]\nallow = ["127.0.0.0/8"]\n'
}

# ------------------------------------------------------------------ fanout ---
fanout_run() { # round sinks(1|4)
    local round="$1" sinks="$2"
    local dir="$tmp/$round-$sinks"
    mkdir -p "$dir"
    local sock="$dir/events.sock" config="$dir/siem-relay.toml"
    local names=(syslog)
    config_head "$dir" "$sock" >"$config"
    start_receiver "$dir" syslog --tcp 127.0.0.1:0 --expect "$EVENTS"
    printf '[sinks.syslog]\nformat = "rfc5424"\nurl = "tcp://%s"\nsd_fields = ["sent_ns"]\n' "$rx_addr" >>"$config"
    if [ "$sinks" = 4 ]; then
        names+=(cef hook)
        start_receiver "$dir" cef --tls 127.0.0.1:0 --cert "$tmp/tls/leaf.pem" --key "$tmp/tls/leaf.key" \
            --expect "$EVENTS"
        printf '[sinks.cef]\nformat = "cef"\nurl = "tls://%s"\ntls = { ca_file = "%s" }\nmapping = { sentNs = "sent_ns" }\n' \
            "$rx_addr" "$tmp/tls/ca.pem" >>"$config"
        start_receiver "$dir" hook --http 127.0.0.1:0 --expect "$EVENTS"
        printf '[sinks.hook]\nformat = "json"\nurl = "http://%s/hook"\nbatch = { max_events = 500, max_linger_ms = 20 }\n' "$rx_addr" >>"$config"
        printf '[sinks.file]\nformat = "rfc5424"\nurl = "file://%s/out.log"\nsd_fields = ["sent_ns"]\n' "$dir" >>"$config"
    fi
    start_daemon "$config" "$sock"
    "$BENCH" generate --input "$tmp/input.ndjson" --socket "$sock" --drain-timeout-s 10 \
        >"$dir/generate.json" 2>"$dir/generate.err" || die "feeder failed: $(cat "$dir/generate.err")"
    local name done_ns=0 last
    for name in "${names[@]}"; do
        until [ -s "$dir/$name.json" ]; do sleep 0.02; done
        last="$(jget "$dir/$name.json" last_frame_at)"
        [ "$(jget "$dir/$name.json" complete)" = True ] || log "round $round: $name incomplete: $(cat "$dir/$name.json")"
        [ -n "$last" ] && [ "$last" -gt "$done_ns" ] && done_ns="$last"
    done
    if [ "$sinks" = 4 ]; then
        local deadline=$(( $(date +%s) + TIMEOUT_S ))
        until [ "$(wc -l <"$dir/out.log" 2>/dev/null || echo 0)" -ge "$EVENTS" ]; do
            [ "$(date +%s)" -lt "$deadline" ] || { log "round $round: file sink incomplete"; break; }
            sleep 0.02
        done
        # Complete when last written: the file's modification time.
        local file_ns
        file_ns="$(stat -c %.9Y "$dir/out.log" | tr -d .)"
        [ "$file_ns" -gt "$done_ns" ] && done_ns="$file_ns"
    fi
    local ticks rss started
    ticks="$(cpu_ticks "$relay_pid" || echo 0)"
    rss="$(peak_rss_kib "$relay_pid" || echo 0)"
    started="$(jget "$dir/generate.json" started_at)"
    stop "$relay_pid"
    for name in "${names[@]}"; do
        awk -v r="$round" -v s="$sinks" -v n="$name" -v f="$(jget "$dir/$name.json" frames)" \
            -v fps="$(jget "$dir/$name.json" frames_per_s)" -v p50="$(jget "$dir/$name.json" latency_p50_us)" \
            -v p99="$(jget "$dir/$name.json" latency_p99_us)" \
            'BEGIN { printf "%s,%s,%s,%s,%.0f,%.1f,%.1f\n", r, s, n, f, fps, p50 / 1000, p99 / 1000 }' >>"$tmp/sinks.csv"
    done
    awk -v r="$round" -v s="$sinks" -v n="$EVENTS" -v st="$started" -v d="$done_ns" -v t="$ticks" \
        -v tck="$(getconf CLK_TCK)" -v rss="$rss" 'BEGIN {
            secs = (d - st) / 1e9
            printf "%s,%s,%.3f,%.0f,%.2f,%.1f\n", r, s, secs, n / secs, t / tck / (n / 1e6), rss / 1024
        }' >>"$tmp/fanout.csv"
    log "round $round, $sinks sink(s): $(tail -n 1 "$tmp/fanout.csv" | awk -F, '{ printf "%.0f events/s, %.2f CPU s/M events, peak RSS %.0f MiB", $4, $5, $6 }')"
    pids=()
}

fanout() {
    mkdir -p "$tmp/tls"
    (
        cd "$tmp/tls"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
            -days 2 -subj "/CN=siem-relay-bench CA" >/dev/null 2>&1
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
            -subj "/CN=127.0.0.1" >/dev/null 2>&1
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >leaf.ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext \
            -out leaf.pem >/dev/null 2>&1
    ) || die "openssl could not make the test certificates"
    log "generating $EVENTS events (seed $SEED)"
    "$BENCH" generate --output "$tmp/input.ndjson" --events "$EVENTS" --seed "$SEED" >/dev/null
    echo "round,sinks,seconds,events_per_s,cpu_s_per_M,peak_rss_MiB" >"$tmp/fanout.csv"
    echo "round,sinks,sink,frames,frames_per_s,p50_ms,p99_ms" >"$tmp/sinks.csv"
    for round in $(seq 1 "$RUNS"); do
        fanout_run "$round" 1
        fanout_run "$round" 4
    done
    mkdir -p bench/results
    local stamp
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    cp "$tmp/fanout.csv" "bench/results/fanout-$stamp.csv"
    cp "$tmp/sinks.csv" "bench/results/fanout-sinks-$stamp.csv"
    python3 - "$tmp/fanout.csv" "$tmp/sinks.csv" <<'PY'
import csv, statistics, sys
runs = list(csv.DictReader(open(sys.argv[1])))
sinks = list(csv.DictReader(open(sys.argv[2])))
def stat(rows, key):
    v = [float(r[key]) for r in rows]
    m = statistics.median(v)
    return m, min(v), max(v)
print()
print(f"siem-relay fan-out, median (min-max) over {len({r['round'] for r in runs})} round(s)")
print(f"{'sinks':<6}{'events/s':>28}{'CPU s/M events':>24}{'peak RSS MiB':>16}")
med = {}
for n in ("1", "4"):
    rows = [r for r in runs if r["sinks"] == n]
    e, c, m = stat(rows, "events_per_s"), stat(rows, "cpu_s_per_M"), stat(rows, "peak_rss_MiB")
    med[n] = e[0]
    print(f"{n:<6}{f'{e[0]:,.0f} ({e[1]:,.0f}-{e[2]:,.0f})':>28}{f'{c[0]:.2f} ({c[1]:.2f}-{c[2]:.2f})':>24}{f'{m[0]:.0f}':>16}")
print(f"4 sinks / 1 sink: {med['4'] / med['1']:.2f}x events/s (per sink delivery: {4 * med['4'] / med['1']:.2f}x)")
print()
print("per sink with 4 sinks (medians): receiver frames/s from its first to its last frame, latency")
for name in ("syslog", "cef", "hook"):
    rows = [r for r in sinks if r["sinks"] == "4" and r["sink"] == name]
    if rows:
        print(f"  {name:<7} {statistics.median(float(r['frames_per_s']) for r in rows):>10,.0f} frames/s"
              f"  p50 {statistics.median(float(r['p50_ms']) for r in rows):.0f} ms"
              f"  p99 {statistics.median(float(r['p99_ms']) for r in rows):.0f} ms")
print("  file     (lines counted, no latency)")
PY
}

# ---------------------------------------------------------------- overload ---
overload_run() { # policy
    local policy="$1"
    local dir="$tmp/overload-$policy"
    mkdir -p "$dir"
    local sock="$dir/events.sock" config="$dir/siem-relay.toml"
    local rate=$(( DRAIN_RATE * 10 )) n=$(( DRAIN_RATE * 10 * OVERLOAD_S ))
    start_receiver "$dir" rx --tcp 127.0.0.1:0 --expect "$n" --max-rate "$DRAIN_RATE"
    config_head "$dir" "$sock" >"$config"
    printf '[sinks.slow]\nformat = "rfc5424"\nurl = "tcp://%s"\nsd_fields = ["sent_ns"]\nqueue = { kind = "memory", max_events = %s, when_full = "%s" }\n' \
        "$rx_addr" "$QUEUE_EVENTS" "$policy" >>"$config"
    start_daemon "$config" "$sock"
    "$BENCH" generate --socket "$sock" --events "$n" --rate "$rate" --seed "$SEED" --drain-timeout-s 5 \
        >"$dir/generate.json" 2>"$dir/generate.err" &
    local gen_pid=$!
    pids+=("$gen_pid")
    local t0 now rss feeding=1 until_ns=0
    t0="$(date +%s%N)"
    echo "t_s,rss_MiB,feeding" >"$dir/rss.csv"
    # Sample while it is fed, then while the queue drains (QUEUE_EVENTS / DRAIN_RATE) + 2 s.
    while :; do
        now="$(date +%s%N)"
        rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$relay_pid/status" 2>/dev/null || echo 0)"
        if [ "$feeding" = 1 ] && gone "$gen_pid"; then
            feeding=0
            until_ns=$(( now + (QUEUE_EVENTS / DRAIN_RATE + 2) * 1000000000 ))
        fi
        awk -v t="$(( (now - t0) / 1000000 ))" -v r="$rss" -v f="$feeding" \
            'BEGIN { printf "%.1f,%.1f,%s\n", t / 1000, r / 1024, f }' >>"$dir/rss.csv"
        [ "$feeding" = 0 ] && [ "$now" -ge "$until_ns" ] && break
        sleep 0.5
    done
    wait "$gen_pid" || log "$policy: feeder: $(tail -n 2 "$dir/generate.err")"
    "$RELAY_BIN" ctl --control-socket "$dir/control.sock" --json status slow >"$dir/status.json" 2>"$dir/status.err" || true
    stop "$relay_pid"
    kill -TERM "$rx_pid" 2>/dev/null || true
    wait "$rx_pid" 2>/dev/null || true
    pids=()
}

overload() {
    log "overload: drain $DRAIN_RATE events/s, fed at $(( DRAIN_RATE * 10 )) events/s for $OVERLOAD_S s, queue $QUEUE_EVENTS events"
    local policy
    for policy in drop_oldest drop_newest; do
        log "running when_full = $policy"
        overload_run "$policy"
    done
    python3 - "$tmp" <<'PY'
import csv, json, os, sys
tmp = sys.argv[1]
curves = {}
for policy in ("drop_oldest", "drop_newest"):
    d = os.path.join(tmp, f"overload-{policy}")
    curves[policy] = list(csv.DictReader(open(os.path.join(d, "rss.csv"))))
    gen = json.load(open(os.path.join(d, "generate.json")))
    try:
        status = json.load(open(os.path.join(d, "status.json")))
    except (OSError, ValueError):
        status = {}
    counters = status.get("counters", status)
    def find(obj, key):
        if isinstance(obj, dict):
            if key in obj:
                return obj[key]
            for v in obj.values():
                r = find(v, key)
                if r is not None:
                    return r
        return None
    print(f"{policy}: sent {gen['events']} at {gen['events_per_s']:,.0f}/s, delivered {find(status, 'delivered')}, "
          f"dropped_oldest {find(status, 'dropped_oldest')}, dropped_newest {find(status, 'dropped_newest')}")
print()
print("RSS (MiB) every 0.5 s; * = still being fed")
n = max(len(c) for c in curves.values())
print(f"{'t (s)':>6}  {'drop_oldest':>12}  {'drop_newest':>12}")
for i in range(n):
    cells = []
    t = ""
    for policy in ("drop_oldest", "drop_newest"):
        c = curves[policy]
        if i < len(c):
            t = t or c[i]["t_s"]
            cells.append(f"{c[i]['rss_MiB']}{'*' if c[i]['feeding'] == '1' else ' '}")
        else:
            cells.append("")
    print(f"{t:>6}  {cells[0]:>12}  {cells[1]:>12}")
PY
}

# ----------------------------------------------------------------- latency ---
latency() {
    local rate dir sock config
    printf '\nend-to-end latency, one rfc5424/TCP sink, %s s per rate\n' "$LATENCY_S"
    printf '%10s %10s %9s %9s %9s %9s %6s\n' "rate/s" "events" "p50 ms" "p90 ms" "p99 ms" "max ms" "lost"
    for rate in $RATES; do
        is_count "$rate" || die "RATES must be positive integers"
        local n=$(( rate * LATENCY_S ))
        dir="$tmp/latency-$rate"
        mkdir -p "$dir"
        sock="$dir/events.sock"
        config="$dir/siem-relay.toml"
        config_head "$dir" "$sock" >"$config"
        start_receiver "$dir" syslog --tcp 127.0.0.1:0 --expect "$n"
        printf '[sinks.syslog]\nformat = "rfc5424"\nurl = "tcp://%s"\nsd_fields = ["sent_ns"]\n' "$rx_addr" >>"$config"
        start_daemon "$config" "$sock"
        "$BENCH" generate --socket "$sock" --events "$n" --rate "$rate" --seed "$SEED" --drain-timeout-s 10 \
            >"$dir/generate.json" 2>"$dir/generate.err" || die "feeder failed: $(cat "$dir/generate.err")"
        until [ -s "$dir/syslog.json" ]; do sleep 0.02; done
        stop "$relay_pid"
        python3 - "$dir/syslog.json" "$rate" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ms = lambda key: (r.get(key) or 0) / 1000
n = int(sys.argv[3])
print(f"{int(sys.argv[2]):>10,} {n:>10,} {ms('latency_p50_us'):>9.2f} {ms('latency_p90_us'):>9.2f} "
      f"{ms('latency_p99_us'):>9.2f} {ms('latency_max_us'):>9.2f} {n - r.get('frames', 0):>6}")
PY
    done
}

# ---------------------------------------------------------------- webhooks ---
webhooks() {
    local kind dir sock config round
    head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/hec.token"
    log "generating $EVENTS events (seed $SEED)"
    "$BENCH" generate --output "$tmp/input.ndjson" --events "$EVENTS" --seed "$SEED" >/dev/null
    : >"$tmp/webhooks.csv"
    for round in $(seq 1 "$RUNS"); do
        for kind in hec json; do
            dir="$tmp/$round-$kind"
            mkdir -p "$dir"
            sock="$dir/events.sock"
            config="$dir/siem-relay.toml"
            config_head "$dir" "$sock" >"$config"
            start_receiver "$dir" hook --http 127.0.0.1:0 --expect "$EVENTS"
            if [ "$kind" = hec ]; then
                printf '[sinks.hook]\nformat = "splunk_hec"\nurl = "http://%s/services/collector/event"\ntoken_file = "%s"\n' \
                    "$rx_addr" "$tmp/hec.token" >>"$config"
            else
                printf '[sinks.hook]\nformat = "json"\nurl = "http://%s/hook"\n' "$rx_addr" >>"$config"
            fi
            start_daemon "$config" "$sock"
            "$BENCH" generate --input "$tmp/input.ndjson" --socket "$sock" --drain-timeout-s 120 \
                >"$dir/generate.json" 2>"$dir/generate.err" || die "feeder failed: $(cat "$dir/generate.err")"
            until [ -s "$dir/hook.json" ]; do sleep 0.02; done
            local started last frames requests
            started="$(jget "$dir/generate.json" started_at)"
            last="$(jget "$dir/hook.json" last_frame_at)"
            frames="$(jget "$dir/hook.json" frames)"
            requests="$(jget "$dir/hook.json" requests)"
            stop "$relay_pid"
            printf '%s,%s,%s,%s,%s,%s\n' "$round" "$kind" "$frames" "${requests:-0}" "$started" "$last" >>"$tmp/webhooks.csv"
            log "round $round, $kind: $frames events in ${requests:-?} requests"
        done
    done
    printf '\nwebhooks, %s events at full speed, median (min-max) over %s round(s)\n' "$EVENTS" "$RUNS"
    python3 - "$tmp/webhooks.csv" <<'PY'
import csv, statistics, sys
rows = {}
for r, kind, frames, requests, started, last in csv.reader(open(sys.argv[1])):
    seconds = (int(last) - int(started)) / 1e9
    rows.setdefault(kind, []).append((int(frames) / seconds, int(requests) / seconds, int(frames) / max(int(requests), 1)))
def cell(values):
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"
print(f"{'sink':<6} {'events/s':>28} {'requests/s':>28} {'events/request':>15}")
for kind, runs in rows.items():
    print(f"{kind:<6} {cell([r[0] for r in runs]):>28} {cell([r[1] for r in runs]):>28} {statistics.median(r[2] for r in runs):>15.1f}")
PY
}

"$MODE"
log "total time: $(( $(date +%s) - started_all )) s"
