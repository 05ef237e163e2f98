#!/usr/bin/env bash
# Throughput of our transfer against its peers on the same data, in one run, over loopback.
#
#   bench/throughput.sh [--size 4G] [--cipher aes128] [--runs 3]
#   bench/throughput.sh --files 10000 --file-size 64K
#
# Per run it measures, in this order: ours (a `jetstream receive --once` on 127.0.0.1 and a
# `jetstream send`; the received data must hash to the source's or the script fails), `rsync -a`
# over the benchmark ssh, `scp` (SFTP mode) over the same ssh, and `iperf3` TCP on loopback. It
# prints each median rate and the ratios ours/rsync, ours/scp, ours/iperf3, the peak resident
# memory of our sender and receiver, the CPU time of each (user + system, median) with the rate
# it makes per busy core, and writes a JSON summary to bench/out/.
#
# Options:
#   --size SIZE          one file of SIZE bytes (binary units: 2G, 512M; default 4G)
#   --files N            N files in one directory instead of one file
#   --file-size SIZE     size of each of the --files (default 64K)
#   --cipher C           our cipher: none, auth, aes128 (default) or aes256
#   --mtu N              pass --mtu N to our sender (default: it probes what the path allows;
#                        1500 keeps every datagram within an Ethernet frame)
#   --ssh-cipher C       the peers' ssh cipher (default aes128-gcm@openssh.com,
#                        aes256-gcm@openssh.com with --cipher aes256; OpenSSH has no null cipher)
#   --runs N             measured runs (default 3); medians are reported
#   --tools LIST         comma-separated subset of ours,rsync,scp,iperf3 (default all)
#   --iperf-seconds N    length of each iperf3 run (default 5)
#   --work DIR           test data, and received copies unless --dst is given
#                        (default ${TMPDIR:-/tmp}/jetstream-bench-data)
#   --dst DIR            received copies of every tool go under DIR/dst (e.g. /dev/shm, a tmpfs,
#                        to measure the transfer rather than the disk; default the --work DIR)
#   --jetstream PATH     our binary (default target/release/jetstream)
#
# Needs the peers from bench/setup-peers.sh. Ours is skipped, with a message, while the binary
# is missing. Environment: JETSTREAM_BENCH_IPERF_PORT (default 5201) and those of setup-peers.sh.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

SIZE=4G
FILES=0
FILE_SIZE=64K
CIPHER=aes128
MTU=""
SSH_CIPHER=""
RUNS=3
TOOLS=ours,rsync,scp,iperf3
IPERF_SECONDS=5
IPERF_PORT="${JETSTREAM_BENCH_IPERF_PORT:-5201}"
WORK_DIR="${TMPDIR:-/tmp}/jetstream-bench-data"
DST_DIR=""
JETSTREAM="$REPO_DIR/target/release/jetstream"
OUT_DIR="$BENCH_DIR/out"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# value OPTION ARGS...: the argument that follows OPTION, or a usage error.
value() {
    (($# >= 2)) || die "$1 needs a value (see --help)"
    printf '%s\n' "$2"
}

while (($#)); do
    case "$1" in
    --size) SIZE=$(value "$@") ;;
    --files) FILES=$(value "$@") ;;
    --file-size) FILE_SIZE=$(value "$@") ;;
    --cipher) CIPHER=$(value "$@") ;;
    --mtu) MTU=$(value "$@") ;;
    --ssh-cipher) SSH_CIPHER=$(value "$@") ;;
    --runs) RUNS=$(value "$@") ;;
    --tools) TOOLS=$(value "$@") ;;
    --iperf-seconds) IPERF_SECONDS=$(value "$@") ;;
    --work) WORK_DIR=$(value "$@") ;;
    --dst) DST_DIR=$(value "$@") ;;
    --jetstream) JETSTREAM=$(value "$@") ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift 2
done

