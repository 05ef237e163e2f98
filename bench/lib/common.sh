# shellcheck shell=bash
# Shared helpers for the bench/ scripts: logging, the peer state directory and its ssh settings,
# size parsing and timing. Sourced, never run.
# shellcheck disable=SC2034 # the settings below are read by the scripts that source this file

# Where setup-peers.sh keeps the loopback sshd: config, keys, pid file, log.
BENCH_STATE_DIR="${JETSTREAM_BENCH_STATE:-${TMPDIR:-/tmp}/jetstream-bench-peers}"
# High loopback port of the benchmark sshd.
BENCH_SSH_PORT="${JETSTREAM_BENCH_SSH_PORT:-22022}"
# Host alias that $BENCH_SSH_CONFIG resolves to the loopback sshd.
BENCH_SSH_HOST="jetstream-bench"
# Client configuration written by setup-peers.sh: use as `ssh -F "$BENCH_SSH_CONFIG" "$BENCH_SSH_HOST"`.
BENCH_SSH_CONFIG="$BENCH_STATE_DIR/ssh_config"
BENCH_SSHD="/usr/sbin/sshd"
BENCH_GNU_TIME="/usr/bin/time"

# log MESSAGE...: progress on stderr, so stdout stays for results.
log() {
    printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# die MESSAGE...: fail loudly.
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# require_cmd CMD...: fail unless every command exists.
require_cmd() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found: run bench/setup-peers.sh first"
    done
}

# parse_size SIZE: bytes for 4G, 64K, 512M, 1T (binary units) or a plain number.
parse_size() {
    local bytes
    bytes=$(numfmt --from=iec "$1" 2>/dev/null) || die "bad size '$1' (use e.g. 4G, 64K, 1048576)"
    [[ "$bytes" =~ ^[0-9]+$ && "$bytes" -gt 0 ]] || die "bad size '$1'"
    printf '%s\n' "$bytes"
}

# now_seconds: wall clock with nanoseconds, for measuring durations.
now_seconds() {
    date +%s.%N
}

# elapsed START END: END - START in seconds.
elapsed() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f\n", b - a }'
}

# sshd_pid: pid of the running benchmark sshd (checked against its command line, so a reused pid
# is never mistaken for it), or nothing.
sshd_pid() {
    local pid
    [[ -s "$BENCH_STATE_DIR/sshd.pid" ]] || return 0
    pid=$(<"$BENCH_STATE_DIR/sshd.pid")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$BENCH_STATE_DIR/sshd_config"; then
        printf '%s\n' "$pid"
    fi
}

# median VALUES...: the median of the numbers.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# our_rate ARGS...: our rate (Gbit/s) from one `throughput.sh --tools ours --runs 1 ARGS...`
# (every copy is checked by SHA-256 there).
our_rate() {
    local summary
    summary=$(bash "$BENCH_DIR/throughput.sh" --tools ours --runs 1 "$@" | sed -n 's/^summary: //p')
    [[ -f "$summary" ]] || die "throughput.sh wrote no summary for: $*"
    jq -r '.tools.ours.median_gbps' "$summary"
}

# start_receiver TIME_FILE OUT_FILE ARGS...: `$JETSTREAM receive --listen 127.0.0.1:0 --once ARGS`
# in the background under GNU time (its CPU seconds into TIME_FILE, its stdout into OUT_FILE and
# its stderr into OUT_FILE.err); sets RECV_PID, and RECV_ADDR and RECV_KEY once it listens.
start_receiver() {
    local time_file=$1 out=$2
    shift 2
    "$BENCH_GNU_TIME" -f '%U %S' -o "$time_file" \
        "$JETSTREAM" receive --listen 127.0.0.1:0 --once "$@" >"$out" 2>"$out.err" &
    RECV_PID=$! RECV_ADDR="" RECV_KEY=""
    for _ in $(seq 100); do
        RECV_ADDR=$(sed -n 's/^listening //p' "$out" 2>/dev/null || true)
        RECV_KEY=$(sed -n 's/^public-key //p' "$out" 2>/dev/null || true)
        [[ -n "$RECV_ADDR" && -n "$RECV_KEY" ]] && return
        sleep 0.05
    done
    die "the receiver did not start: $(cat "$out.err")"
}
