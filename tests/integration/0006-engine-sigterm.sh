#!/usr/bin/env bash
# SIGTERM during load: the requests in flight finish and are answered, new ones are refused
# with EDRAINING, then every process exits (exit status 0) and no stage process is left behind.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: term
stages:
  gateway: {kind: gateway}
  a: {kind: test-transform, params: {add: 1}}
  b: {kind: test-transform, replicas: 2, params: {mul: 2, delay_us: 10000}}
  c: {kind: test-transform, params: {add: 3}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
run_dir=$GOTFLOW_RUN_ROOT/term
requests 300 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --window 300 >"$work/out.jsonl" &
submit_pid=$!
sleep 0.5 # all 300 are in the gateway's journal; about 100 are done (2 x 100/s)
stop_pipeline &
stopper=$!
sleep 0.3
set +e
echo '{"id": "late", "x": 1}' | gotflow submit "$work/p.yaml" --timeout 5 >"$work/late.jsonl"
set -e
wait $stopper
wait $submit_pid || fail "some requests in flight were not answered: $(wc -l <"$work/out.jsonl") of 300"
grep -q '"EDRAINING"' "$work/late.jsonl" || fail "a request during the drain was not refused: $(cat "$work/late.jsonl")"
$PY - "$work/out.jsonl" <<'PY'
import json, sys
ids = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["kind"] == "result" and r["x"] == (int(r["id"][1:]) + 1) * 2 + 3, r
    ids.add(r["id"])
assert len(ids) == 300, len(ids)
PY
wait $sup_pid 2>/dev/null || true
grep -q "drained; stopping" "$work/supervisor.log" || fail "no drain in the log"
no_orphans "$run_dir" || fail "stage processes left behind"
pgrep -f "$run_dir" && fail "processes still mention the run directory"
true
