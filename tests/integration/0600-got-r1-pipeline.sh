#!/usr/bin/env bash
# The GoT-R1 pipeline (gateway -> tokenize -> reason -> layout -> imagegen -> sink) on a tiny
# random checkpoint: two requests submitted together share the reason and imagegen batches, and
# each gets exactly the prompt ids, reasoning ids and image codes of the single-process reference
# loop (greedy text, or sampled text for one of them; seeded image draws under CFG, two images
# each; prefills cut into other chunks than the reference's, the padded rows' prefix computed
# once and copied, the chain's KV handed over by the reason stage); the text_delta frames on the tap add up to the chain, and progress frames
# count the image steps; requests with out-of-range parameters or a prompt longer than the
# context are answered with an error and the pipeline keeps serving.
. "$(dirname "$0")/lib.sh"
ckpt=$work/ckpt
mkmodel --out "$ckpt" --vq-ch 0 --layers 2 --hidden 128 --intermediate 256 >/dev/null
max_tokens=24 image_size=96 patch=16 parallel=2 cfg=5
cat >"$work/p.yaml" <<YAML
name: got-r1-test
model: $ckpt
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, batch: 4, params: {temperature: 0, max_tokens: $max_tokens, chunk: 16,
                                         threads: 1}}
  layout: {kind: layout}
  imagegen:
    kind: imagegen
    batch: 4
    params: {temperature: 1, cfg_weight: $cfg, parallel: $parallel, image_size: $image_size,
             patch_size: $patch, rows: 8, chunk: 40, threads: 1}
  sink: {kind: sink}
edges: [gateway -> tokenize -> reason -> layout -> imagegen -> sink]
YAML
start_pipeline "$work/p.yaml"
gotflow tap "$work/p.yaml" reason.text_delta --json --timeout 20 --max-bin -1 >"$work/deltas.jsonl" \
    2>/dev/null &
tap_pid=$!
gotflow tap "$work/p.yaml" imagegen.progress --json --timeout 20 >"$work/progress.jsonl" 2>/dev/null &
progress_pid=$!
sleep 0.5 # the subscription reaches the publisher
cat >"$work/req.jsonl" <<'JSON'
{"id": "bad-temp", "text": "a cat", "params": {"text_temperature": -1}}
{"id": "a", "text": "a red apple on a wooden table", "params": {"seed": 11}, "kv_cache": "reason.0.b.1.kv"}
{"id": "b", "text": "two dogs under a blue umbrella", "params": {"seed": 22, "text_temperature": 1}}
{"id": "bad-parallel", "text": "a cat", "params": {"parallel_size": 1000}}
JSON
$PY -c 'import json; print(json.dumps({"id": "too-long", "text": "a cat " * 400}))' >>"$work/req.jsonl"
set +e
gotflow submit "$work/p.yaml" "$work/req.jsonl" --max-bin -1 --timeout 60 >"$work/out.jsonl"
set -e
echo '{"id": "c", "text": "a lighthouse at night", "params": {"seed": 33}}' |
    gotflow submit "$work/p.yaml" --max-bin -1 --timeout 60 >>"$work/out.jsonl" ||
    fail "the pipeline stopped serving after the bad requests"
kill "$tap_pid" "$progress_pid" 2>/dev/null || true
wait "$tap_pid" "$progress_pid" 2>/dev/null || true
ref() { # caption seed text_temperature: the reference loop's output
    "$build"/test-bin/ref-loop "$ckpt" "$1" "$max_tokens" $(((image_size / patch) ** 2)) \
        "$parallel" "$cfg" "$2" "$3" 1
}
ref "a red apple on a wooden table" 11 0 >"$work/ref-a.json"
ref "two dogs under a blue umbrella" 22 1 >"$work/ref-b.json"
ref "a lighthouse at night" 33 0 >"$work/ref-c.json"
$PY - "$work" <<'PY'
import base64, json, struct, sys
work = sys.argv[1]
got = {}
for line in open(work + "/out.jsonl"):
    r = json.loads(line)
    got[r["id"]] = r
