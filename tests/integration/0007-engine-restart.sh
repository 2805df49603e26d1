#!/usr/bin/env bash
# A replica that crashes is restarted with back-off; one that stops answering misses its
# heartbeats, is killed and restarted; the pipeline serves again afterwards. A stage that cannot
# start (its program fails at init) stops the pipeline with exit status 4.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: restart
supervisor: {heartbeat_ms: 100, heartbeat_timeout_ms: 1000, restart_backoff_ms: 50}
stages:
  gateway: {kind: gateway, params: {timeout_ms: 1500, max_attempts: 1}}
  a: {kind: test-transform, params: {add: 1}}
  b: {kind: test-transform, params: {mul: 2}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
run_dir=$GOTFLOW_RUN_ROOT/restart
pid0=$(cat "$run_dir/b.0.pid")
# the request dies with the replica, which crashed: with max_attempts 1 it is not tried again (a
# request that crashes its replica must not crash it for ever); the gateway answers ETIMEDOUT
echo '{"id": "boom", "x": 1, "crash": "b"}' | gotflow submit "$work/p.yaml" --timeout 5 >"$work/boom.jsonl" || true
grep -q '"id":"boom".*"code":"ETIMEDOUT"' "$work/boom.jsonl" || fail "lost request not answered: $(cat "$work/boom.jsonl")" 
gotflow status "$work/p.yaml" --wait-ready --timeout 10 >/dev/null
pid1=$(cat "$run_dir/b.0.pid")
[ "$pid0" != "$pid1" ] || fail "b.0 was not restarted after its crash"
grep -q "b.0 (pid $pid0) was killed by signal 6" "$work/supervisor.log" || fail "crash not logged"

echo '{"id": "stuck", "x": 1, "hang": "b"}' | gotflow submit "$work/p.yaml" --timeout 5 || true
gotflow status "$work/p.yaml" --wait-ready --timeout 10 >/dev/null
pid2=$(cat "$run_dir/b.0.pid")
[ "$pid2" != "$pid1" ] || fail "b.0 was not restarted after hanging"
grep -q "b.0 (pid $pid1) missed its heartbeats" "$work/supervisor.log" || fail "hang not detected"

requests 50 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --timeout 10 >"$work/out.jsonl"
[ "$(wc -l <"$work/out.jsonl")" = 50 ] || fail "the pipeline does not serve after restarts"
status_json "$work/p.yaml" | grep -q '"stage":"b","kind":"test-transform","replica":0,"pid":'"$pid2"',"state":"ready","restarts":2' ||
    fail "status does not show 2 restarts: $(status_json "$work/p.yaml")"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"

# a stage whose init fails: the pipeline stops, exit status 4, the reason in the log
cat >"$work/q.yaml" <<'YAML'
name: cannot-start
stages:
  gateway: {kind: gateway, bind: "ipc:///nonexistent-dir/for/sure/gw"}
  sink: {kind: sink}
YAML
set +e
gotflow run "$work/q.yaml" >"$work/q.log" 2>&1
rc=$?
set -e
[ $rc = 4 ] || fail "exit status $rc for a stage that cannot start, wanted 4: $(cat "$work/q.log")"
grep -q "gateway.0 failed at init" "$work/q.log" || fail "the failure is not explained: $(cat "$work/q.log")"
