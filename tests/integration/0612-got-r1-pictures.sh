#!/usr/bin/env bash
# The GoT-R1 pipeline down to the pictures (… -> imagegen -> vq -> sink) on a tiny random
# checkpoint: its PNGs are byte-identical to the reference loop's codes decoded in one process
# (gotflow decode-image); 8 concurrent requests share imagegen's batches (mean rows per step from
# status) and give the same results as one at a time; `tap layout` shows the parsed objects; an
# empty prompt is answered with an error; and the Python client example submits two prompts and
# receives both results.
. "$(dirname "$0")/lib.sh"
ckpt=$work/ckpt
mkmodel --out "$ckpt" --layers 2 --hidden 128 --intermediate 256 --vq-ch 32 --vq-mult 1,2 \
    --vq-res 1 >/dev/null
cat >"$work/p.yaml" <<YAML
name: got-r1-pictures
model: $ckpt
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, batch: 8, params: {temperature: 0, max_tokens: 12, threads: 1}}
  layout: {kind: layout}
  imagegen:
    kind: imagegen
    batch: 8
    params: {temperature: 1, cfg_weight: 5, parallel: 1, image_size: 96, patch_size: 16,
             rows: 16, threads: 1}
  vq: {kind: vq, batch: 4, params: {grid: 6, threads: 1}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
gotflow tap "$work/p.yaml" layout.layout --json --count 8 --timeout 30 >"$work/layout.jsonl" 2>/dev/null &
tap_pid=$!
sleep 0.5
$PY -c '
for i in range(8):
    print("{\"id\": \"c%d\", \"text\": \"object number %d on a table\", \"params\": {\"seed\": %d}}" % (i, i, i))' \
    >"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --window 8 --max-bin -1 >"$work/together.jsonl" ||
    fail "the 8 concurrent requests were not all answered"
wait $tap_pid || true
sleep 1.2 # a heartbeat with the last steps
status_json "$work/p.yaml" >"$work/status.json"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --window 1 --max-bin -1 >"$work/alone.jsonl"
echo '{"id": "empty", "text": "   "}' | gotflow submit "$work/p.yaml" >"$work/empty.jsonl" || true
"$build"/test-bin/ref-loop "$ckpt" "object number 3 on a table" 12 36 1 5 3 0 1 >"$work/ref3.json"
$PY - "$work" <<'PY'
import base64, json, struct, sys
work = sys.argv[1]
load = lambda f: {json.loads(l)["id"]: json.loads(l) for l in open(f)}
together, alone = load(work + "/together.jsonl"), load(work + "/alone.jsonl")
assert sorted(together) == ["c%d" % i for i in range(8)], sorted(together)
for rid, r in together.items():
    assert r["kind"] == "result" and r["from"] == "image" and r["image_size"] == [12, 12], r
    for key in ("reasoning_ids", "codes", "png"):
        assert r[key] == alone[rid][key], (rid, key)
st = {x["stage"]: x for x in json.load(open(work + "/status.json"))["replicas"]}
rows = st["imagegen"]["mean_batch_rows"]
assert rows > 2, "imagegen never advanced two requests at once: %s" % rows  # 2 rows per request
print("8 concurrent = 8 alone; imagegen mean rows per step %.2f" % rows)
r = together["c3"]
codes = base64.b64decode(r["codes"]["data"]["$bin"])
ref = json.load(open(work + "/ref3.json"))
want = [c for img in ref["codes"] for c in img["image"]]
assert list(struct.unpack("<%di" % (len(codes) // 4), codes)) == want, "codes differ from the reference"
json.dump({"id": "ref3", "codes": [want], "grid": [6, 6]}, open(work + "/ref3-codes.json", "w"))
open(work + "/pipe3.png", "wb").write(base64.b64decode(r["png"][0]["$bin"]))
empty = json.loads(open(work + "/empty.jsonl").readline())
assert empty["kind"] == "error" and "empty prompt" in empty["message"], empty
frames = [json.loads(l)["frame"] for l in open(work + "/layout.jsonl")]
assert len(frames) == 8 and all("objects" in f and "issues" in f for f in frames), frames[:1]
PY
gotflow decode-image --model "$ckpt" --out "$work/dec" "$work/ref3-codes.json" >/dev/null
cmp "$work/dec/ref3_0.png" "$work/pipe3.png" || fail "the pipeline's PNG differs from the reference's"
echo "PNG byte-identical to the reference codes decoded in one process"
ep="ipc://$GOTFLOW_RUN_ROOT/got-r1-pictures/gateway"
$PY "$top/docs/examples/client.py" "$ep" '{"id": "p1", "text": "a cat"}' '{"id": "p2", "text": "a dog"}' \
    >"$work/client.out" || fail "the client example failed: $(cat "$work/client.out")"
grep -c '"p[12]"' "$work/client.out" | grep -q 2 || grep -q p2 "$work/client.out" ||
    fail "the client did not receive both results: $(head -c 400 "$work/client.out")"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
