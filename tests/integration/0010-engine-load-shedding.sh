#!/usr/bin/env bash
# Load shedding: past the gateway's max_requests, requests are refused at once with EBUSY instead
# of waiting without bound; the ones taken are all answered, and once the load falls new
# requests are taken again.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: shed
stages:
  gateway: {kind: gateway, params: {max_requests: 50}}
  slow: {kind: test-transform, params: {mul: 2, delay_us: 5000}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
requests 300 >"$work/req.jsonl"
set +e
gotflow submit "$work/p.yaml" "$work/req.jsonl" --window 300 >"$work/out.jsonl"
set -e
$PY - "$work/out.jsonl" <<'PY'
import json, sys
ok = busy = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["kind"] == "result":
        assert r["x"] == int(r["id"][1:]) * 2, r
        ok += 1
    else:
        assert r["code"] == "EBUSY" and "max_requests" in r["message"], r
        busy += 1
print("results %d, refused EBUSY %d" % (ok, busy))
assert ok + busy == 300 and ok >= 50 and busy >= 100, (ok, busy)
PY
echo '{"id": "after", "x": 4}' | gotflow submit "$work/p.yaml" | grep -q '"x":8' || fail "not serving after the load"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
