#!/usr/bin/env bash
# Delivery under single faults, each with the defaults the gateway ships with (no attempt
# deadline is set): every request is answered exactly once, with the right answer, and long
# before the gateway's request deadline.
#   1. kill -9 of a replica whose outbox holds frames: they are re-issued at once (they are in its
#      heartbeats) or within a few censuses, not at timeout_ms;
#   2. kill -9 of the gateway under load: its journal carries the requests over, `gotflow submit`
#      sends the unanswered ones again when it reconnects, each gets its one answer;
#   3. kill -9 of the supervisor under load, started again by hand: its replicas are replaced, the
#      gateway's journal carries the requests over;
#   4. a backlog at the gateway does not start attempt clocks: 300 requests through a slow stage
#      are never re-sent, and the first stage does each request's work once.
. "$(dirname "$0")/lib.sh"

# check_answers FILE N: N answers, each id once, each a result with x = (i + 1) * 2 + 3
check_answers() {
    $PY - "$1" "$2" <<'PY'
import json, sys, collections
count = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["kind"] == "result", r
    assert r["x"] == (int(r["id"][1:]) + 1) * 2 + 3, r
    count[r["id"]] += 1
n = int(sys.argv[2])
assert len(count) == n, "answered %d of %d" % (len(count), n)
assert max(count.values()) == 1, "answered twice: %s" % [k for k, v in count.items() if v > 1]
PY
}

graph() { # graph NAME SLOW_US [GATEWAY_PARAMS]
    cat >"$work/$1.yaml" <<YAML
name: $1
supervisor: {heartbeat_ms: 100, heartbeat_timeout_ms: 2000}
stages:
  gateway: {kind: gateway, params: {timeout_ms: 120000${3:+, $3}}}
  a: {kind: test-transform, params: {add: 1}}
  b: {kind: test-transform, credits: 2, params: {mul: 2, delay_us: $2}}
  c: {kind: test-transform, params: {add: 3}}
  sink: {kind: sink}
YAML
}

# 1. a replica dies with frames in its outbox (b is slow, so a's outbox fills)
graph outbox 20000
start_pipeline "$work/outbox.yaml"
run_dir=$GOTFLOW_RUN_ROOT/outbox
requests 100 >"$work/req.jsonl"
t0=$(date +%s)
gotflow submit "$work/outbox.yaml" "$work/req.jsonl" --window 100 --timeout 100 >"$work/out1.jsonl" &
submit_pid=$!
seen=0
for _ in $(seq 100); do
    outbox=$(status_json "$work/outbox.yaml" | $PY -c '
import json, sys
print([r for r in json.load(sys.stdin)["replicas"] if r["stage"] == "a"][0].get("outbox", 0))')
    if [ "$outbox" -ge 2 ]; then seen=$outbox; break; fi
    sleep 0.05
done
[ "$seen" -ge 2 ] || fail "a's outbox never filled"
kill -9 "$(cat "$run_dir/a.0.pid")"
wait $submit_pid || fail "submit failed after the kill"
took=$(($(date +%s) - t0))
check_answers "$work/out1.jsonl" 100 || fail "wrong answers after killing a with $seen in its outbox"
[ $took -lt 30 ] || fail "took $took s: lost frames waited for a deadline"
grep -q "lost with replica a.0" "$run_dir/gateway.0.log" || fail "the loss was not reported"
grep -q "a.0 (pid .*) was killed by signal 9; restarting in 0 ms" "$work/supervisor.log" ||
    fail "a stage with one replica was not restarted at once"
echo "1. killed a.0 with $seen frames in its outbox: 100 answered once in $took s"
stop_pipeline

# 2. the gateway dies under load
graph gwkill 5000
start_pipeline "$work/gwkill.yaml"
run_dir=$GOTFLOW_RUN_ROOT/gwkill
gotflow submit "$work/gwkill.yaml" "$work/req.jsonl" --window 100 --timeout 60 >"$work/out2.jsonl" \
    2>"$work/submit2.err" &
submit_pid=$!
sleep 0.3
gw=$(cat "$run_dir/gateway.0.pid")
kill -9 "$gw"
wait $submit_pid || fail "submit failed after the gateway was killed: $(cat "$work/submit2.err")"
check_answers "$work/out2.jsonl" 100 || fail "wrong answers after killing the gateway"
grep -q "carried over" "$run_dir/gateway.0.log" || fail "the new gateway did not read the journal"
grep -q "sent .* unanswered requests again" "$work/submit2.err" || fail "submit did not resubmit"
echo "2. killed the gateway under load: 100 answered once; $(grep -c . "$work/out2.jsonl") lines"
stop_pipeline

# 3. the supervisor dies under load; a new one replaces its replicas
graph supkill 5000
start_pipeline "$work/supkill.yaml"
run_dir=$GOTFLOW_RUN_ROOT/supkill
gotflow submit "$work/supkill.yaml" "$work/req.jsonl" --window 100 --timeout 60 >"$work/out3.jsonl" \
    2>"$work/submit3.err" &
submit_pid=$!
sleep 0.3
kill -9 "$sup_pid"
wait "$sup_pid" 2>/dev/null || true
start_pipeline "$work/supkill.yaml"
wait $submit_pid || fail "submit failed after the supervisor was killed: $(cat "$work/submit3.err")"
check_answers "$work/out3.jsonl" 100 || fail "wrong answers after killing the supervisor"
echo "3. killed the supervisor under load: 100 answered once"
stop_pipeline
no_orphans "$run_dir" || fail "replicas of the killed supervisor are still running"

# 4. a backlog at the gateway: 300 requests at once through b (4 ms each, 2 credits), about 1.2 s
#    of work, with a fixed attempt deadline of 0.5 s: it counts from when each frame leaves
graph backlog 4000 "attempt_timeout_ms: 500"
start_pipeline "$work/backlog.yaml"
run_dir=$GOTFLOW_RUN_ROOT/backlog
requests 300 >"$work/req300.jsonl"
gotflow submit "$work/backlog.yaml" "$work/req300.jsonl" --window 300 --timeout 60 >"$work/out4.jsonl"
check_answers "$work/out4.jsonl" 300 || fail "wrong answers with a backlog"
! grep -q "sending attempt" "$run_dir/gateway.0.log" ||
    fail "attempts re-sent without a fault: $(grep -c "sending attempt" "$run_dir/gateway.0.log")"
for _ in $(seq 20); do # counters come with heartbeats
    received=$(status_json "$work/backlog.yaml" | $PY -c '
import json, sys
print([r for r in json.load(sys.stdin)["replicas"] if r["stage"] == "a"][0]["received"])')
    [ "$received" -lt 300 ] || break
    sleep 0.1
done
[ "$received" = 300 ] || fail "stage a received $received frames for 300 requests"
echo "4. a backlog of 300: no attempt re-sent, a did 300 requests' work"
stop_pipeline
