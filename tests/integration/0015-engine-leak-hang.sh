#!/usr/bin/env bash
# A stage that leaks or hangs is detected and replaced without losing requests: a replica whose
# memory passes supervisor.max_rss_mb, and one that stops answering (missed heartbeats), are
# killed and restarted; the requests they held are sent again and every request is answered
# exactly once, correctly.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: leakhang
supervisor: {heartbeat_ms: 100, heartbeat_timeout_ms: 1000, restart_backoff_ms: 50, max_rss_mb: 48}
stages:
  gateway: {kind: gateway, params: {attempt_timeout_ms: 5000, max_attempts: 10}}
  leaky: {kind: test-transform, replicas: 2, params: {add: 1, leak_kb: 256, delay_us: 2000}}
  b: {kind: test-transform, replicas: 2, params: {mul: 2}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
requests 600 >"$work/req.jsonl"
echo "{\"id\": \"stuck\", \"x\": 5, \"hang\": \"b\", \"once\": \"$work/hung-once\"}" >>"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --window 100 --timeout 60 >"$work/out.jsonl" ||
    fail "not every request answered: $(grep -c . "$work/out.jsonl")"
$PY - "$work/out.jsonl" <<'PY'
import json, sys, collections
count = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["kind"] == "result", r
    count[r["id"]] += 1
    i = 5 if r["id"] == "stuck" else int(r["id"][1:])
    assert r["x"] == (i + 1) * 2, r
assert len(count) == 601 and max(count.values()) == 1, (len(count), max(count.values()))
print("all 601 answered once")
PY
[ -e "$work/hung-once" ] || fail "the hang never happened"
grep -q "over supervisor.max_rss_mb" "$work/supervisor.log" || fail "the leak was not caught"
grep -q "missed its heartbeats" "$work/supervisor.log" || fail "the hang was not caught"
grep -c "replacing it\|missed its heartbeats" "$work/supervisor.log"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
