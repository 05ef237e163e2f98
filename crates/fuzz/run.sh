#!/usr/bin/env bash
# Runs every fuzz target in turn (one job at a time) from its seed corpus, corpus/<target>/.
#
#   crates/fuzz/run.sh SECONDS                   each target for SECONDS
#   crates/fuzz/run.sh SECONDS RUNS              each for SECONDS or RUNS executions, whichever
#                                                ends first (CI; -1: no limit)
#   crates/fuzz/run.sh SECONDS RUNS TARGET...    only these targets
#
# Needs the nightly toolchain and cargo-fuzz. Targets are built without a sanitizer: the code
# they reach (jetstream-wire, the store's blob codec) has no `unsafe`, and debug assertions and
# overflow checks stay on. New inputs go to target/corpus/<target>/ (kept between runs, never
# committed), crashes to artifacts/<target>/. One line per target:
#   fuzz <target>: <runs> runs in <s> s, <n> exec/s, cov <edges>, corpus <inputs>/<size>, ok|FAILED
# (the corpus as libFuzzer holds it at the end: seeds and new inputs, minus redundant ones).
# Exits non-zero when a target failed.
set -uo pipefail

seconds="${1:?usage: run.sh SECONDS [RUNS [TARGET...]]}"
runs="${2:--1}"
shift $(($# < 2 ? $# : 2))
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$dir/../.."
fuzz=(cargo +nightly fuzz)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
"${fuzz[@]}" build --fuzz-dir crates/fuzz -s none || exit 1

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir crates/fuzz)
fi
failed=0
for target in "${targets[@]}"; do
  work="crates/fuzz/target/corpus/$target"
  log="crates/fuzz/target/$target.log"
  mkdir -p "$work"
  "${fuzz[@]}" run --fuzz-dir crates/fuzz -s none "$target" "$work" "crates/fuzz/corpus/$target" \
    -- -max_total_time="$seconds" -runs="$runs" -print_final_stats=1 >"$log" 2>&1
  status=$?
  total=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
  took=$(awk '/^Done [0-9]+ runs in/ { print $5 }' "$log")
  rate=$(awk '/^stat::average_exec_per_sec:/ { print $2 }' "$log")
  read -r cov corpus < <(awk '/^#[0-9]+[ \t]+DONE/ { print $4, $8 }' "$log")
  verdict=ok
  if ((status != 0)); then
    verdict=FAILED
    failed=1
    tail -n 40 "$log"
  fi
  echo "fuzz $target: ${total:-?} runs in ${took:-?} s, ${rate:-?} exec/s, cov ${cov:-?}, corpus ${corpus:-?}, $verdict"
done
exit "$failed"
