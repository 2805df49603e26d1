#!/usr/bin/env bash
# A 3-stage graph with 3 replicas of the middle stage carries 2,000 requests: every result is
# correct and each middle replica handled at least 20% of them.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: three
stages:
  gateway: {kind: gateway}
  a: {kind: test-transform, params: {add: 1}}
  b: {kind: test-transform, replicas: 3, params: {mul: 2}}
  c: {kind: test-transform, params: {add: 3}}
  sink: {kind: sink}
edges: [gateway -> a -> b -> c -> sink]
YAML
start_pipeline "$work/p.yaml"
requests 2000 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --timeout 30 >"$work/out.jsonl"
python3 - "$work/out.jsonl" <<'PY'
import json, sys, collections
seen, share, wrong = set(), collections.Counter(), 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["kind"] == "result", r
    i = int(r["id"][1:])
    assert i not in seen, "answered twice: %s" % r["id"]
    seen.add(i)
    if r["x"] != (i + 1) * 2 + 3:
        wrong += 1
    share.update(t[1] for t in r["trace"] if t[0] == "b")
assert len(seen) == 2000, "answered %d of 2000" % len(seen)
assert wrong == 0, "%d wrong results" % wrong
print("replica shares:", dict(share))
for rep in range(3):
    assert share[rep] >= 400, "replica b.%d handled only %d" % (rep, share[rep])
PY
# A line whose id the gateway could answer only as "-" is refused by submit itself, with its line
# number, and the others are answered: no wait for an answer that cannot come back.
printf '{"id":"p1","x":1}\n{"id":"a@1","x":2}\n{"id":7,"x":3}\n{"id":"p2","x":4}\n' >"$work/bad.jsonl"
rc=0
timeout 20 gotflow submit "$work/p.yaml" "$work/bad.jsonl" --timeout 10 >"$work/bad.out" \
    2>"$work/bad.err" || rc=$?
[ "$rc" = 1 ] || fail "submit with bad ids: exit status $rc, $(cat "$work/bad.err")"
grep -q "line 2: 'id' must be" "$work/bad.err" && grep -q "line 3: 'id' must be" "$work/bad.err" ||
    fail "submit did not name the lines with bad ids: $(cat "$work/bad.err")"
[ "$(grep -c '"kind":"result"' "$work/bad.out")" = 2 ] || fail "the good lines were not answered"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
