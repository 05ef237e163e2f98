# shellcheck shell=bash
# Goodput series and plots for bench/wan.sh, from the link's own counters. Sourced, never run.

# series_slice CSV FROM TO OUT: the A-to-B goodput (Mbit/s) the link delivered between the unix
# times FROM and TO, one "seconds-since-FROM rate" line per sample, into OUT.
series_slice() {
    awk -F, -v from="$2" -v to="$3" 'NR > 1 && $1 >= from - 0.2 && $1 <= to + 0.2 {
        if (seen) printf "%.2f %.1f\n", $1 - from, ($3 - bytes) * 8 / ($1 - t) / 1e6
        t = $1; bytes = $3; seen = 1
    }' "$1" >"$4"
}

# counters_at CSV TIME: the series line last written at or before unix TIME.
counters_at() {
    awk -F, -v at="$2" 'NR > 1 && $1 <= at { line = $0 } END { print line }' "$1"
}

# counter_delta BEFORE AFTER COLUMN: AFTER's value minus BEFORE's in the 1-based CSV COLUMN.
counter_delta() {
    awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { split(a, x, ","); split(b, y, ","); print y[c] - x[c] }'
}

# plot_cell PNG TITLE RATE_MBIT LABEL=FILE...: goodput over time of each run, on one chart.
plot_cell() {
    local png=$1 title=$2 rate=$3
    shift 3
    local plots=() spec
    for spec in "$@"; do
        [[ -s "${spec#*=}" ]] || continue
        plots+=("'${spec#*=}' using 1:2 with lines lw 2 title '${spec%%=*}'")
    done
    ((${#plots[@]})) || return 0
    local joined
    joined=$(printf '%s, ' "${plots[@]}")
    gnuplot <<GP
set terminal pngcairo size 900,500 font 'sans,10'
set output '$png'
set title '$title'
set xlabel 'seconds since the run started'
set ylabel 'goodput at the link, Mbit/s'
set yrange [0:$rate * 1.1]
set grid
set key outside right top
plot ${joined} $rate with lines dt 2 lc rgb 'gray' title 'link rate'
GP
}
