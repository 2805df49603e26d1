#!/usr/bin/env bash
# The tokenize stage on the engine: a GoT-R1 caption in, the prompt ids HF gives for the GoT-R1
# template out (golden from tests/oracle/gen_tokenizer.py), with the special ids found by string;
# a request without text or with a bad one is answered with an error and the stage keeps serving.
# The checkpoint folder is the DeepSeek-LLM tokenizer with the GoT-R1 added tokens.
. "$(dirname "$0")/lib.sh"
gold=$top/tests/oracle/goldens/tokenizer
ckpt=$work/ckpt
mkdir -p "$ckpt"
jq --slurpfile added "$gold/got-r1-added-tokens.json" '.added_tokens = $added[0]' \
    "$top/tests/data/deepseek-llm/tokenizer.json" >"$ckpt/tokenizer.json"
cp "$top/tests/data/deepseek-llm/tokenizer_config.json" "$ckpt/"
echo '{"sft_format": "deepseek"}' >"$ckpt/processor_config.json"
cat >"$work/p.yaml" <<YAML
name: tok
model: $ckpt
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize, replicas: 2}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
jq -c '{id: "gold", kind: "prompt", text: .caption, params: {seed: 7}}' "$gold/got-r1-prompt.json" >"$work/req.jsonl"
echo '{"id": "no-text", "kind": "prompt"}' >>"$work/req.jsonl"
echo '{"id": "bad-text", "kind": "prompt", "text": 5}' >>"$work/req.jsonl"
set +e
gotflow submit "$work/p.yaml" "$work/req.jsonl" --max-bin -1 >"$work/out.jsonl"
set -e
$PY - "$work/out.jsonl" "$gold/got-r1-prompt.json" <<'PY'
import base64, json, struct, sys
gold = json.load(open(sys.argv[2]))
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    got[r["id"]] = r
r = got["gold"]
assert r["kind"] == "result" and r["from"] == "tokens", r
t = r["prompt_ids"]
assert t["dtype"] == "i32" and t["shape"] == [len(gold["ids"])], t
ids = list(struct.unpack("<%di" % t["shape"][0], base64.b64decode(t["data"]["$bin"])))
assert ids == gold["ids"], (ids, gold["ids"])
sp = gold["special"]
assert r["special"]["begin_of_image"] == sp["<begin_of_image>"], r["special"]
assert r["special"]["pad"] == sp["<｜▁pad▁｜>"] and r["special"]["obj_start"] == sp["<|obj_start|>"]
assert r["params"] == {"seed": 7} and r["text"] == gold["caption"], "the request was not carried"
for bad in ("no-text", "bad-text"):
    assert got[bad]["kind"] == "error" and got[bad]["code"] == "ESCHEMA", got[bad]
print("prompt ids identical to HF's (%d ids); bad requests answered ESCHEMA" % len(ids))
PY
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