[[ "$CIPHER" =~ ^(none|auth|aes128|aes256)$ ]] || die "--cipher must be none, auth, aes128 or aes256"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ "$FILES" =~ ^[0-9]+$ ]] || die "--files must be a number"
[[ "$IPERF_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "--iperf-seconds must be a positive integer"
[[ "$WORK_DIR" != *[[:space:]]* ]] || die "--work must not contain spaces (it is a remote path for rsync and scp)"
[[ "$DST_DIR" != *[[:space:]]* ]] || die "--dst must not contain spaces (it is a remote path for rsync and scp)"
if [[ -z "$SSH_CIPHER" ]]; then
    if [[ "$CIPHER" == aes256 ]]; then SSH_CIPHER=aes256-gcm@openssh.com; else SSH_CIPHER=aes128-gcm@openssh.com; fi
fi
IFS=, read -r -a TOOL_LIST <<<"$TOOLS"
for tool in "${TOOL_LIST[@]}"; do
    [[ "$tool" =~ ^(ours|rsync|scp|iperf3)$ ]] || die "unknown tool '$tool' in --tools"
done

require_cmd openssl jq numfmt "$BENCH_GNU_TIME" rsync scp ssh iperf3 ss
WORK_DIR=$(mkdir -p "$WORK_DIR" && cd "$WORK_DIR" && pwd)
# Every tool's received copies (and the warm-up copy) live under $DEST_ROOT.
DEST_ROOT=$(mkdir -p "${DST_DIR:-$WORK_DIR}/dst" && cd "${DST_DIR:-$WORK_DIR}/dst" && pwd)
DEST_FS=$(df --output=fstype "$DEST_ROOT" | tail -n 1)

if ((FILES > 0)); then
    KIND="files"
    FILE_BYTES=$(parse_size "$FILE_SIZE")
    TOTAL_BYTES=$((FILES * FILE_BYTES))
    SRC="$WORK_DIR/src/files-${FILES}x${FILE_BYTES}"
else
    KIND="file"
    FILES=1
    TOTAL_BYTES=$(parse_size "$SIZE")
    FILE_BYTES=$TOTAL_BYTES
    SRC="$WORK_DIR/src/data-${TOTAL_BYTES}.bin"
fi
NAME=$(basename "$SRC")
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOG_DIR="$OUT_DIR/throughput-$STAMP"
RUNS_FILE="$LOG_DIR/runs.jsonl"
SUMMARY="$OUT_DIR/throughput-$STAMP.json"
mkdir -p "$LOG_DIR" "$WORK_DIR/src"
: >"$RUNS_FILE"
# Our receiver on loopback accepts this benchmark's sender alone, at the cipher it offers; both
# keys live in the work directory (the sender pins the receiver's key it prints). A build
# without `jetstream key` (bench/binaries.sh --before) accepts any sender without being asked.
RECV_OPTS=()
if [[ -x "$JETSTREAM" ]] && SENDER_KEY=$("$JETSTREAM" key --key-file "$WORK_DIR/sender.key" 2>/dev/null); then
    RECV_OPTS=(--min-cipher none --key-file "$WORK_DIR/receiver.key" --authorized-key "$SENDER_KEY")
fi

# Processes of the current measurement (our receiver under GNU time, the iperf3 server, the
# command being timed), ended on any exit; INT and TERM exit through the same path.
RECV_PID=""
IPERF_PID=""
FG_PID=""
cleanup() {
    local pid
    for pid in "$FG_PID" "$RECV_PID" "$IPERF_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            pkill -TERM -P "$pid" 2>/dev/null || true
            kill "$pid" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# foreground COMMAND...: run COMMAND and return its status, waiting in a way that a signal
# interrupts (so cleanup ends COMMAND instead of waiting for it).
foreground() {
    local status=0
    "$@" &
    FG_PID=$!
    wait "$FG_PID" || status=$?
    FG_PID=""
    return "$status"
}

# keystream N: N deterministic pseudo-random bytes at about 1 GB/s (/dev/urandom gives about a
# tenth of that). The producer dies of SIGPIPE when `head` has enough, so callers check the size
# they received.
keystream() {
    { openssl enc -aes-128-ctr -pass pass:x -nosalt -pbkdf2 -in /dev/zero 2>/dev/null || true; } | head -c "$1"
}

# make_source: the test file or directory, generated once and reused while complete.
make_source() {
    if [[ -e "$SRC" && -e "$SRC.complete" ]]; then
        log "reusing $SRC"
        return
    fi
    rm -rf -- "$SRC" "$SRC.part"
    log "generating $SRC ($FILES x $FILE_BYTES bytes)"
    if [[ "$KIND" == file ]]; then
        keystream "$TOTAL_BYTES" >"$SRC.part"
        [[ "$(stat -c %s "$SRC.part")" == "$TOTAL_BYTES" ]] || die "generated $SRC.part has the wrong size"
    else
        mkdir "$SRC.part"
        keystream "$TOTAL_BYTES" | split -b "$FILE_BYTES" -a "${#FILES}" -d - "$SRC.part/f"
        [[ "$(find "$SRC.part" -type f | wc -l)" == "$FILES" ]] || die "generated $SRC.part has the wrong file count"
    fi
    mv -- "$SRC.part" "$SRC"
    touch "$SRC.complete"
}

# digest PATH: SHA-256 of a file, or of a tree's sorted (relative name, SHA-256) list.
digest() {
    if [[ -d "$1" ]]; then
        (cd "$1" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r openssl dgst -sha256 -r) |
            openssl dgst -sha256 -r | cut -d' ' -f1
    else
        openssl dgst -sha256 -r "$1" | cut -d' ' -f1
    fi
}

# verify_copy TOOL PATH: fail loudly unless PATH holds exactly the source data; then delete it.
# One copy at a time: on a memory file system three 4 GiB copies beside the cached source left
# the kernel reclaiming memory (the source's pages among it) during the next tool's run.
verify_copy() {
    local got
    [[ -e "$2" ]] || die "$1 left nothing at $2"
    got=$(digest "$2")
    [[ "$got" == "$SRC_DIGEST" ]] ||
        die "$1 delivered different data: SHA-256 $got at $2, source $SRC_DIGEST"
    rm -rf -- "$2"
}

# fresh_dest TOOL: an empty receive directory for TOOL, with earlier writes already flushed.
fresh_dest() {
    local dest="$DEST_ROOT/$1"
    rm -rf -- "$dest"
    mkdir -p "$dest"
    sync
    printf '%s\n' "$dest"
}

# warm_up: page cache holds the source; guest memory for a received copy has been touched once.
warm_up() {
    log "warming the page cache"
    find "$SRC" -type f -print0 | xargs -0 cat >/dev/null
    cp -r -- "$SRC" "$DEST_ROOT/warm-up"
    rm -rf -- "$DEST_ROOT/warm-up"
    sync
}

# wait_exit PID SECONDS: wait for a background child; its exit status, or 124 after SECONDS.
wait_exit() {
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 124
        sleep 0.1
    done
    wait "$1"
}

# rate_gbps BYTES SECONDS
rate_gbps() {
    awk -v b="$1" -v s="$2" 'BEGIN { printf "%.6f\n", b * 8 / s / 1e9 }'
}

# record TOOL RUN SECONDS GBPS COMMAND [EXTRA_JSON]: one measured run, appended to $RUNS_FILE.
record() {
    jq -nc --arg tool "$1" --argjson run "$2" --argjson seconds "$3" --argjson gbps "$4" \
        --arg command "$5" --argjson extra "${6:-"{}"}" --arg loadavg "$(cut -d' ' -f1 /proc/loadavg)" \
        '{tool: $tool, run: $run, seconds: $seconds, gbps: $gbps,
          mbytes_per_s: ($gbps * 1000 / 8), loadavg_1min: ($loadavg | tonumber),
          command: $command} + $extra' >>"$RUNS_FILE"
    log "run $2/$RUNS $1: $(awk -v g="$4" -v s="$3" 'BEGIN {
        printf "%.0f MB/s (%.2f Gbit/s)%s", g * 125, g, (s == "null" ? "" : sprintf(" in %.2f s", s)) }')"
}

# quote ARGS...: a shell-quoted command line.
quote() {
    printf '%q ' "$@" | sed 's/ $//'
}

# timed_copy TOOL RUN DEST COMMAND...: run a peer's copy, time it, verify it, record it.
timed_copy() {
    local tool=$1 run=$2 dest=$3 start end seconds
    shift 3
    start=$(now_seconds)
    foreground "$@" >"$LOG_DIR/$tool-$run.out" 2>"$LOG_DIR/$tool-$run.err" ||
        die "$tool failed (run $run): $(tail -n 3 "$LOG_DIR/$tool-$run.err")"
    end=$(now_seconds)
    seconds=$(elapsed "$start" "$end")
    verify_copy "$tool" "$dest/$NAME"
    record "$tool" "$run" "$seconds" "$(rate_gbps "$TOTAL_BYTES" "$seconds")" "$(quote "$@")"
}

run_rsync() {
    local dest
    dest=$(fresh_dest rsync)
    timed_copy rsync "$1" "$dest" rsync -a -e "ssh -F $BENCH_SSH_CONFIG -c $SSH_CIPHER" \
        "$SRC" "$BENCH_SSH_HOST:$dest/"
}

run_scp() {
    local dest
    dest=$(fresh_dest scp)
    timed_copy scp "$1" "$dest" scp -q -r -F "$BENCH_SSH_CONFIG" -c "$SSH_CIPHER" \
        "$SRC" "$BENCH_SSH_HOST:$dest/"
}

run_iperf3() {
    local run=$1 prefix="$LOG_DIR/iperf3-$1" tries bps
    : >"$prefix.server"
    iperf3 -s -1 --forceflush -B 127.0.0.1 -p "$IPERF_PORT" >"$prefix.server" 2>&1 &
    IPERF_PID=$!
    for tries in $(seq 50); do
        grep -q 'Server listening' "$prefix.server" && break
        kill -0 "$IPERF_PID" 2>/dev/null || die "iperf3 server failed: $(cat "$prefix.server")"
        sleep 0.1
    done
    grep -q 'Server listening' "$prefix.server" || die "iperf3 server not listening after $tries tries"
    local -a cmd=(iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -t "$IPERF_SECONDS" -J)
    foreground "${cmd[@]}" >"$prefix.json" 2>"$prefix.err" || die "iperf3 client failed: $(cat "$prefix.err")"
    wait_exit "$IPERF_PID" 10 || die "iperf3 server did not finish cleanly: $(cat "$prefix.server")"
    IPERF_PID=""
    bps=$(jq -e '.end.sum_received.bits_per_second' "$prefix.json") ||
        die "no end.sum_received.bits_per_second in $prefix.json"
    record iperf3 "$run" null "$(awk -v b="$bps" 'BEGIN { printf "%.6f\n", b / 1e9 }')" "$(quote "${cmd[@]}")"
}

# start_receiver DEST PREFIX: our receiver in the background; sets RECV_ADDR and RECV_KEY from
# its first two stdout lines (`listening ADDR`, `public-key HEX`).
start_receiver() {
    local prefix=$2 tries head
    "$BENCH_GNU_TIME" -f '%M %U %S' -o "$prefix.recv.time" \
        "$JETSTREAM" receive --root "$1" --listen 127.0.0.1:0 --once ${RECV_OPTS[@]+"${RECV_OPTS[@]}"} >"$prefix.recv.out" 2>"$prefix.recv.err" &
    RECV_PID=$!
    RECV_ADDR="" RECV_KEY=""
    for tries in $(seq 100); do
        # The background shell may not have created the file yet.
        head=$(head -n 2 "$prefix.recv.out" 2>/dev/null || true)
        RECV_ADDR=$(sed -n '1s/^listening //p' <<<"$head")
        RECV_KEY=$(sed -n '2s/^public-key //p' <<<"$head")
        [[ -n "$RECV_ADDR" && -n "$RECV_KEY" ]] && break
        kill -0 "$RECV_PID" 2>/dev/null || die "our receiver exited early: $(cat "$prefix.recv.err")"
        sleep 0.1
    done
    [[ "$RECV_ADDR" =~ ^127\.0\.0\.1:[0-9]+$ ]] ||
        die "our receiver printed no 'listening 127.0.0.1:PORT' line after $tries tries: $(head -n 2 "$prefix.recv.out")"
    [[ "$RECV_KEY" =~ ^[0-9a-f]{64}$ ]] ||
        die "our receiver printed no 'public-key <64 hex>' second line: $(head -n 2 "$prefix.recv.out")"
}

run_ours() {
    local run=$1 prefix="$LOG_DIR/ours-$1" dest start end seconds status line
    # A JSON number, as the sender prints seconds and gbps.
    local num='(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?'
    dest=$(fresh_dest ours)
    start_receiver "$dest" "$prefix"
    local -a cmd=("$JETSTREAM" send "$SRC" --to "$RECV_ADDR" --cipher "$CIPHER"
        --destination-key "$RECV_KEY" --key-file "$WORK_DIR/sender.key" --no-progress ${MTU:+--mtu "$MTU"})
    start=$(now_seconds)
    foreground "$BENCH_GNU_TIME" -f '%M %U %S' -o "$prefix.send.time" "${cmd[@]}" >"$prefix.send.out" 2>"$prefix.send.err" ||
        die "our sender failed (run $run): $(tail -n 3 "$prefix.send.err")"
    end=$(now_seconds)
    status=0
    wait_exit "$RECV_PID" 60 || status=$?
    ((status == 0)) || die "our receiver exited with status $status (124: still running 60 s after the sender): $(tail -n 3 "$prefix.recv.err")"
    RECV_PID=""
    seconds=$(elapsed "$start" "$end")
    line=$(tail -n 1 "$prefix.send.out")
    [[ "$line" =~ ^complete\ files=([0-9]+)\ bytes=([0-9]+)\ seconds=($num)\ gbps=($num)$ ]] ||
        die "our sender's last line is not 'complete files=N bytes=N seconds=F gbps=F': $line"
    local files=${BASH_REMATCH[1]} bytes=${BASH_REMATCH[2]} reported_seconds=${BASH_REMATCH[3]} reported_gbps=${BASH_REMATCH[7]}
    [[ "$bytes" == "$TOTAL_BYTES" ]] || die "our sender reports bytes=$bytes, expected $TOTAL_BYTES"
    # The digest below is the check of what arrived; the count may include directory entries.
    [[ "$files" == "$FILES" ]] || log "note: our sender counts files=$files for $FILES regular files"
    verify_copy ours "$dest/$NAME"
    # GNU time's last line for each end: peak RSS in KiB, user and system CPU seconds.
    local send_rss send_user send_sys recv_rss recv_user recv_sys
    read -r send_rss send_user send_sys < <(tail -n 1 "$prefix.send.time")
    read -r recv_rss recv_user recv_sys < <(tail -n 1 "$prefix.recv.time")
    record ours "$run" "$seconds" "$(rate_gbps "$TOTAL_BYTES" "$seconds")" "$(quote "${cmd[@]}")" \
        "$(jq -nc --argjson rs "$reported_seconds" --argjson rg "$reported_gbps" --argjson rf "$files" \
            --argjson send "$send_rss" --argjson recv "$recv_rss" \
            --argjson send_cpu "$(awk -v u="$send_user" -v s="$send_sys" 'BEGIN { print u + s }')" \
            --argjson recv_cpu "$(awk -v u="$recv_user" -v s="$recv_sys" 'BEGIN { print u + s }')" \
            --arg recv_cmd "$(quote "$JETSTREAM" receive --root "$dest" --listen 127.0.0.1:0 --once ${RECV_OPTS[@]+"${RECV_OPTS[@]}"})" \
            '{reported_files: $rf, reported_seconds: $rs, reported_gbps: $rg, sender_max_rss_kib: $send,
              receiver_max_rss_kib: $recv, sender_cpu_seconds: $send_cpu,
              receiver_cpu_seconds: $recv_cpu, receiver_command: $recv_cmd}')"
}

