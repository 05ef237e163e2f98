#!/usr/bin/env bash
# What digests cost: the same transfer with and without `--no-verify`, in alternation, on
# loopback; prints the median elapsed time and the CPU seconds of each end (user + system, from
# GNU time), and the CPU each end spends per GiB on digests.
#
#   bench/verify-cost.sh SOURCE DST_DIR [ROUNDS]
#
# SOURCE is a file or directory (e.g. the data bench/throughput.sh generates); DST_DIR receives
# the copies (deleted after each run; /dev/shm measures the transfer rather than the disk).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

(($# >= 2)) || die "usage: bench/verify-cost.sh SOURCE DST_DIR [ROUNDS]"
SRC=$1 DST=$2 ROUNDS=${3:-3}
JETSTREAM="${JETSTREAM:-$REPO_DIR/target/release/jetstream}"
BYTES=$(du -sb --apparent-size "$SRC" | cut -f1)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The receiver accepts this sender's key alone; the sender pins the receiver's.
SENDER_KEY=$("$JETSTREAM" key --key-file "$TMP/sender.key") || die "cannot make the sender's key"

# run MODE: one transfer; prints "elapsed sender_cpu receiver_cpu".
run() {
    local dest="$DST/verify-cost"
    rm -rf "$dest" && mkdir -p "$dest"
    start_receiver "$TMP/recv.time" "$TMP/recv.out" --root "$dest" --min-cipher none \
        --key-file "$TMP/receiver.key" --authorized-key "$SENDER_KEY"
    local start end
    start=$(now_seconds)
    "$BENCH_GNU_TIME" -f '%U %S' -o "$TMP/send.time" \
        "$JETSTREAM" send "$SRC" --to "$RECV_ADDR" --destination-key "$RECV_KEY" --key-file "$TMP/sender.key" \
        --no-progress "$@" >/dev/null 2>&1 || die "sender failed"
    end=$(now_seconds)
    wait "$RECV_PID" || die "receiver failed"
    rm -rf "$dest"
    printf '%s %s %s\n' "$(elapsed "$start" "$end")" \
        "$(awk '{ print $1 + $2 }' "$TMP/send.time")" "$(awk '{ print $1 + $2 }' "$TMP/recv.time")"
}

: >"$TMP/on" && : >"$TMP/off"
for ((round = 1; round <= ROUNDS; round++)); do
    run >>"$TMP/on"
    run --no-verify >>"$TMP/off"
    log "round $round/$ROUNDS: verify $(tail -n 1 "$TMP/on"), no-verify $(tail -n 1 "$TMP/off")"
done
for mode in on off; do
    read -r t s r < <(for col in 1 2 3; do
        # shellcheck disable=SC2046 # one number per word
        median $(cut -d' ' -f"$col" "$TMP/$mode")
    done | paste -sd' ')
    printf 'verify %-3s: %.3f s (%.2f Gbit/s), sender CPU %.2f s, receiver CPU %.2f s\n' \
        "$mode" "$t" "$(awk -v b="$BYTES" -v t="$t" 'BEGIN { print b * 8 / t / 1e9 }')" "$s" "$r"
    eval "${mode}_t=$t ${mode}_s=$s ${mode}_r=$r"
done
awk -v b="$BYTES" -v t1="$on_t" -v t0="$off_t" -v s1="$on_s" -v s0="$off_s" -v r1="$on_r" -v r0="$off_r" 'BEGIN {
    gib = b / 1073741824
    printf "rate with digests / without = %.2f; digest CPU per GiB: sender %.3f s, receiver %.3f s\n",
        t0 / t1, (s1 - s0) / gib, (r1 - r0) / gib }'
