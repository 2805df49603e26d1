#!/usr/bin/env bash
# The gateway's key limit is the one the whole pipeline can carry (GF_REQUEST_MAX_KEYS,
# docs/protocol.md): a request of that many keys goes through every GoT-R1 stage to a result,
# and one more key is refused at the gateway, answered under the request's own id.
. "$(dirname "$0")/lib.sh"
cd "$top"
mkmodel --out "$work/ck" --vq-ch 32 --image-size 128 --patch-size 16 >/dev/null
sed "s|^model:.*|model: \"$work/ck\"|" pipelines/got-r1-cpu.yaml >"$work/g.yaml"
start_pipeline "$work/g.yaml"
# the limit as the gateway states it, from a request far over it
$PY -c 'print(__import__("json").dumps({"id": "big", "text": "x", **{"x%d" % i: i for i in range(70)}}))' |
    gotflow submit "$work/g.yaml" >"$work/big.jsonl" || true
max=$(jq -r '.message' "$work/big.jsonl" | sed -n 's/.*at most \([0-9]*\) keys.*/\1/p')
[ -n "$max" ] && [ "$max" -gt 8 ] && [ "$max" -lt 64 ] || fail "no key limit stated: $(cat "$work/big.jsonl")"
jq -e '.id == "big"' "$work/big.jsonl" >/dev/null || fail "not answered under the request's id: $(cat "$work/big.jsonl")"
$PY - "$max" >"$work/req.jsonl" <<'PY'
import json, sys
m = int(sys.argv[1])
for rid, n in (("full", m), ("over", m + 1)):
    r = {"id": rid, "kind": "prompt", "text": "a red circle", "params": {"seed": 1, "max_tokens": 8}}
    for i in range(n - len(r)):
        r["x%d" % i] = i
    assert len(r) == n
    print(json.dumps(r))
PY
gotflow submit "$work/g.yaml" "$work/req.jsonl" --timeout 120 >"$work/out.jsonl" || true
$PY - "$work/out.jsonl" "$max" <<'PY'
import json, sys
ans = {}
for l in open(sys.argv[1]):
    a = json.loads(l)
    ans[a["id"]] = a
full, over = ans.get("full"), ans.get("over")
assert full and full["kind"] == "result" and full.get("png"), "the request of %s keys: %s" % (sys.argv[2], str(full)[:300])
assert over and over["kind"] == "error" and over["code"] == "ESCHEMA", over
assert "at most %s keys" % sys.argv[2] in over["message"], over
print("%s keys: a result; one more: refused at the gateway under its id" % sys.argv[2])
PY
stop_pipeline
