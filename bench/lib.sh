# Shell helpers shared by bench/compare.sh and bench/fanout.sh (sourced, not run).

LOG_PREFIX="${LOG_PREFIX:-bench}"
log() { printf '%s: %s\n' "$LOG_PREFIX" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }

# Value of a top-level key in a one-line JSON summary ("" when absent or null).
jget() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

# Waits up to $2 seconds for a condition command ($3...) to succeed.
wait_for() {
    local limit="$1"; shift
    local deadline=$(( $(date +%s%N) + limit * 1000000000 ))
    until "$@"; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.02
    done
}

# utime + stime (clock ticks) of a process, all its threads.
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $stat
    echo $(( ${12} + ${13} ))
}
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# Whether a process runs (a zombie, exited but not waited for, does not).
alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != Z ]
}
gone() { ! alive "$1"; }

# Stops a process: TERM, up to 10 s, then KILL.
stop() {
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || return 0
    wait_for 10 gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Makes the temporary directory $tmp (kept with KEEP=1) and a cleanup on exit that stops
# every process whose pid is in the array $pids.
bench_tmpdir() {
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/siem-relay-bench.XXXXXX")"
    pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}

# Builds the release binaries unless NO_BUILD=1, and sets RELAY_BIN and BENCH.
build_binaries() {
    if [ "${NO_BUILD:-0}" != 1 ]; then
        log "building release binaries (siem-relay, siem-relay-bench)"
        cargo build --release --bin siem-relay --bin siem-relay-bench
    fi
    # Where cargo put them: CARGO_TARGET_DIR (relative to the repository) when set.
    local target="${CARGO_TARGET_DIR:-target}"
    [[ "$target" = /* ]] || target="$repo/$target"
    RELAY_BIN="$target/release/siem-relay"
    BENCH="$target/release/siem-relay-bench"
    [ -x "$RELAY_BIN" ] && [ -x "$BENCH" ] || die "release binaries missing (build without NO_BUILD=1)"
}
