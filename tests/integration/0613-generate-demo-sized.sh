#!/usr/bin/env bash
# A checkpoint shaped like the demo model (docs/demo-model.md) runs through the default pipeline
# unchanged: config.json's gen_vision_config says image_size 128 and patch_size 16, so imagegen
# writes an 8x8 grid of codes and vq decodes a 128x128 picture without any stage parameter; and
# because config.json has `gotflow_demo`, gotflow generate prints the layout-adherence score and
# writes it into meta.json (here a random model: nothing planned, so nothing scored).
. "$(dirname "$0")/lib.sh"
ckpt=$work/ckpt
mkmodel --out "$ckpt" --vq-ch 32 --vq-res 0 --image-size 128 --patch-size 16 >/dev/null
$PY - "$ckpt/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
p = c["gen_vision_config"]["params"]
assert p["image_size"] == 128 and p["patch_size"] == 16, p
c["gotflow_demo"] = {"version": 1}
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
cd "$top"
gotflow generate "a red circle to the left of a blue square" --pipeline pipelines/got-r1-cpu.yaml \
    --model "$ckpt" --out "$work/out" --id demo --seed 3 --max-tokens 16 \
    >"$work/stdout" 2>"$work/stderr" || fail "generate failed: $(tail -5 "$work/stderr")"
d=$work/out/demo
grep -q "image tokens \[#*\] 64/64" "$work/stderr" || fail "not 64 image tokens: $(tail -3 "$work/stderr")"
grep -q "^layout score: " "$work/stdout" || fail "no score printed: $(tail -5 "$work/stdout")"
$PY - "$d" <<'PY'
import json, struct, sys
d = sys.argv[1]
png = open(d + "/image_0.png", "rb").read()
assert struct.unpack(">II", png[16:24]) == (128, 128), struct.unpack(">II", png[16:24])
meta = json.load(open(d + "/meta.json"))
s = meta["score"]
assert s["n_prompt_objects"] == 2 and len(s["relations"]) == 1, s
assert s["relations"][0]["rel"] == "left of", s
assert {"objects", "prompt_objects", "named", "mean_iou"} <= set(s), s
print("128x128 picture from an 8x8 grid; score in meta.json:", json.dumps(s)[:120])
PY
