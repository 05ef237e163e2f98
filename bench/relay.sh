#!/usr/bin/env bash
# The rate through `jetstream relay` against the direct rate, on loopback, in alternation within
# one invocation: one receiving `jetstream server` reached both directly and through a relay
# (--recv-relay-host), one `jetstream send` of the same file to each address in turn; every copy
# is checked by SHA-256. It prints both medians, their ratio, and the relay's CPU seconds per
# Gbit/s (its CPU time over the relayed runs, divided by the gigabits it forwarded).
#
#   bench/relay.sh [--size 1G] [--rounds 3] [--dst DIR]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

JETSTREAM="$REPO_DIR/target/release/jetstream"
SIZE=1G
ROUNDS=3
DST=/dev/shm
while (($#)); do
    (($# >= 2)) || die "$1 needs a value"
    case "$1" in
    --size) SIZE=$2 ;;
    --rounds) ROUNDS=$2 ;;
    --dst) DST=$2 ;;
    *) die "unknown option $1" ;;
    esac
    shift 2
done
[[ -x "$JETSTREAM" ]] || die "$JETSTREAM not found: cargo build --release -p jetstream-cli"
require_cmd sha256sum jq
BYTES=$(parse_size "$SIZE")

WORK=$(mktemp -d "$DST/jetstream-relay-bench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log "making $SIZE of random bytes"
head -c "$BYTES" /dev/urandom >"$WORK/src.bin"
SUM=$(sha256sum <"$WORK/src.bin" | cut -d' ' -f1)
SERVER_KEY=$("$JETSTREAM" key --key-file "$WORK/server/identity.pk8")
SENDER_KEY=$("$JETSTREAM" key --key-file "$WORK/sender.key")
JETSTREAM_PASSWORD=bench "$JETSTREAM" user add --state-dir "$WORK/server" bench

# wait_line FILE PREFIX: the rest of the first line of FILE that starts with PREFIX.
wait_line() {
    for _ in $(seq 600); do
        local value
        value=$(sed -n "s|^$2||p" "$1" 2>/dev/null | head -1)
        [[ -n "$value" ]] && { echo "$value"; return; }
        sleep 0.05
    done
    die "no '$2' line in $1"
}

"$JETSTREAM" relay --host 127.0.0.1 --control-port 0 --authorized-key "$SERVER_KEY" \
    --key-file "$WORK/relay.key" >"$WORK/relay.out" 2>"$WORK/relay.err" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
CONTROL=$(wait_line "$WORK/relay.out" "relay-control ")
"$JETSTREAM" server --state-dir "$WORK/server" --sandbox "$WORK/in" --api-port 0 \
    --recv-host 127.0.0.1 --recv-port 0 --recv-relay-host 127.0.0.1 \
    --recv-relay-port "${CONTROL##*:}" >"$WORK/server.out" 2>"$WORK/server.err" &
PIDS+=("$!")
API=$(wait_line "$WORK/server.out" "api-listening https://")
FINGERPRINT=$(wait_line "$WORK/server.out" "api-fingerprint ")
DIRECT=$(wait_line "$WORK/server.out" "recv-listening ")
RELAYED=$(wait_line "$WORK/server.out" "recv-relay ")
JETSTREAM_API_PASSWORD=bench "$JETSTREAM" api --host 127.0.0.1 --api-control-port "${API##*:}" \
    --fingerprint "$FINGERPRINT" --user bench recv.addAuthorizedClientAsync \
    --publicKey="$SENDER_KEY" >/dev/null

# cpu PID: user + system CPU seconds of PID so far.
cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# run TO NAME: sends the file to TO as NAME; its rate in Gbit/s, once the copy is checked.
run() {
    local out
    out=$("$JETSTREAM" send "$WORK/src.bin" --to "$1" --dest "$2" --destination-key "$SERVER_KEY" \
        --key-file "$WORK/sender.key" --no-progress)
    [[ $(sha256sum <"$WORK/in/$2/src.bin" | cut -d' ' -f1) == "$SUM" ]] || die "$2: the copy differs"
    rm -rf "${WORK:?}/in/$2"
    sed -n 's/.* gbps=\([0-9.]*\).*/\1/p' <<<"$out"
}

direct=() relayed=() relay_cpu=0 relayed_bits=0
for ((round = 1; round <= ROUNDS; round++)); do
    direct+=("$(run "127.0.0.1:${DIRECT##*:}" "direct-$round")")
    before=$(cpu "$RELAY_PID")
    relayed+=("$(run "127.0.0.1:${RELAYED##*:}" "relayed-$round")")
    after=$(cpu "$RELAY_PID")
    relay_cpu=$(awk -v a="$after" -v b="$before" -v s="$relay_cpu" 'BEGIN { print s + a - b }')
    relayed_bits=$(awk -v s="$relayed_bits" -v n="$BYTES" 'BEGIN { print s + n * 8 / 1e9 }')
    log "round $round/$ROUNDS: direct ${direct[-1]} Gbit/s, through the relay ${relayed[-1]} Gbit/s"
done
d=$(median "${direct[@]}")
r=$(median "${relayed[@]}")
printf 'direct: %.2f Gbit/s [%s]\n' "$d" "${direct[*]}"
printf 'relayed: %.2f Gbit/s [%s]\n' "$r" "${relayed[*]}"
awk -v r="$r" -v d="$d" 'BEGIN { printf "relayed/direct = %.2f\n", r / d }'
awk -v c="$relay_cpu" -v g="$relayed_bits" \
    'BEGIN { printf "relay CPU: %.2f s for %.1f Gbit forwarded = %.3f s per Gbit\n", c, g, c / g }'
