#!/usr/bin/env bash
# Our rate with two builds of the `jetstream` binary, measured in alternation in one invocation
# so that both meet the same machine: the change a commit makes to the transfer rate, as a ratio.
#
#   bench/binaries.sh --before PATH [--after target/release/jetstream] [--rounds 3] \
#                     [--dst DIR] THROUGHPUT-OPTIONS...
#
# Each round runs `bench/throughput.sh --tools ours --runs 1` with the `--before` binary, then
# with the `--after` one, with the remaining options (e.g. `--size 4G` or `--files 10000
# --file-size 64K`, `--cipher`), and takes the rate from its JSON summary (every copy is checked
# by SHA-256 there). It prints both medians with their rounds and the ratio after/before.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

ROUNDS=3
BEFORE=""
AFTER="$REPO_DIR/target/release/jetstream"
PASS=()

while (($#)); do
    (($# >= 2)) || die "$1 needs a value"
    case "$1" in
    --rounds) ROUNDS=$2 ;;
    --before) BEFORE=$2 ;;
    --after) AFTER=$2 ;;
    *) PASS+=("$1" "$2") ;;
    esac
    shift 2
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive number"
[[ -x "$BEFORE" ]] || die "--before must name a jetstream binary"
[[ -x "$AFTER" ]] || die "--after must name a jetstream binary ($AFTER is not one)"
require_cmd jq

# rate BINARY: our rate (Gbit/s) with that binary and the options passed on.
rate() {
    our_rate --jetstream "$1" ${PASS[@]+"${PASS[@]}"}
}

before=() after=()
for ((round = 1; round <= ROUNDS; round++)); do
    before+=("$(rate "$BEFORE")")
    after+=("$(rate "$AFTER")")
    log "round $round/$ROUNDS: before ${before[-1]} Gbit/s, after ${after[-1]} Gbit/s"
done
b=$(median "${before[@]}")
a=$(median "${after[@]}")
printf 'before (%s): %.2f Gbit/s [%s]\n' "$BEFORE" "$b" "$(printf '%.2f ' "${before[@]}" | sed 's/ $//')"
printf 'after (%s): %.2f Gbit/s [%s]\n' "$AFTER" "$a" "$(printf '%.2f ' "${after[@]}" | sed 's/ $//')"
awk -v a="$a" -v b="$b" 'BEGIN { printf "after/before = %.2f\n", a / b }'
