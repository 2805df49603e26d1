#!/usr/bin/env bash
# The whole GoT-R1 pipeline through gotflow generate on a small random checkpoint made by
# mkmodel: tokenize -> reason -> layout -> imagegen -> vq -> sink. It writes image_0.png and
# image_1.png (two parallel pictures, 384x384), reasoning.txt, layout.json, layout.png,
# overlay.png and meta.json with every stage's timing; the chain it printed is the one it wrote.
. "$(dirname "$0")/lib.sh"
mkmodel --out "$work/ckpt" --vq-ch 32 >/dev/null
cd "$top"
gotflow generate "a red apple to the left of a blue vase" --pipeline pipelines/got-r1-cpu.yaml \
    --model "$work/ckpt" --out "$work/out" --id apple --seed 5 --parallel 2 --max-tokens 24 \
    >"$work/stdout" 2>"$work/stderr" || fail "generate failed: $(tail -5 "$work/stderr")"
d=$work/out/apple
for f in image_0.png image_1.png reasoning.txt layout.json layout.png overlay.png meta.json; do
    [ -s "$d/$f" ] || fail "no $f: $(cat "$work/stdout" "$work/stderr" | tail -5)"
done
grep -q "image tokens \[#*\] 576/576" "$work/stderr" || fail "no finished progress bar"
$PY - "$d" "$work/stdout" <<'PY'
import json, struct, sys
d = sys.argv[1]
for k in (0, 1):
    png = open("%s/image_%d.png" % (d, k), "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (384, 384)
meta = json.load(open(d + "/meta.json"))
stages = set(meta["timings_ms"])
assert {"gateway", "tokenize", "reason", "layout", "imagegen", "vq"} <= stages, stages
assert meta["params"]["parallel"] == 2 and meta["params"]["seed"] == 5, meta
assert "score" not in meta, "a model without gotflow_demo in config.json was scored"
chain = open(d + "/reasoning.txt", encoding="utf-8", errors="replace").read()
assert chain.endswith("<begin_of_image>"), chain[-40:]
streamed = open(sys.argv[2], encoding="utf-8", errors="replace").read()
assert chain in streamed, "the streamed chain differs from reasoning.txt"
print("pictures, layout and meta written; the streamed chain is the written one")
PY
