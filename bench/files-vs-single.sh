#!/usr/bin/env bash
# The rate of many small files against the rate of one large file, measured in alternation in
# one invocation so that both meet the same machine (this VM's rates drift by tens of percent
# within minutes):
#
#   bench/files-vs-single.sh [--rounds 3] [--size 4G] [--files 10000] [--file-size 64K]
#                            [--cipher aes128] [--dst DIR]
#
# Each round runs `bench/throughput.sh --tools ours --runs 1` for the single file, then for the
# files, and takes our rate from its JSON summary (every copy is checked by SHA-256 there). It
# prints both medians with their rounds and the ratio files/single. --dst is passed on (e.g.
# /dev/shm to measure the transfer rather than the disk).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

ROUNDS=3
SIZE=4G
FILES=10000
FILE_SIZE=64K
CIPHER=aes128
DST=()

while (($#)); do
    (($# >= 2)) || die "$1 needs a value"
    case "$1" in
    --rounds) ROUNDS=$2 ;;
    --size) SIZE=$2 ;;
    --files) FILES=$2 ;;
    --file-size) FILE_SIZE=$2 ;;
    --cipher) CIPHER=$2 ;;
    --dst) DST=(--dst "$2") ;;
    *) die "unknown option $1" ;;
    esac
    shift 2
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive number"
require_cmd jq

# rate ARGS...: our rate (Gbit/s) with the common options and ARGS.
rate() {
    our_rate --cipher "$CIPHER" ${DST[@]+"${DST[@]}"} "$@"
}

single=() many=()
for ((round = 1; round <= ROUNDS; round++)); do
    single+=("$(rate --size "$SIZE")")
    many+=("$(rate --files "$FILES" --file-size "$FILE_SIZE")")
    log "round $round/$ROUNDS: single ${single[-1]} Gbit/s, files ${many[-1]} Gbit/s"
done
s=$(median "${single[@]}")
m=$(median "${many[@]}")
printf 'one file of %s: %.2f Gbit/s [%s]\n' "$SIZE" "$s" "$(printf '%.2f ' "${single[@]}" | sed 's/ $//')"
printf '%s files of %s: %.2f Gbit/s [%s]\n' "$FILES" "$FILE_SIZE" "$m" "$(printf '%.2f ' "${many[@]}" | sed 's/ $//')"
awk -v m="$m" -v s="$s" 'BEGIN { printf "files/single = %.2f\n", m / s }'
