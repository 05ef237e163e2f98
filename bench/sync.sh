#!/usr/bin/env bash
# A tree sent again, as rsync users do: the first run, an unchanged second run and a run with a
# share of the files changed, for ours (`jetstream send` to a `jetstream receive` on loopback)
# and rsync over ssh (aes128-gcm, the loopback sshd of setup-peers.sh), with a local `cp -a` of
# the same tree for scale, in one invocation:
#
#   bench/sync.sh DIR [--changed-percent 1] [--jetstream target/release/jetstream]
#
# DIR is never touched: it is copied to a temporary directory first (the copy is the source
# whose files are changed) and everything is deleted at the end. After each run every copy is
# checked against the source by SHA-256. Prints one line per run and tool: seconds, and for ours
# the new data bytes sent and the files skipped, from the sender's summary.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"

JETSTREAM="$REPO_DIR/target/release/jetstream"
PERCENT=1
(($#)) || die "usage: bench/sync.sh DIR [--changed-percent 1] [--jetstream PATH]"
TREE=$(cd "$1" && pwd)
shift
while (($#)); do
    (($# >= 2)) || die "$1 needs a value"
    case "$1" in
    --changed-percent) PERCENT=$2 ;;
    --jetstream) JETSTREAM=$2 ;;
    *) die "unknown option $1" ;;
    esac
    shift 2
done
[[ "$PERCENT" =~ ^[1-9][0-9]?$ ]] || die "--changed-percent must be 1 to 99"
[[ -x "$JETSTREAM" ]] || die "no $JETSTREAM: cargo build --release -p jetstream-cli"
require_cmd rsync ssh sha256sum

bash "$BENCH_DIR/setup-peers.sh" start >&2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jetstream-sync.XXXXXX")
[[ "$WORK" != *[[:space:]]* ]] || die "the work directory must not contain spaces"
RECV_PID=""
cleanup() {
    if [[ -n "$RECV_PID" ]]; then
        kill "$RECV_PID" 2>/dev/null || true
        wait "$RECV_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

SRC="$WORK/src"
log "copying $TREE to $SRC"
cp -a "$TREE" "$SRC"
FILES=$(find "$SRC" -type f | wc -l)
BYTES=$(du -sb --apparent-size "$SRC" | cut -f1)
log "$FILES files, $BYTES bytes"
mkdir -p "$WORK/ours" "$WORK/rsync" "$WORK/cp" "$WORK/home"

export XDG_CONFIG_HOME="$WORK/home"
SENDER_KEY=$("$JETSTREAM" key)
"$JETSTREAM" receive --listen 127.0.0.1:0 --root "$WORK/ours" --authorized-key "$SENDER_KEY" \
    --max-overwrite always --key-file "$WORK/receiver.key" >"$WORK/recv.out" 2>"$WORK/recv.err" &
RECV_PID=$!
for _ in $(seq 100); do
    RECV_ADDR=$(sed -n 's/^listening //p' "$WORK/recv.out")
    RECV_KEY=$(sed -n 's/^public-key //p' "$WORK/recv.out")
    [[ -n "$RECV_ADDR" && -n "$RECV_KEY" ]] && break
    sleep 0.05
done
[[ -n "$RECV_KEY" ]] || die "the receiver did not start: $(cat "$WORK/recv.err")"

# digests DIR: the SHA-256 of every file below DIR, by relative path.
digests() {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# check COPY: fails unless COPY holds exactly the source's files and bytes.
check() {
    cmp -s <(digests "$SRC") <(digests "$1") || die "$1 differs from the source"
}

# timed NAME COMMAND...: runs COMMAND, prints NAME and its seconds, keeps its stderr. The file
# systems are synced first, untimed: no run waits for the disk to write back what an earlier
# run (of either tool, or the copy) left in the page cache, which a run that syncs its files
# (ours does; rsync and cp do not) would otherwise pay for.
timed() {
    local name=$1 start end
    shift
    sync
    start=$(now_seconds)
    "$@" 2>"$WORK/$name.err" >"$WORK/$name.out" || die "$name failed: $(cat "$WORK/$name.err")"
    end=$(now_seconds)
    elapsed "$start" "$end"
}

ours() {
    "$JETSTREAM" send "$SRC" --to "$RECV_ADDR" --destination-key "$RECV_KEY" \
        --overwrite always --no-progress --timeout 30
}

rsync_ssh() {
    rsync -a --delete -e "ssh -F $BENCH_SSH_CONFIG -c aes128-gcm@openssh.com" \
        "$SRC/" "$BENCH_SSH_HOST:$WORK/rsync/src/"
}

# run LABEL: ours then rsync, each checked; one line each.
run() {
    local label=$1 seconds said
    seconds=$(timed "ours-$label" ours)
    said=$(grep '^sent ' "$WORK/ours-$label.err")
    check "$WORK/ours/src"
    printf '%-10s ours   %8.3f s  (%s)\n' "$label" "$seconds" "$said"
    seconds=$(timed "rsync-$label" rsync_ssh)
    check "$WORK/rsync/src"
    printf '%-10s rsync  %8.3f s\n' "$label" "$seconds"
}

printf 'tree: %s files, %s bytes (a copy of %s)\n' "$FILES" "$BYTES" "$TREE"
seconds=$(timed cp cp -a "$SRC" "$WORK/cp/src")
check "$WORK/cp/src"
printf '%-10s cp -a  %8.3f s\n' first "$seconds"
rm -rf "$WORK/cp"
run first
run unchanged
# One file in every 100/PERCENT, in path order: a byte appended (new size, new time).
STEP=$((100 / PERCENT))
CHANGED=$(find "$SRC" -type f | sort | awk -v step="$STEP" 'NR % step == 0' |
    while IFS= read -r file; do
        printf 'x' >>"$file"
        echo
    done | wc -l)
log "changed $CHANGED files"
run "changed"
printf 'changed: %s of %s files\n' "$CHANGED" "$FILES"
