#!/usr/bin/env bash
# Our transfers against TCP on an emulated WAN link. Two network namespaces are joined by
# `wan-link` (crates/wan-link: a bottleneck rate, a tail-drop queue of one bandwidth-delay
# product, random loss and half the RTT of delay each way, measured by the link itself); for each
# cell of RTT and loss it runs `jetstream send` of one file twice with one fresh state directory
# (a first transfer on the path, then a second one), checks every copy by SHA-256, and runs iperf3
# TCP CUBIC and BBR on the same link. It writes a markdown table with the targets of the project's
# WAN goals, and one plot per cell of the goodput over time the link delivered, into --out.
#
#   bench/wan.sh [--cells LIST] [--quick] [--size 512M] [--rate-mbit 500] [--tcp-seconds 20]
#                [--rate-control fill|fair] [--dst /dev/shm] [--out bench/out/wan] [--no-build]
#
# Cells (--cells takes a comma-separated subset; default all):
#   calibrate   TCP alone at 10 ms and 100 ms RTT, no loss: the link must carry >= 90% of its rate
#   10ms-0.1 100ms-0 100ms-1 200ms-2 300ms-5 600ms-10   RTT and loss percent: ours twice, CUBIC, BBR
#   two-flows   two of our transfers at once at 100 ms, no loss: each one's rate
#   fair-share  one of ours beside one CUBIC flow at 100 ms, no loss, with each rate-control
#               policy in turn (fill, the default, and fair): each one's rate
# --quick sends 64M and runs TCP for 8 s. --rate-control fill|fair (or the environment variable
# JETSTREAM_RATE_CONTROL) is passed to `jetstream send` in the grid and two-flows cells.
# Needs root (namespaces, TUN devices); installs iperf3 and gnuplot from Debian's packages if
# missing.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
# shellcheck source=lib/common.sh
source "$BENCH_DIR/lib/common.sh"
# shellcheck source=lib/wan-plot.sh
source "$BENCH_DIR/lib/wan-plot.sh"

JETSTREAM="$REPO_DIR/target/release/jetstream"
WAN_LINK="$REPO_DIR/target/release/wan-link"
ALL_CELLS="calibrate,10ms-0.1,100ms-0,100ms-1,200ms-2,300ms-5,600ms-10,two-flows,fair-share"
CELLS=$ALL_CELLS
SIZE=512M
TCP_SECONDS=20
RATE_MBIT=500
DST=/dev/shm
OUT="$REPO_DIR/bench/out/wan"
BUILD=1
RATE_CONTROL=${JETSTREAM_RATE_CONTROL:-}
while (($#)); do
    case "$1" in
    --quick) SIZE=64M TCP_SECONDS=8; shift; continue ;;
    --no-build) BUILD=0; shift; continue ;;
    esac
    (($# >= 2)) || die "$1 needs a value"
    case "$1" in
    --cells) CELLS=$2 ;;
    --size) SIZE=$2 ;;
    --tcp-seconds) TCP_SECONDS=$2 ;;
    --rate-mbit) RATE_MBIT=$2 ;;
    --rate-control) RATE_CONTROL=$2 ;;
    --dst) DST=$2 ;;
    --out) OUT=$2 ;;
    *) die "unknown option $1" ;;
    esac
    shift 2
