#!/usr/bin/env bash
# Nothing lost: 1,000 requests through a pipeline with 3 replicas per middle stage while a chaos
# loop kills a random middle replica with SIGKILL every second. The supervisor restarts each one
# and tells the gateway which requests it held; those, and any lost on the way (attempt
# deadline), are sent again with the next attempt number. Every request is answered exactly
# once, with the right result.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: chaos
supervisor: {heartbeat_ms: 100, heartbeat_timeout_ms: 2000, restart_backoff_ms: 50}
stages:
  gateway: {kind: gateway, params: {attempt_timeout_ms: 3000, max_attempts: 20, timeout_ms: 120000}}
  a: {kind: test-transform, replicas: 3, params: {add: 1, delay_us: 20000}}
  b: {kind: test-transform, replicas: 3, params: {mul: 2, delay_us: 20000}}
  c: {kind: test-transform, replicas: 3, params: {add: 3, delay_us: 20000}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
run_dir=$GOTFLOW_RUN_ROOT/chaos
requests 1000 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --window 200 --timeout 120 >"$work/out.jsonl" &
submit_pid=$!
kills=0
while kill -0 $submit_pid 2>/dev/null; do
    sleep 1
    victim=$(ls "$run_dir"/[abc].[012].pid | shuf -n 1)
    pid=$(cat "$victim")
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
done
wait $submit_pid || fail "submit failed: $(grep -c . "$work/out.jsonl") answers"
echo "killed $kills replicas"
[ $kills -ge 3 ] || fail "the chaos loop killed only $kills replicas; the run was too short to judge"
$PY - "$work/out.jsonl" <<'PY'
import json, sys, collections
count, wrong, attempts = collections.Counter(), 0, collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["kind"] == "result", r
    count[r["id"]] += 1
    if r["x"] != (int(r["id"][1:]) + 1) * 2 + 3:
        wrong += 1
    attempts[r["n"]] += 1
assert len(count) == 1000, "answered %d of 1000" % len(count)
assert max(count.values()) == 1, "answered twice: %s" % [k for k, v in count.items() if v > 1]
assert wrong == 0, "%d wrong results" % wrong
print("all 1000 answered once; answers by attempt number:", dict(sorted(attempts.items())))
PY
grep -c "restarting in" "$work/supervisor.log"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