# Preconditions: peers reachable, our binary present (or ours skipped).
SKIPPED="{}"
for tool in "${TOOL_LIST[@]}"; do
    case "$tool" in
    ours)
        if [[ ! -x "$JETSTREAM" ]]; then
            reason="$JETSTREAM not found: build it with 'cargo build --release -p jetstream-cli'"
            log "skipping ours: $reason"
            SKIPPED=$(jq -c --arg r "$reason" '. + {ours: $r}' <<<"$SKIPPED")
        fi
        ;;
    rsync | scp)
        ssh -F "$BENCH_SSH_CONFIG" -o ConnectTimeout=2 "$BENCH_SSH_HOST" true 2>/dev/null ||
            die "the benchmark sshd does not answer: run bench/setup-peers.sh first"
        ;;
    esac
done

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
make_source
log "hashing the source"
SRC_DIGEST=$(digest "$SRC")
warm_up

for run in $(seq "$RUNS"); do
    for tool in "${TOOL_LIST[@]}"; do
        if [[ "$tool" == ours ]] && jq -e 'has("ours")' <<<"$SKIPPED" >/dev/null; then continue; fi
        "run_$tool" "$run"
    done
done

rm -rf -- "$DEST_ROOT"

jq -s \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg kernel "$(uname -r)" \
    --arg cpu "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)" \
    --argjson cores "$(nproc)" \
    --arg loadavg_start "$LOADAVG_START" \
    --arg loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --arg ssh "$(ssh -V 2>&1)" \
    --arg rsync "$(rsync --version | head -n 1)" \
    --arg iperf3 "$(iperf3 --version | head -n 1)" \
    --arg kind "$KIND" --argjson files "$FILES" --argjson file_bytes "$FILE_BYTES" \
    --argjson bytes "$TOTAL_BYTES" --arg source "$SRC" --arg sha256 "$SRC_DIGEST" \
    --arg destination "$DEST_ROOT" --arg dest_fs "$DEST_FS" \
    --arg cipher "$CIPHER" --arg ssh_cipher "$SSH_CIPHER" --argjson runs "$RUNS" \
    --argjson skipped "$SKIPPED" --arg logs "$LOG_DIR" '
    def median: sort | if length == 0 then null
        elif length % 2 == 1 then .[(length - 1) / 2]
        else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    (group_by(.tool) | map({key: .[0].tool, value: {
        command: .[0].command,
        median_gbps: (map(.gbps) | median),
        median_mbytes_per_s: (map(.mbytes_per_s) | median),
        runs: map(del(.tool, .command))}}) | from_entries) as $measured
    | (["ours", "rsync", "scp", "iperf3"]
        | map(select($measured[.]) | {key: ., value: $measured[.]}) | from_entries) as $tools
    | ($tools.ours.median_gbps) as $ours
    | {
        benchmark: "throughput", date: $date, logs: $logs,
        host: {kernel: $kernel, cpu: $cpu, cores: $cores,
               loadavg_start: $loadavg_start, loadavg_end: $loadavg_end,
               versions: {ssh: $ssh, rsync: $rsync, iperf3: $iperf3}},
        case: {kind: $kind, files: $files, file_bytes: $file_bytes, bytes: $bytes,
               source: $source, sha256: $sha256, destination: $destination,
               destination_fs: $dest_fs},
        cipher: {ours: $cipher, ssh: $ssh_cipher},
        runs: $runs,
        skipped: $skipped,
        tools: ($tools | if .ours then .ours.median_reported_gbps =
            (.ours.runs | map(.reported_gbps) | median) else . end),
        ratios: (["rsync", "scp", "iperf3"] | map({
            key: "ours/\(.)",
            value: (if $ours != null and $tools[.].median_gbps != null
                    then $ours / $tools[.].median_gbps else null end)}) | from_entries),
        memory: (if $tools.ours then {
            sender_max_rss_kib: ($tools.ours.runs | map(.sender_max_rss_kib) | max),
            receiver_max_rss_kib: ($tools.ours.runs | map(.receiver_max_rss_kib) | max)}
            else null end),
        cpu: (if $tools.ours then
            ($tools.ours.runs | map(.sender_cpu_seconds) | median) as $send
            | ($tools.ours.runs | map(.receiver_cpu_seconds) | median) as $recv
            | {sender_seconds: $send, receiver_seconds: $recv,
               sender_gbps_per_core: (if $send > 0 then $bytes * 8 / $send / 1e9 else null end),
               receiver_gbps_per_core: (if $recv > 0 then $bytes * 8 / $recv / 1e9 else null end)}
            else null end)
    }' "$RUNS_FILE" >"$SUMMARY"

