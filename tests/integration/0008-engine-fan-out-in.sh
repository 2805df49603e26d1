#!/usr/bin/env bash
# Fan-out and fan-in by request id: a feeds both b (2 replicas) and c; the sink joins the two
# branches of each request before answering, so every result carries both branches' work.
# An error on one branch ends its request with that error, once.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: diamond
stages:
  gateway: {kind: gateway}
  a: {kind: test-transform, params: {add: 1}}
  b: {kind: test-transform, replicas: 2, params: {mul: 2, out: xb}}
  c: {kind: test-transform, params: {mul: 3, out: xc}}
  sink: {kind: sink, replicas: 2}
edges: [gateway -> a, a -> b -> sink, a -> c -> sink]
YAML
start_pipeline "$work/p.yaml"
requests 500 >"$work/req.jsonl"
echo '{"id": "oops", "x": 1, "fail": "c"}' >>"$work/req.jsonl"
set +e
gotflow submit "$work/p.yaml" "$work/req.jsonl" --timeout 20 >"$work/out.jsonl"
set -e
$PY - "$work/out.jsonl" <<'PY'
import json, sys
ids = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["id"] not in ids, "answered twice: " + r["id"]
    ids.add(r["id"])
    if r["id"] == "oops":
        assert r["kind"] == "error" and r["stage"] == "c", r
        continue
    i = int(r["id"][1:])
    assert r["kind"] == "result", r
    assert r["xb"] == (i + 1) * 2 and r["xc"] == (i + 1) * 3, r
    stages = [t[0] for t in r["trace"]]
    assert "b" in stages and "c" in stages, stages
assert len(ids) == 501, len(ids)
PY
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
