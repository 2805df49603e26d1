#!/usr/bin/env bash
# The GPU check harness checking itself without a GPU: tests/gpu/run.sh with the CPU backend
# standing in for CUDA passes (every ops group in both modes, the loop, the decode timings), and a
# deliberately broken op (GF_CHECK_BREAK, a test-only switch) makes it fail with the index of the
# perturbed element, in the log and in summary.txt; a section that dies is reported and the
# sections after it still run.
. "$(dirname "$0")/lib.sh"
check=$build/gpu/check
[ -x "$check" ] || skip "'$check' is not built"
export GOTFLOW_CHECK_BACKEND=cpu GPU_CHECK_BUILD=0 GOTFLOW_BUILD=${GOTFLOW_BUILD:-build}
export GF_CHECK_POSITIONS=64 GPU_CHECK_SEED=12345
run() { OUT=$work/$1 "$top/tests/gpu/run.sh" "${@:2}" >"$work/$1.out" 2>&1; }

# 1. everything asked passes
run pass ops loop:f32 time:decode || { cat "$work/pass.out"; fail "run.sh failed with the stand-in"; }
sum=$work/pass/summary.txt
grep -q '^gpu check: preflight ok; models ok; ops ok; loop ok; time ok;' "$sum" ||
    fail "unexpected summary: $(cat "$sum")"
grep -qx '(none)' "$sum" || fail "FAIL lines in a passing run: $(cat "$sum")"
grep -q '^ops: 34 sections, 0 failed$' "$work/pass/gpu.log" || fail "not every ops group ran"
for g in attention-edges attention-wide gemv-tails conv-paths group-norm sample-edges weights staging; do
    grep -q "^ops bf16 $g: [1-9][0-9]* checks, 0 failed\$" "$work/pass/gpu.log" || fail "no $g group"
done
grep -q '^ops bf16 attention-long: 4 checks, 0 failed$' "$work/pass/gpu.log" ||
    fail "no attention past 48 KiB in bf16 mode"
grep -q 'decode: 16 CFG pairs at 64 positions' "$work/pass/gpu.log" || fail "no 32-row decode row"

# 2. one element of the attention output perturbed: that group fails with the index
GF_CHECK_BREAK=attention@5 run brk ops:bf16:attention && fail "a broken attention passed"
grep -q '^  attention   FAIL detail: 1 of [0-9]* over tolerance; worst \[5\] got .* first \[5\] got' \
    "$work/brk/summary.txt" || fail "no index in the summary: $(cat "$work/brk/summary.txt")"
grep -q 'ops: FAIL (1)' "$work/brk/summary.txt" || fail "the ops phase did not fail"

# 3. a broken image token of the loop and a broken draw are caught too
"$build/gpu/mkmodel" --out "$work/tiny" --vq-ch 32 >/dev/null
GF_CHECK_BREAK=loop@7 "$check" loop "$work/tiny" f32 >"$work/loop.out" 2>&1 &&
    fail "a broken loop token passed"
grep -q 'FAIL: .*first difference: text -1, image 7' "$work/loop.out" ||
    fail "no token index: $(cat "$work/loop.out")"
GF_CHECK_BREAK=sample@3 "$check" ops 1 f32 sample >"$work/sample.out" 2>&1 &&
    fail "a broken draw passed"
grep -q 'first difference: draw 3' "$work/sample.out" || fail "no draw index: $(cat "$work/sample.out")"

# a copy through the pinned staging slots, perturbed: its index is named
GF_CHECK_BREAK=staging@4100 "$check" ops 1 f32 staging >"$work/stage.out" 2>&1 &&
    fail "a broken staged copy passed"
grep -q 'staging *FAIL detail: 1 of 20480 over tolerance; worst \[4100\]' "$work/stage.out" ||
    fail "no copy index: $(cat "$work/stage.out")"

# 4. a section that dies: reported by signal, the next section still runs
GF_CHECK_BREAK=crash@rows "$check" ops 1 f32 >"$work/crash.out" 2>&1 && fail "a crash passed"
grep -q 'ops f32 rows: FAIL killed by signal 6' "$work/crash.out" || fail "$(cat "$work/crash.out")"
grep -q '^ops f32 elementwise: 5 checks, 0 failed$' "$work/crash.out" ||
    fail "the sections after the crash did not run"
grep -q '^ops: 17 sections, 1 failed: ops f32 rows$' "$work/crash.out" || fail "$(tail -1 "$work/crash.out")"
echo "the GPU harness passes with the CPU standing in and fails on a broken op with its index"
