#!/usr/bin/env bash
# The continuous-batching core (common/engine/batch.h) on a stage without a model: 60 requests
# of mixed sizes through 2 replicas holding up to 6 requests each are all answered, each after
# its running steps; prefills join in admission order, in chunks of at most `chunk` tokens, and
# the KV rows held never pass the stage's; a refused request and a request whose step fails get
# error frames while the others go through.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: batch
stages:
  gateway: {kind: gateway}
  b: {kind: test-batch, replicas: 2, batch: 6, params: {chunk: 3, kv_rows: 5}}
  sink: {kind: sink}
edges: [gateway -> b -> sink]
YAML
start_pipeline "$work/p.yaml"
python3 - >"$work/req.jsonl" <<'PY'
import json
for i in range(60):
    r = {"id": "r%d" % i, "x": i, "prompt": 1 + i % 7, "steps": 1 + i % 5, "rows": 1 + i % 3}
    if i == 17:
        r["bad"] = 1
    if i == 41:
        r["fail_step"] = 1
    print(json.dumps(r))
PY
# two requests are answered with errors, so submit exits 1: the answers are checked below
gotflow submit "$work/p.yaml" "$work/req.jsonl" --timeout 60 >"$work/out.jsonl" || true
python3 - "$work/out.jsonl" <<'PY'
import json, sys, collections
seen, per_replica = {}, collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    i = int(r["id"][1:])
    assert i not in seen, "answered twice: %s" % r["id"]
    seen[i] = r
assert len(seen) == 60, "answered %d of 60" % len(seen)
assert seen[17]["kind"] == "error", seen[17]
assert seen[41]["kind"] == "error" and "test step failed" in json.dumps(seen[41]), seen[41]
failed_with_41 = 0
for i, r in seen.items():
    if i in (17, 41):
        continue
    if r["kind"] == "error" and "test step failed" in json.dumps(r) or \
            "test prefill failed" in json.dumps(r):
        failed_with_41 += 1  # it was running, or prefilling, in the failing step
        continue
    assert r["kind"] == "result", r
    assert r["steps_done"] == 1 + i % 5, r
    assert 1 <= r["max_chunk"] <= 3, r
    assert r["max_rows"] <= 5, r
    rep = [t[1] for t in r["trace"] if t[0] == "b"][0]
    per_replica[rep].append((r["admitted"], r["joined"]))
assert failed_with_41 <= 6, "%d requests failed with r41's step" % failed_with_41
for rep, pairs in per_replica.items():
    pairs.sort()
    joined = [j for _, j in pairs]
    assert joined == sorted(joined), "replica %s: joins out of admission order: %s" % (rep, pairs)
print("answered 60; per replica:", {k: len(v) for k, v in per_replica.items()})
PY
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
