#!/usr/bin/env bash
# A transfer under a flood of spoofed handshakes: the same transfer to a fresh receiver on
# loopback, alone and while the `flood` example (crates/engine/examples/flood.rs) sends
# ClientHellos from a thousand source addresses over SECONDS, in alternation; prints the
# median rate of each, their ratio, and the receiver's CPU per junk datagram (the difference of
# its CPU seconds over the datagrams sent).
#
#   bench/flood.sh SOURCE DST_DIR [ROUNDS] [HELLOS] [SECONDS]
#
# SOURCE is a file or directory (e.g. a 256 MiB file); DST_DIR receives the copies (deleted
# after each run; /dev/shm keeps the disk out of it). HELLOS defaults to 100000, SECONDS to 0.4
# (about what 256 MiB takes alone here: the flood should arrive while the transfer runs; the
# receiver's last line counts the hellos it handled, answered or not, before it ended).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

(($# >= 2)) || die "usage: bench/flood.sh SOURCE DST_DIR [ROUNDS] [HELLOS] [SECONDS]"
SRC=$1 DST=$2 ROUNDS=${3:-3} HELLOS=${4:-100000} SECONDS_=${5:-0.4}
JETSTREAM="${JETSTREAM:-$REPO_DIR/target/release/jetstream}"
BYTES=$(du -sb --apparent-size "$SRC" | cut -f1)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cargo build --release --quiet -p jetstream-engine --example flood || die "cannot build the flooder"
FLOOD="$REPO_DIR/target/release/examples/flood"

# The receiver accepts this sender's key alone; the sender pins the receiver's.
SENDER_KEY=$("$JETSTREAM" key --key-file "$TMP/sender.key") || die "cannot make the sender's key"

# run FLOOD: one transfer (under a flood when FLOOD is 1); prints "elapsed receiver_cpu".
run() {
    local flood=$1 dest="$DST/flood-bench" flooder=""
    rm -rf "$dest" && mkdir -p "$dest"
    start_receiver "$TMP/recv.time" "$TMP/recv.out" --root "$dest" \
        --key-file "$TMP/receiver.key" --authorized-key "$SENDER_KEY"
    if ((flood)); then
        "$FLOOD" "$RECV_ADDR" 1000 "$HELLOS" "$SECONDS_" >"$TMP/flood.out" &
        flooder=$!
        sleep 0.05
    fi
    local start end
    start=$(now_seconds)
    "$JETSTREAM" send "$SRC" --to "$RECV_ADDR" --destination-key "$RECV_KEY" \
        --key-file "$TMP/sender.key" --no-progress >/dev/null 2>&1 || die "sender failed"
    end=$(now_seconds)
    wait "$RECV_PID" || die "receiver failed"
    if [[ -n "$flooder" ]]; then
        wait "$flooder"
        log "$(cat "$TMP/flood.out")"
        log "receiver: $(tail -n 1 "$TMP/recv.out.err")"
    fi
    [[ -d "$SRC" ]] || cmp -s "$SRC" "$dest/$(basename "$SRC")" || die "the copy differs"
    rm -rf "$dest"
    printf '%s %s\n' "$(elapsed "$start" "$end")" "$(awk '{ print $1 + $2 }' "$TMP/recv.time")"
}

: >"$TMP/calm" && : >"$TMP/flood"
for ((round = 1; round <= ROUNDS; round++)); do
    run 0 >>"$TMP/calm"
    run 1 >>"$TMP/flood"
    log "round $round/$ROUNDS: alone $(tail -n 1 "$TMP/calm"), flooded $(tail -n 1 "$TMP/flood")"
done
for mode in calm flood; do
    # shellcheck disable=SC2046 # one number per word
    t=$(median $(cut -d' ' -f1 "$TMP/$mode"))
    # shellcheck disable=SC2046
    c=$(median $(cut -d' ' -f2 "$TMP/$mode"))
    printf '%-5s: %.3f s (%.2f Gbit/s), receiver CPU %.3f s\n' "$mode" "$t" \
        "$(awk -v b="$BYTES" -v t="$t" 'BEGIN { print b * 8 / t / 1e9 }')" "$c"
    eval "${mode}_t=$t ${mode}_c=$c"
done
awk -v t0="$calm_t" -v t1="$flood_t" -v c0="$calm_c" -v c1="$flood_c" -v n="$HELLOS" 'BEGIN {
    printf "rate flooded / alone = %.2f; receiver CPU per junk datagram %.2f us\n",
        t0 / t1, (c1 - c0) / n * 1e6 }'