done
((EUID == 0)) || die "needs root: it makes network namespaces and TUN devices"
[[ "$TCP_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "bad --tcp-seconds '$TCP_SECONDS'"
[[ "$RATE_MBIT" =~ ^[1-9][0-9]*$ ]] || die "bad --rate-mbit '$RATE_MBIT' (whole Mbit/s)"
for cell in ${CELLS//,/ }; do
    [[ ",$ALL_CELLS," == *",$cell,"* ]] || die "unknown cell '$cell' (cells: $ALL_CELLS)"
done
BYTES=$(parse_size "$SIZE")
SEND_EXTRA=()
[[ -n "$RATE_CONTROL" ]] && SEND_EXTRA=(--rate-control "$RATE_CONTROL")

missing=()
command -v iperf3 >/dev/null || missing+=(iperf3)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
command -v jq >/dev/null || missing+=(jq)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
fi
if ((BUILD)); then
    log "building the CLI and the link emulator (release)"
    (cd "$REPO_DIR" && cargo build --release --quiet -p jetstream-cli -p wan-link)
fi
[[ -x "$JETSTREAM" && -x "$WAN_LINK" ]] || die "no release binaries: run without --no-build"

NS_A="wan-a-$$"
NS_B="wan-b-$$"
ADDR_B=198.18.0.2
mkdir -p "$OUT"
WORK=$(mktemp -d "$DST/jetstream-wan-bench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for ns in "$NS_A" "$NS_B"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # Room for TCP's windows at 600 ms (a BDP of 37.5 MB plus the queue's), and no memory of a
    # previous connection's path: every TCP run starts as a first one, like ours.
    ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_rmem="4096 131072 268435456" \
        net.ipv4.tcp_wmem="4096 16384 268435456" net.ipv4.tcp_no_metrics_save=1
done

log "making $SIZE of random bytes"
if command -v openssl >/dev/null; then
    # openssl ends on a broken pipe once head has its bytes.
    { openssl enc -aes-128-ctr -pass pass:x -nosalt -pbkdf2 -in /dev/zero 2>/dev/null || true; } |
        head -c "$BYTES" >"$WORK/src.bin"
else
    head -c "$BYTES" /dev/urandom >"$WORK/src.bin"
fi
SUM=$(sha256sum <"$WORK/src.bin" | cut -d' ' -f1)

# start_link DIR RTT_MS LOSS_PERCENT: wan-link between the namespaces, its series in DIR/link.csv;
# sets LINK_PID once both devices are up.
start_link() {
    "$WAN_LINK" --ns-a "$NS_A" --ns-b "$NS_B" --rate-mbit "$RATE_MBIT" --rtt-ms "$2" \
        --loss-percent "$3" --series "$1/link.csv" >"$1/link.out" 2>"$1/link.err" &
    LINK_PID=$!
    PIDS+=("$LINK_PID")
    for _ in $(seq 200); do
        grep -q '^ready ' "$1/link.out" 2>/dev/null && return
        kill -0 "$LINK_PID" 2>/dev/null || break
        sleep 0.05
    done
    die "wan-link did not start: $(cat "$1/link.err")"
}

# stop_link DIR: stops wan-link, first writing into DIR/device-drops the packets the two TUN
# devices dropped because the link did not read them in time (lost before the link saw them:
# 0 unless the machine starved it).
stop_link() {
    local drops=0 side ns dev
    for side in a b; do
        ns=$NS_A
        [[ $side == b ]] && ns=$NS_B
        dev=$(sed -n "s/^ready .*dev-$side=\([^ ]*\).*/\1/p" "$1/link.out")
        drops=$((drops + $(ip -n "$ns" -s -j link show dev "$dev" | jq '.[0].stats64.tx.dropped')))
    done
    echo "$drops" >"$1/device-drops"
    kill -TERM "$LINK_PID"
    wait "$LINK_PID" || die "wan-link failed"
}

# start_iperf_server: an iperf3 server in B for this cell; sets IPERF_PID.
start_iperf_server() {
    ip netns exec "$NS_B" iperf3 -s -B "$ADDR_B" -p 5201 >/dev/null 2>&1 &
    IPERF_PID=$!
    PIDS+=("$IPERF_PID")
    sleep 0.5
}

# tcp_run DIR CC SECONDS: one iperf3 client from A with congestion control CC; writes
# DIR/tcp-CC.json and DIR/tcp-CC.times (its unix start and end).
tcp_run() {
    local start end
    start=$(now_seconds)
    timeout $(($3 + 120)) ip netns exec "$NS_A" iperf3 -c "$ADDR_B" -p 5201 -t "$3" -C "$2" -J \
        >"$1/tcp-$2.json" 2>"$1/tcp-$2.err" || log "iperf3 $2 failed: $(tail -1 "$1/tcp-$2.err")"
    end=$(now_seconds)
    echo "$start $end" >"$1/tcp-$2.times"
}

# tcp_mbit DIR CC: the rate iperf3's receiver measured, Mbit/s.
tcp_mbit() {
    jq -r '(.end.sum_received.bits_per_second // 0) / 1e6 | . * 10 | round / 10' "$1/tcp-$2.json" 2>/dev/null ||
        echo 0
}

# ours_run DIR TAG STATE PORT: one `jetstream send` of the source file from A to a receiver in B
# on PORT, with the identities and known receivers kept in STATE; the copy is checked and removed.
# Writes DIR/TAG.result: start end repaired-bytes (unix seconds, bytes).
ours_run() {
    local dir=$1 tag=$2 state=$3 port=$4 sender_key receiver_key start end repairs
    mkdir -p "$state" "$dir/in-$tag"
    sender_key=$("$JETSTREAM" key --key-file "$state/sender.key")
    receiver_key=$("$JETSTREAM" key --key-file "$state/receiver.key")
    ip netns exec "$NS_B" "$JETSTREAM" receive --root "$dir/in-$tag" --listen "$ADDR_B:$port" \
        --once --key-file "$state/receiver.key" --authorized-key "$sender_key" \
        >"$dir/$tag.recv.out" 2>"$dir/$tag.recv.err" &
    local receiver=$!
    for _ in $(seq 200); do
        grep -q '^listening ' "$dir/$tag.recv.out" 2>/dev/null && break
        sleep 0.05
    done
    start=$(now_seconds)
    XDG_CONFIG_HOME="$state" ip netns exec "$NS_A" "$JETSTREAM" send "$WORK/src.bin" \
        --to "$ADDR_B:$port" --destination-key "$receiver_key" --key-file "$state/sender.key" \
        --known-receivers "$state/known_receivers" --no-progress "${SEND_EXTRA[@]}" \
        >"$dir/$tag.send.out" 2>"$dir/$tag.send.err" || {
        kill "$receiver" 2>/dev/null
        die "$tag: jetstream send failed: $(tail -3 "$dir/$tag.send.err")"
    }
    end=$(now_seconds)
    wait "$receiver" || die "$tag: jetstream receive failed: $(tail -3 "$dir/$tag.recv.err")"
    [[ "$(sha256sum <"$dir/in-$tag/src.bin" | cut -d' ' -f1)" == "$SUM" ]] ||
        die "$tag: the received file differs from the one sent"
    rm -rf "$dir/in-$tag"
    repairs=$(sed -n 's/^sent [0-9]* new bytes and \([0-9]*\) repairs.*/\1/p' "$dir/$tag.send.err")
    echo "$start $end ${repairs:-n/a}" >"$dir/$tag.result"
}

# mbit BYTES SECONDS
mbit() {
    awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b * 8 / s / 1e6 }'
}

# settled TIME: TIME plus the link's sampling interval and a bit, by when the series holds what
# the link carried up to TIME.
settled() {
    awk -v t="$1" 'BEGIN { printf "%.6f", t + 0.15 }'
}

# verdict VALUE TARGET: "pass" when VALUE >= TARGET.
verdict() {
    awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 >= t + 0) ? "pass" : "FAIL" }'
}

# cell_rtt CELL / cell_loss CELL: the RTT (ms) and loss (percent) of a grid cell's name.
cell_rtt() { local c=${1%%ms-*}; echo "$c"; }
cell_loss() { echo "${1#*ms-}"; }

CAL_ROWS=()
GRID_ROWS=()
PAIR_ROWS=()
FAIR_ROWS=()

run_calibrate() {
    local dir=$WORK/calibrate rtt cc rates
    for rtt in 10 100; do
        mkdir -p "$dir/$rtt"
        start_link "$dir/$rtt" "$rtt" 0
        start_iperf_server
        rates=()
        for cc in cubic bbr; do
            log "calibrate ${rtt} ms: TCP $cc"
            tcp_run "$dir/$rtt" "$cc" "$TCP_SECONDS"
            rates+=("$(tcp_mbit "$dir/$rtt" "$cc")")
        done
        kill "$IPERF_PID" 2>/dev/null || true
        stop_link "$dir/$rtt"
        local floor drops
        floor=$(awk -v r="$RATE_MBIT" 'BEGIN { print 0.9 * r }')
        drops=$(tail -1 "$dir/$rtt/link.csv" | awk -F, '{ print $4 + $10 }')
        CAL_ROWS+=("| $rtt ms | ${rates[0]} | $(verdict "${rates[0]}" "$floor") | ${rates[1]} | $(verdict "${rates[1]}" "$floor") | $drops | $(<"$dir/$rtt/device-drops") |")
    done
}

run_grid_cell() {
    local cell=$1 rtt loss dir state
    rtt=$(cell_rtt "$cell")
    loss=$(cell_loss "$cell")
    dir=$WORK/$cell
    state=$dir/state
    mkdir -p "$dir"
    start_link "$dir" "$rtt" "$loss"
    local tag
    for tag in first second; do
        log "$cell: ours, $tag transfer on the path"
        ours_run "$dir" "$tag" "$state" 8886
    done
    start_iperf_server
    for cc in cubic bbr; do
        log "$cell: TCP $cc"
        tcp_run "$dir" "$cc" "$TCP_SECONDS"
    done
    kill "$IPERF_PID" 2>/dev/null || true
    stop_link "$dir"

    local csv=$dir/link.csv p first second r1 r2 t1 t2 before after random_pkts random_bytes
    local queue1 queue2 offered measured repairs1 repairs2 retx_ok
    p=$(awk -v l="$loss" 'BEGIN { print l / 100 }')
    read -r s1 e1 repairs1 <"$dir/first.result"
    read -r s2 e2 repairs2 <"$dir/second.result"
    r1=$(mbit "$BYTES" "$(elapsed "$s1" "$e1")")
    r2=$(mbit "$BYTES" "$(elapsed "$s2" "$e2")")
    if [[ "$rtt" -ge 600 ]]; then
        t1=$(awk -v p="$p" -v r="$RATE_MBIT" 'BEGIN { printf "%.0f", 0.8 * (1 - p) * r }')
    else
        t1=$(awk -v p="$p" -v r="$RATE_MBIT" 'BEGIN { printf "%.0f", 0.85 * (1 - p) * r }')
    fi
    t2=$(awk -v p="$p" -v r="$RATE_MBIT" 'BEGIN { printf "%.0f", 0.9 * (1 - p) * r }')
    before=$(counters_at "$csv" "$s1")
    after=$(counters_at "$csv" "$(settled "$e1")")
    random_pkts=$(counter_delta "$before" "$after" 4)
    random_bytes=$(counter_delta "$before" "$after" 5)
    queue1=$(counter_delta "$before" "$after" 6)
    offered=$(($(counter_delta "$before" "$after" 2) + random_pkts))
    measured=$(awk -v d="$random_pkts" -v o="$offered" 'BEGIN { printf "%.2f", o ? 100 * d / o : 0 }')
    queue2=$(counter_delta "$(counters_at "$csv" "$s2")" \
        "$(counters_at "$csv" "$(settled "$e2")")" 6)
    if [[ "$repairs1" == n/a ]]; then
        retx_ok=n/a
    else
        retx_ok=$(awk -v r="$repairs1" -v b="$random_bytes" 'BEGIN { print (r <= 1.1 * b) ? "pass" : "FAIL" }')
    fi
    GRID_ROWS+=("| $rtt ms / $loss% | $r1 | ≥ $t1 $(verdict "$r1" "$t1") | $r2 | ≥ $t2 $(verdict "$r2" "$t2") | $(tcp_mbit "$dir" cubic) | $(tcp_mbit "$dir" bbr) | $random_pkts ($measured% of $offered) | $queue1 / $queue2 | $repairs1 / $repairs2 | $retx_ok | $(<"$dir/device-drops") |")

    local series=()
    for tag in first second; do
        read -r s e _ <"$dir/$tag.result"
        series_slice "$csv" "$s" "$e" "$dir/$tag.dat"
        series+=("ours, $tag transfer=$dir/$tag.dat")
    done
    for cc in cubic bbr; do
        read -r s e <"$dir/tcp-$cc.times"
        series_slice "$csv" "$s" "$e" "$dir/tcp-$cc.dat"
        series+=("TCP $cc (iperf3)=$dir/tcp-$cc.dat")
    done
    plot_cell "$OUT/$cell.png" "$RATE_MBIT Mbit/s, $rtt ms RTT, $loss% loss: goodput delivered by the link" \
        "$RATE_MBIT" "${series[@]}"
}

run_two_flows() {
    local dir=$WORK/two-flows
    mkdir -p "$dir"
    start_link "$dir" 100 0
    log "two-flows: two of ours at once"
    ours_run "$dir" one "$dir/state-one" 8886 &
    local one=$!
    ours_run "$dir" two "$dir/state-two" 8887 &
    local two=$!
    wait "$one" || die "two-flows: the first flow failed"
    wait "$two" || die "two-flows: the second flow failed"
    stop_link "$dir"
    local s1 e1 s2 e2 r1 r2 ratio
    read -r s1 e1 _ <"$dir/one.result"
    read -r s2 e2 _ <"$dir/two.result"
    r1=$(mbit "$BYTES" "$(elapsed "$s1" "$e1")")
    r2=$(mbit "$BYTES" "$(elapsed "$s2" "$e2")")
    ratio=$(awk -v a="$r1" -v b="$r2" 'BEGIN { printf "%.2f", (a > b ? a / b : b / a) }')
    PAIR_ROWS+=("| 100 ms / 0% | $r1 | $r2 | $ratio | $(awk -v x="$ratio" 'BEGIN { print (x <= 1.2) ? "pass" : "FAIL" }') |")
    local from to
    from=$(printf '%s\n' "$s1" "$s2" | sort -g | head -1)
    to=$(printf '%s\n' "$e1" "$e2" | sort -g | tail -1)
    series_slice "$dir/link.csv" "$from" "$to" "$dir/both.dat"
    plot_cell "$OUT/two-flows.png" "$RATE_MBIT Mbit/s, 100 ms RTT: two of our transfers at once (link total)" \
        "$RATE_MBIT" "both flows=$dir/both.dat"
}

run_fair_share() {
    local policy
    for policy in fill fair; do
        fair_share_with "$policy"
    done
}

# fair_share_with POLICY: ours with --rate-control POLICY beside one CUBIC flow.
fair_share_with() {
    local policy=$1 dir=$WORK/fair-share/$1 seconds=$((TCP_SECONDS * 3))
    mkdir -p "$dir"
    start_link "$dir" 100 0
    start_iperf_server
    log "fair-share: ours ($policy) beside TCP cubic"
    tcp_run "$dir" cubic "$seconds" &
    local tcp=$!
    # CUBIC first, so ours meets a flow that already holds the path.
    sleep 5
    local saved=("${SEND_EXTRA[@]}")
    SEND_EXTRA=(--rate-control "$policy")
    ours_run "$dir" ours "$dir/state" 8886
    SEND_EXTRA=("${saved[@]}")
    wait "$tcp" || true
    kill "$IPERF_PID" 2>/dev/null || true
    stop_link "$dir"
    local s e t0 ours cubic ratio
    read -r s e _ <"$dir/ours.result"
    read -r t0 _ <"$dir/tcp-cubic.times"
    ours=$(mbit "$BYTES" "$(elapsed "$s" "$e")")
    # CUBIC's rate over the intervals inside our transfer.
    cubic=$(jq -r --argjson from "$(elapsed "$t0" "$s")" --argjson to "$(elapsed "$t0" "$e")" \
        '[.intervals[].sum | select(.start >= $from and .end <= $to) | .bits_per_second]
         | if length > 0 then (add / length / 1e6 * 10 | round / 10) else 0 end' "$dir/tcp-cubic.json")
    ratio=$(awk -v a="$ours" -v b="$cubic" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    local share=- range=-
    if [[ $policy == fill ]]; then
        share=$(verdict "$ours" "$(awk -v r="$RATE_MBIT" 'BEGIN { print 0.45 * r }')")
    else
        range=$(awk -v x="$ratio" 'BEGIN { print (x >= 0.5 && x <= 2) ? "pass" : "FAIL" }')
    fi
    FAIR_ROWS+=("| 100 ms / 0% | $policy | $ours | $cubic | $ratio | $share | $range |")
    jq -r '.intervals[].sum | "\(.end) \(.bits_per_second / 1e6)"' "$dir/tcp-cubic.json" \
        >"$dir/cubic.dat" 2>/dev/null || true
    series_slice "$dir/link.csv" "$t0" "$(now_seconds)" "$dir/total.dat"
    plot_cell "$OUT/fair-share-$policy.png" \
        "$RATE_MBIT Mbit/s, 100 ms RTT: ours ($policy) from 5 s beside one TCP CUBIC flow" \
        "$RATE_MBIT" "link total=$dir/total.dat" "TCP cubic (iperf3, 1 s)=$dir/cubic.dat"
}

for cell in ${CELLS//,/ }; do
    case "$cell" in
    calibrate) run_calibrate ;;
    two-flows) run_two_flows ;;
    fair-share) run_fair_share ;;
    *) run_grid_cell "$cell" ;;
    esac
    # The raw figures beside the table: the link's series, the runs' times and outputs.
    rm -rf "${OUT:?}/$cell"
    mkdir -p "$OUT/$cell"
    (cd "$WORK/$cell" && find . -type f \( -name '*.csv' -o -name '*.dat' -o -name '*.json' \
        -o -name '*.result' -o -name '*.times' -o -name '*.out' -o -name '*.err' \) \
        -exec cp --parents {} "$OUT/$cell/" \;)
