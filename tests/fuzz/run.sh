#!/usr/bin/env bash
# run.sh — runs each libFuzzer binary given for FUZZ_SECONDS seconds (default 60) and prints one
# line per target: executions, exec/s, corpus (inputs and bytes), coverage (libFuzzer's cov: and
# ft:) and crashes. `make fuzz` calls it with every build/fuzz/fuzz_* it built.
#
#   FUZZ_SECONDS=N  seconds per target (the run stops on time, not on a count)
#   FUZZ_RUNS=N     also stop after N inputs (opt-in; unset: no cap)
#
# Seeds are read from tests/fuzz/corpus/<target>/ (see make-seeds.sh); new inputs go to
# build/fuzz/corpus/<target>/, each run's full output to build/fuzz/<target>.log, and a crash,
# leak, timeout or out-of-memory input to build/fuzz/crashes/<target>/. Exit status 1 when any
# target found one, with the reproducer's path; an input slower than 10 s (libFuzzer's slow-unit)
# is listed but does not fail the run. Run from the repository root.
set -uo pipefail
seconds=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:+-runs=$FUZZ_RUNS}
failed=()
notes=()
printf '%-18s %7s %10s %8s %7s %9s %6s %7s %7s\n' target seconds executions exec/s inputs bytes \
    cov ft crashes
for bin in "$@"; do
    name=$(basename "$bin")
    log=build/fuzz/$name.log
    crashes=build/fuzz/crashes/$name
    mkdir -p "build/fuzz/corpus/$name" "tests/fuzz/corpus/$name" "$crashes"
    dict=
    [ -f "tests/fuzz/${name#fuzz_}.dict" ] && dict=-dict=tests/fuzz/${name#fuzz_}.dict
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" $runs -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$crashes/" $dict "build/fuzz/corpus/$name" "tests/fuzz/corpus/$name" \
        >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    # the last status line: "#N DONE cov: C ft: F corp: I/Bb ..." (or "#N pulse ..." on a crash)
    status=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: //p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: //p' "$log")
    [ -n "$execs" ] || execs=$(echo "$status" | sed -n 's/^#\([0-9]*\).*/\1/p')
    cov=$(echo "$status" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$status" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$status" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
    written=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
    found=$(echo "$written" | grep -v '/slow-unit-' || true)
    slow=$(echo "$written" | grep '/slow-unit-' || true)
    n_found=$(echo -n "$found" | grep -c . || true)
    [ -z "$slow" ] || notes+=("$name: an input took $(sed -n 's/^Slowest unit: //p' "$log" |
        tail -n 1) (not a failure): $slow")
    printf '%-18s %7s %10s %8s %7s %9s %6s %7s %7s\n' "$name" "$took" "${execs:-?}" \
        "${rate:-?}" "${corp%%/*}" "${corp#*/}" "${cov:-?}" "${ft:-?}" "$n_found"
    if [ "$rc" != 0 ] || [ "$n_found" != 0 ]; then
        failed+=("$name: exit $rc, reproducer: ${found:-none written}; see $log")
    fi
done
[ ${#notes[@]} = 0 ] || printf 'slow: %s\n' "${notes[@]}"
if [ ${#failed[@]} != 0 ]; then
    printf 'FAIL: %s\n' "${failed[@]}" >&2
    echo "reproduce with: build/fuzz/<target> <reproducer> (from the repository root)" >&2
    exit 1
fi