jq -r '
    def r2: . * 100 | round / 100;
    "\(.case.files) file(s), \(.case.bytes) bytes; ours --cipher \(.cipher.ours), ssh -c \(.cipher.ssh); median of \(.runs) run(s)",
    "  received into \(.case.destination) (\(.case.destination_fs))",
    (.tools | to_entries[] | "  \(.key | . + "        " | .[:8]) \(.value.median_gbps | r2) Gbit/s  (\(.value.median_mbytes_per_s | round) MB/s)"
        + if .value.median_reported_gbps then ", sender reports \(.value.median_reported_gbps | r2) Gbit/s" else "" end),
    (.skipped | to_entries[] | "  \(.key | . + "        " | .[:8]) skipped: \(.value)"),
    (.ratios | to_entries[] | select(.value != null) | "  \(.key) = \(.value | r2)"),
    (if .memory then "  peak RSS: sender \(.memory.sender_max_rss_kib / 1024 | r2) MiB, receiver \(.memory.receiver_max_rss_kib / 1024 | r2) MiB" else empty end),
    (if .cpu and .cpu.sender_gbps_per_core and .cpu.receiver_gbps_per_core then "  CPU (median): sender \(.cpu.sender_seconds | r2) s, receiver \(.cpu.receiver_seconds | r2) s; per busy core: sender \(.cpu.sender_gbps_per_core | r2) Gbit/s, receiver \(.cpu.receiver_gbps_per_core | r2) Gbit/s" else empty end)
' "$SUMMARY"
echo "summary: $SUMMARY"