done

{
    echo "# WAN bench, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "Link: $RATE_MBIT Mbit/s each way, MTU 1500, queue one BDP, random loss both ways."
    echo "Ours: $SIZE file, AES-128, CLI defaults${RATE_CONTROL:+, --rate-control $RATE_CONTROL}; TCP: iperf3 ${TCP_SECONDS} s."
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Device drops: packets a TUN device dropped before the link read them (the link was not"
    echo "scheduled in time); they are loss the link did not choose, so a cell with many is suspect."
    if ((${#CAL_ROWS[@]})); then
        echo
        echo "## The link carries its rate (TCP alone, no loss; target ≥ 90% of the rate)"
        echo
        echo "| RTT | CUBIC Mbit/s | | BBR Mbit/s | | random drops | device drops |"
        echo "|---|---|---|---|---|---|---|"
        printf '%s\n' "${CAL_ROWS[@]}"
    fi
    if ((${#GRID_ROWS[@]})); then
        echo
        echo "## Grid (wall-clock goodput, Mbit/s; drops and repairs during our transfers)"
        echo
        echo "| RTT / loss | ours 1st | target 1st | ours 2nd | target 2nd | TCP CUBIC | TCP BBR | random drops A→B, 1st run (measured loss) | queue drops A→B 1st / 2nd | repaired bytes 1st / 2nd | repairs ≤ 1.1 × random-drop bytes | device drops, whole cell |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${GRID_ROWS[@]}"
    fi
    if ((${#PAIR_ROWS[@]})); then
        echo
        echo "## Two of our flows on one bottleneck (target: within 20% of each other)"
        echo
        echo "| path | flow 1 Mbit/s | flow 2 Mbit/s | ratio | |"
        echo "|---|---|---|---|---|"
        printf '%s\n' "${PAIR_ROWS[@]}"
    fi
    if ((${#FAIR_ROWS[@]})); then
        echo
        echo "## Ours beside one TCP CUBIC flow (default policy ≥ 0.9 × fair share; fair policy 0.5–2× CUBIC)"
        echo
        echo "| path | rate control | ours Mbit/s | CUBIC Mbit/s during ours | ours / CUBIC | ≥ 0.9 × fair share | 0.5–2× |"
        echo "|---|---|---|---|---|---|---|"
        printf '%s\n' "${FAIR_ROWS[@]}"
    fi
} >"$OUT/results.md"
cat "$OUT/results.md"
log "table and plots in $OUT"
