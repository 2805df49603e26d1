#!/usr/bin/env bash
# The KV cache's dtype through the pipeline (docs/model.md, "The KV cache"), on a tiny bf16
# checkpoint: as published, reason and imagegen keep an f16 cache (their logs say so), hand the
# chain's KV over, and every request gets the reference loop's chain and codes with the same
# cache; with precision: f32 on both, the f32 cache of the exact path, handed over too, and the
# reference loop's chain and codes on that path. A reason stage at f32 beside an imagegen at the
# default cannot hand over: imagegen says why, computes the chain's KV itself, and answers.
. "$(dirname "$0")/lib.sh"
ckpt=$work/ckpt
mkmodel --out "$ckpt" --vq-ch 0 --layers 2 --hidden 128 --intermediate 256 --dtype bf16 >/dev/null
max_tokens=24 image_size=96 patch=16
graph() { # name reason_precision imagegen_precision
    cat <<YAML
name: $1
model: $ckpt
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, params: {temperature: 0, max_tokens: $max_tokens, threads: 1$2}}
  layout: {kind: layout}
  imagegen: {kind: imagegen, params: {temperature: 1, cfg_weight: 5, image_size: $image_size,
                                      patch_size: $patch, parallel: 1, threads: 1$3}}
  sink: {kind: sink}
edges: [gateway -> tokenize -> reason -> layout -> imagegen -> sink]
YAML
}
cat >"$work/req.jsonl" <<'JSON'
{"id": "a", "text": "a red apple on a wooden table", "params": {"seed": 11}}
{"id": "b", "text": "two dogs under a blue umbrella", "params": {"seed": 22}}
JSON
ref() { # caption seed: the reference loop's output (GOTFLOW_PRECISION as the stages' precision)
    "$build"/test-bin/ref-loop "$ckpt" "$1" "$max_tokens" $(((image_size / patch) ** 2)) 1 5 "$2" \
        0 1
}
check() { # name dtype precision_for_ref: one pipeline's answers against the reference
    local run_dir=$GOTFLOW_RUN_ROOT/$1
    start_pipeline "$work/$1.yaml"
    gotflow submit "$work/$1.yaml" "$work/req.jsonl" --max-bin -1 --timeout 60 >"$work/out.jsonl" ||
        fail "$2: not every request was answered"
    for s in reason imagegen; do
        grep -q "rows of [0-9]* positions, $2 KV cache" "$run_dir"/$s.0.log ||
            fail "$s did not say it keeps a $2 cache: $(grep -h 'loaded' "$run_dir"/$s.0.log)"
    done
    n=$(grep -h "positions of KV handed over" "$run_dir"/imagegen.*.log | wc -l)
    [ "$n" = 2 ] || fail "$2: imagegen took $n KV handovers, not one for each of the 2 requests"
    stop_pipeline
    [ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
    GOTFLOW_PRECISION=$3 ref "a red apple on a wooden table" 11 >"$work/ref-a.json"
    GOTFLOW_PRECISION=$3 ref "two dogs under a blue umbrella" 22 >"$work/ref-b.json"
    $PY - "$work" "$2" <<'PY'
import base64, json, struct, sys
work, dtype = sys.argv[1], sys.argv[2]
def ids(t):
    b = base64.b64decode(t["data"]["$bin"])
    return list(struct.unpack("<%di" % (len(b) // 4), b))
got = {json.loads(l)["id"]: json.loads(l) for l in open(work + "/out.jsonl")}
for rid in "ab":
    r, ref = got[rid], json.load(open("%s/ref-%s.json" % (work, rid)))
    assert r["kind"] == "result", r
    assert ids(r["reasoning_ids"]) == ref["reasoning_ids"], (dtype, rid)
    assert ids(r["codes"]) == ref["codes"][0]["image"], (dtype, rid)
print("%s cache: 2 requests handed over, the reference loop's chains and codes" % dtype)
PY
}
graph kv16 "" "" >"$work/kv16.yaml"
check kv16 F16 ""
graph kv32 ", precision: f32" ", precision: f32" >"$work/kv32.yaml"
check kv32 F32 f32

# reason at f32, imagegen as published: the files hold an f32 cache, imagegen's is f16
graph kvmix ", precision: f32" "" >"$work/kvmix.yaml"
start_pipeline "$work/kvmix.yaml"
run_dir=$GOTFLOW_RUN_ROOT/kvmix
gotflow submit "$work/kvmix.yaml" "$work/req.jsonl" --max-bin -1 --timeout 60 >"$work/out.jsonl" ||
    fail "mixed precisions: not every request was answered"
$PY -c 'import json, sys
kinds = [json.loads(l)["kind"] for l in open(sys.argv[1])]
assert kinds == ["result"] * 2, kinds' "$work/out.jsonl" || fail "mixed: $(cat "$work/out.jsonl")"
grep -q "cannot take the KV handover, computing the chain's KV instead (warned once): .* holds another model's cache (checkpoint, precision or kernels)" \
    "$run_dir"/imagegen.0.log ||
    fail "imagegen did not say why it could not take the handover"
! grep -q "positions of KV handed over" "$run_dir"/imagegen.0.log ||
    fail "imagegen took an f32 cache into its f16 one"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
echo "mixed precisions: no handover, imagegen said why and computed the chain's KV itself"