def ids(t):
    return list(struct.unpack("<%di" % (len(base64.b64decode(t["data"]["$bin"])) // 4),
                              base64.b64decode(t["data"]["$bin"])))
for rid in "abc":
    r, ref = got[rid], json.load(open("%s/ref-%s.json" % (work, rid)))
    assert r["kind"] == "result" and r["from"] == "image_tokens", r
    assert ids(r["prompt_ids"]) == ref["prompt_ids"], rid
    assert ids(r["reasoning_ids"]) == ref["reasoning_ids"], (rid, ids(r["reasoning_ids"]), ref)
    codes = r["codes"]
    assert codes["shape"] == [2, 36] and r["grid"] == [6, 6], (codes["shape"], r["grid"])
    flat = ids(codes)
    want = [c for img in ref["codes"] for c in img["image"]]
    assert flat == want, (rid, flat, want)
    assert flat[:36] != flat[36:], "the two images of a request drew the same codes"
    assert "objects" in r and r["caption"], "the layout and the caption were not carried"
    text = "".join(json.loads(l)["frame"]["text"] for l in open(work + "/deltas.jsonl")
                   if json.loads(l)["frame"]["id"] == rid)
    assert text == r["text"] and text.endswith("<begin_of_image>"), (rid, text, r["text"])
    steps = [json.loads(l)["frame"] for l in open(work + "/progress.jsonl")]
    steps = [(f["step"], f["of"]) for f in steps if f["id"] == rid]
    assert steps == [(k, 36) for k in range(2, 36, 2)], (rid, steps)
assert got["a"]["codes"] != got["b"]["codes"]
# the reason stage names its own handover file, never the one a request came with
for rid in "abc":
    assert got[rid]["kv_cache"].startswith("reason.0.%s." % rid), got[rid]["kv_cache"]
assert got["a"]["reasoning_ids"] != got["b"]["reasoning_ids"], "the sampled chain is the greedy one"
for bad, what in (("bad-temp", "text_temperature"), ("bad-parallel", "parallel_size")):
    e = got[bad]
    assert e["kind"] == "error" and e["code"] == "EINVAL" and what in e["message"], e
e = got["too-long"]
assert e["kind"] == "error" and e["code"] == "EINVAL" and "does not fit the context" in e["message"], e
print("3 requests identical to the reference loop; text_delta frames add up to the chains; "
      "bad parameters and a prompt over the context answered EINVAL")
PY
sleep 1.2 # a heartbeat with the last steps' counts
status_json "$work/p.yaml" | $PY -c '
import json, sys
st = {r["stage"]: r for r in json.load(sys.stdin)["replicas"]}
# one row per reason request, four per imagegen request (two images, CFG pairs): a mean above
# that means steps advanced several requests at once
assert st["reason"]["mean_batch_rows"] > 1, st["reason"]
assert st["imagegen"]["mean_batch_rows"] > 4, st["imagegen"]
print("mean rows per step: reason %.2f, imagegen %.2f"
      % (st["reason"]["mean_batch_rows"], st["imagegen"]["mean_batch_rows"]))'
run_dir=$(ls -d "$GOTFLOW_RUN_ROOT"/*/ | head -n 1)
grep -h "batch: 2 requests" "$run_dir"/*.log | grep -q reason || fail "reason never batched two requests"
grep -h "batch: 2 requests" "$run_dir"/*.log | grep -q imagegen || fail "imagegen never batched two requests"
# the chains' KV came over from the reason stage (same codes as the reference loop, which
# computes it), and no handover file is left
n=$(grep -h "positions of KV handed over" "$run_dir"/imagegen.*.log | wc -l)
[ "$n" -ge 3 ] || fail "imagegen took $n KV handovers, not one for each of the 3 requests"
[ -z "$(ls -A "$run_dir/kv")" ] || fail "handover files left: $(ls "$run_dir/kv")"
# the pad slot was computed at start (prefix_warm), for the row every request has: the codes
# above are the reference loop's, and no request had to compute it again
grep -hq "pad slot computed ahead: \([1-9][0-9]*\) of \1 positions" "$run_dir"/imagegen.*.log ||
    fail "imagegen did not compute its pad slot at start"
! grep -h "pad slot's .* computed again" "$run_dir"/imagegen.*.log ||
    fail "the pad slot computed at start was not the requests' padded row"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"

# The same three requests, twice each, interleaved over three replicas of reason and imagegen,
# these without the prefix cache (every request computes its padded rows itself) and without the
# KV handover (imagegen computes the chain's KV again): the same ids and codes, whichever replica
# and batch each request lands in, and with or without the cache and the handover.
sed -e 's/^name: .*/name: got-r1-test-3/' -e 's/kind: reason, batch: 4/kind: reason, replicas: 3, batch: 4/' \
    -e 's/kind: imagegen$/kind: imagegen\n    replicas: 3/' -e 's/chunk: 40,/chunk: 40, prefix_cache: 0,/' -e 's/chunk: 16,/chunk: 16, kv_handover: 0,/' \
    "$work/p.yaml" >"$work/p3.yaml"
grep -q "replicas: 3" "$work/p3.yaml" || fail "cannot make the three-replica graph"
grep -q "prefix_cache: 0" "$work/p3.yaml" || fail "cannot turn the prefix cache off"
grep -q "kv_handover: 0" "$work/p3.yaml" || fail "cannot turn the KV handover off"
start_pipeline "$work/p3.yaml"
grep -v '"bad\|too-long' "$work/req.jsonl" >"$work/req3.jsonl"
echo '{"id": "c", "text": "a lighthouse at night", "params": {"seed": 33}}' >>"$work/req3.jsonl"
sed 's/"id": "\(.\)"/"id": "\1-2"/' "$work/req3.jsonl" >"$work/again.jsonl"
cat "$work/again.jsonl" >>"$work/req3.jsonl"
# The first requests can all reach the replica whose credit arrived first (the others may still
# be connecting); later rounds go to the ones with the most credit, round-robin among equals. So
# the rounds repeat (new ids) until some request went through another replica, at most 4 times.
: >"$work/out3.jsonl"
for round in 1 2 3 4; do
    sed "s/\"id\": \"\([^\"]*\)\"/\"id\": \"\1-r$round\"/" "$work/req3.jsonl" >"$work/req3-$round.jsonl"
    gotflow submit "$work/p3.yaml" "$work/req3-$round.jsonl" --max-bin -1 --timeout 60 \
        >>"$work/out3.jsonl" || fail "the three-replica pipeline did not answer every request"
    $PY - "$work" "$round" <<'PY' && break
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
one = {json.loads(l)["id"]: json.loads(l) for l in open(work + "/out.jsonl")}
three = {json.loads(l)["id"]: json.loads(l) for l in open(work + "/out3.jsonl")}
want = sorted("%s-r%d" % (i, r) for i in ["a", "a-2", "b", "b-2", "c", "c-2"]
              for r in range(1, rounds + 1))
assert sorted(three) == want, sorted(three)
for rid, r in three.items():
    for key in ("prompt_ids", "reasoning_ids", "codes", "text", "grid"):
        assert r[key] == one[rid[0]][key], (rid, key)
used = {(t[0], t[1]) for r in three.values() for t in r["trace"] if t[0] in ("reason", "imagegen")}
if len(used) <= 2:
    print("round %d: every request went through the same replicas: %s" % (rounds, sorted(used)))
    sys.exit(3)
print("three replicas (%s, %d round%s): the same chains and codes"
      % (sorted(used), rounds, "" if rounds == 1 else "s"))
PY
    rc=$?
    [ "$rc" = 3 ] || fail "the three-replica answers differ from the one-replica ones"
    [ "$round" = 4 ] && fail "four rounds, and every request went through the same replicas"
done
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
