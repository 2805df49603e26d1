#!/usr/bin/env bash
# `gotflow bench read`, which tools/bench/image.sh puts its floor on: the bytes a chain token and
# an image step read, held to a count of the checkpoint's own tensors in its safetensors header
# (read here in Python, not by gotflow), and the KV cache's bytes a position for each precision's
# cache (f16 under bf16 weights as published, f32 on the exact path, q8_0 blocks under q8_0); a
# read rate that is a positive number; and clear refusals.
. "$(dirname "$0")/lib.sh"
ckpt=$work/ckpt
mkmodel --out "$ckpt" --vq-ch 0 --layers 2 --hidden 128 --intermediate 256 --dtype bf16 >/dev/null

expect() { # precision kv_dtype kv_bytes_per_element: the three lines against the header's count
    gotflow bench read --model "$ckpt" --threads 1 --tokens 3 ${1:+--precision "$1"} \
        >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; fail "${1:-default}: bench read failed"; }
    "$PY" - "$ckpt" "$work/out" "$1" "$2" "$3" <<'PY' || fail "${1:-default}: $(cat "$work/out")"
import json, re, struct, sys
ckpt, out, prec, kvname, kvel = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3], sys.argv[4], float(sys.argv[5])
cfg = json.load(open(ckpt + "/config.json"))
lm = cfg.get("language_config", cfg)
with open(ckpt + "/model.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    head = json.loads(f.read(n))
size = {"F32": 4, "BF16": 2, "F16": 2}
def elems(t):
    e = 1
    for d in head[t]["shape"]:
        e *= d
    return e
def nbytes(t, quant):
    e = elems(t)
    # q8_0: 34 bytes a block of 32 (docs/model.md); q4_0: 18. lm_head and the image head's two
    # matrices go to q8_0 under either; the rest of what is quantized takes the precision's type.
    if quant and t.endswith(".weight") and len(head[t]["shape"]) == 2 and head[t]["shape"][1] % 32 == 0:
        heads = ("lm_head.weight", "gen_head.output_mlp_projector.weight", "gen_head.vision_head.weight")
        if any(t.endswith(h) for h in heads):
            return e // 32 * 34
        if ".layers." in t and t.startswith("language_model.") and "norm" not in t:
            return e // 32 * (34 if quant == "q8_0" else 18)
    return e * size[head[t]["dtype"]]
quant = prec if prec in ("q8_0", "q4_0") else None
names = [t for t in head if t != "__metadata__"]
layers = [t for t in names if t.startswith("language_model.model.layers.")]
norm = [t for t in names if t == "language_model.model.norm.weight"]
text = [t for t in names if t.endswith("lm_head.weight")]
image = [t for t in names if t.startswith("gen_head.") or t.startswith("gen_aligner.")]
assert len(norm) == 1 and len(text) == 1 and len(image) == 8, (norm, text, image)
token = sum(nbytes(t, quant) for t in layers + norm + text)
step = sum(nbytes(t, quant) for t in layers + norm + image)
heads = lm["num_attention_heads"]
kv_heads = lm.get("num_key_value_heads", heads)
head_dim = lm["hidden_size"] // heads
kv = int(2 * lm["num_hidden_layers"] * 2 * kv_heads * head_dim * kvel)  # 2 rows, K and V
m = re.search(r"^read: ([0-9.]+) GB/s", out, re.M)
assert m and float(m.group(1)) > 0, "no read rate"
m = re.search(r"^chain token: [0-9.]+ GB of weights \((\d+) bytes", out, re.M)
assert m and int(m.group(1)) == token, ("chain token", m and m.group(1), token)
m = re.search(r"^image step: [0-9.]+ GB of weights \((\d+) bytes.* and (\d+) bytes of (\S+) KV cache a position", out, re.M)
assert m and int(m.group(1)) == step, ("image step", m and m.group(1), step)
assert int(m.group(2)) == kv and m.group(3) == kvname, ("kv", m.group(2), m.group(3), kv, kvname)
PY
}
expect "" F16 2
expect f32 F32 4
expect q8_0 Q8_0 1.0625
expect q4_0 Q8_0 1.0625

gotflow bench read --model "$work/none" >/dev/null 2>"$work/err" && fail "a missing checkpoint was read"
grep -q "$work/none" "$work/err" || fail "the error does not name the directory: $(cat "$work/err")"
gotflow bench read --model "$ckpt" --device cuda:0 >/dev/null 2>"$work/err" &&
    fail "read on cuda:0 succeeded"
gotflow bench --help | grep -q "^read " || fail "--help does not list read"
echo "bench read: bytes as the header counts them, at every precision"
