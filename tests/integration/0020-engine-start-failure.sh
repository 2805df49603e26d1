#!/usr/bin/env bash
# What a user meets when a pipeline cannot start or is not running:
#   - a stage parameter out of range is refused by `gotflow check` and `gotflow run` at its
#     file:line:column, and nothing starts;
#   - a stage whose init fails stops the pipeline at once (no replica left to time out), and the
#     summary line carries the stage's own reason, not only an error code;
#   - `gotflow status --wait-ready` on a pipeline whose supervisor stops says so at once;
#   - `gotflow submit` to a pipeline whose supervisor died says so at once.
. "$(dirname "$0")/lib.sh"

cat >"$work/chunk.yaml" <<'YAML'
name: chunk
stages:
  reason: {kind: reason, params: {chunk: 0}}
YAML
set +e
gotflow check "$work/chunk.yaml" >"$work/check.log" 2>&1
check_rc=$?
gotflow run "$work/chunk.yaml" >"$work/run-chunk.log" 2>&1
run_rc=$?
set -e
[ $check_rc != 0 ] || fail "gotflow check accepts 'chunk: 0'"
grep -q "chunk.yaml:3:42: stage 'reason': parameter 'chunk' must be between 1 and" "$work/check.log" ||
    fail "check does not say where and why: $(cat "$work/check.log")"
[ $run_rc != 0 ] || fail "gotflow run starts a graph with 'chunk: 0'"
grep -q "parameter 'chunk' must be between" "$work/run-chunk.log" ||
    fail "run does not explain: $(cat "$work/run-chunk.log")"
[ ! -d "$GOTFLOW_RUN_ROOT/chunk" ] || [ -z "$(ls "$GOTFLOW_RUN_ROOT/chunk"/*.pid 2>/dev/null)" ] ||
    fail "replicas were started for a graph that does not load"

cat >"$work/q.yaml" <<'YAML'
name: cannot-start
stages:
  gateway: {kind: gateway}
  a: {kind: test-transform}
  reason: {kind: reason, params: {model: /nonexistent/checkpoint}}
  sink: {kind: sink}
YAML
start=$(date +%s%N)
set +e
gotflow run "$work/q.yaml" >"$work/q.log" 2>&1
rc=$?
set -e
took_ms=$((($(date +%s%N) - start) / 1000000))
[ $rc = 4 ] || fail "exit status $rc for a stage that cannot start, wanted 4: $(cat "$work/q.log")"
grep -q "reason.0 failed at init: cannot open the checkpoint '/nonexistent/checkpoint'" "$work/q.log" ||
    fail "the summary does not carry the stage's reason: $(cat "$work/q.log")"
! grep -q "did not stop in time" "$work/q.log" || fail "a replica was left to time out: $(cat "$work/q.log")"
[ $took_ms -lt 3000 ] || fail "a failed start took $took_ms ms to stop"

# the same start, with a waiter as scripts write it: `gotflow run &` then `status --wait-ready`
gotflow run "$work/q.yaml" >"$work/q2.log" 2>&1 &
bg=$!
start=$(date +%s)
set +e
gotflow status "$work/q.yaml" --wait-ready --timeout 60 >"$work/wait.out" 2>"$work/wait.err"
rc=$?
set -e
wait $bg 2>/dev/null || true
[ $rc = 1 ] || fail "status --wait-ready on a pipeline that stopped: exit $rc"
[ $(($(date +%s) - start)) -lt 10 ] || fail "status --wait-ready waited for a supervisor that is gone"
grep -q "stopped before every replica was ready" "$work/wait.err" ||
    fail "status --wait-ready does not say why: $(cat "$work/wait.err")"

cat >"$work/p.yaml" <<'YAML'
name: orphan
stages:
  a: {kind: test-transform}
YAML
start_pipeline "$work/p.yaml"
kill -9 "$sup_pid"
wait "$sup_pid" 2>/dev/null || true
dead=$sup_pid
sup_pid=
start=$(date +%s)
set +e
echo '{"x": 1}' | gotflow submit "$work/p.yaml" --timeout 60 >"$work/out.jsonl" 2>"$work/submit.err"
rc=$?
set -e
[ $rc = 1 ] || fail "submit to a dead pipeline: exit $rc"
[ $(($(date +%s) - start)) -lt 10 ] || fail "submit waited for a supervisor that is gone"
grep -q "the pipeline's supervisor (pid $dead) is not running; start it with 'gotflow run" \
    "$work/submit.err" || fail "submit does not say why: $(cat "$work/submit.err")"
echo "failed start stopped in $took_ms ms; submit to a dead supervisor refused"
