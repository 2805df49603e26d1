#!/usr/bin/env bash
# The GoT-R1 pipeline with the DeepSeek-LLM tokenizer (a tiny random model over the real 102400-id
# vocabulary): the prompt ids start as MODEL.md 1.2 says, sampled chains wander through every
# script of the vocabulary, and still each request's chain and codes equal the reference loop's,
# and its text_delta frames are whole UTF-8 pieces that add up to the chain, their ids to the
# chain's ids (a piece may begin with U+FFFD where the model itself wrote bytes that are not
# UTF-8, as HF's decode shows them).
. "$(dirname "$0")/lib.sh"
ckpt=$work/ckpt
mkmodel --out "$ckpt" --vq-ch 0 --vocab 102400 \
    --tokenizer "$top/tests/data/deepseek-llm/tokenizer.json" >/dev/null
cat >"$work/p.yaml" <<YAML
name: got-r1-deepseek
model: $ckpt
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, batch: 2, params: {temperature: 1, max_tokens: 48, threads: 1}}
  layout: {kind: layout}
  imagegen: {kind: imagegen, batch: 2, params: {image_size: 64, cfg_weight: 3, threads: 1}}
  sink: {kind: sink}
edges: [gateway -> tokenize -> reason -> layout -> imagegen -> sink]
YAML
start_pipeline "$work/p.yaml"
gotflow tap "$work/p.yaml" reason.text_delta --json --timeout 20 --max-bin -1 >"$work/deltas.jsonl" \
    2>/dev/null &
tap_pid=$!
sleep 0.5
cat >"$work/req.jsonl" <<'JSON'
{"id": "a", "text": "a red cat on a mat", "params": {"seed": 7}}
{"id": "b", "text": "三只小鸟在树枝上", "params": {"seed": 8}}
JSON
gotflow submit "$work/p.yaml" "$work/req.jsonl" --max-bin -1 --timeout 60 >"$work/out.jsonl" ||
    fail "no result: $(cat "$work/out.jsonl")"
kill "$tap_pid" 2>/dev/null || true
wait "$tap_pid" 2>/dev/null || true
ref=$build/test-bin/ref-loop
"$ref" "$ckpt" "a red cat on a mat" 48 16 1 3 7 1 1 >"$work/ref-a.json"
"$ref" "$ckpt" "三只小鸟在树枝上" 48 16 1 3 8 1 1 >"$work/ref-b.json"
$PY - "$work" "$(dirname "$0")" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[2])
from answers import ids, load
work = sys.argv[1]
got = load(work + "/out.jsonl")
for rid in "ab":
    r, ref = got[rid], json.load(open("%s/ref-%s.json" % (work, rid)))
    assert r["kind"] == "result", r
    p = ids(r["prompt_ids"])
    assert p == ref["prompt_ids"] and p[:4] == [100000, 5726, 25, 23028], p[:8]
    assert ids(r["reasoning_ids"]) == ref["reasoning_ids"], rid
    assert ids(r["codes"]) == ref["codes"][0]["image"], rid
    deltas = [json.loads(l)["frame"] for l in open(work + "/deltas.jsonl")]
    deltas = [d for d in deltas if d["id"] == rid]
    assert all(d["text"] for d in deltas), deltas
    assert "".join(d["text"] for d in deltas) == r["text"], rid
    assert sum((ids(d["ids"]) for d in deltas), []) == ref["reasoning_ids"], rid
    assert [d["step"] for d in deltas] == sorted(d["step"] for d in deltas), rid
    last = 0
    for d in deltas:  # each delta's ids end at its step
        assert d["step"] - last == len(ids(d["ids"])) > 0, (rid, d)
        last = d["step"]
    assert not all(c < "\x80" for c in r["text"]), "the chain never left ASCII"
print("chains and codes equal the reference loop's with the DeepSeek tokenizer; "
      "deltas are whole UTF-8 pieces")
PY
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
