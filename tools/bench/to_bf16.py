#!/usr/bin/env python3
"""tools/bench/to_bf16.py SRC DST — a copy of checkpoint SRC with every F32 tensor of
model.safetensors rounded to BF16 (nearest, ties to even, as torch's .to(torch.bfloat16)) and
config.json's torch_dtype set to bfloat16; the other files are copied as they are. For measuring
what 16-bit weights and their f16 KV cache do to the demo model's figures
(tools/bench/quality.sh). Needs only Debian's python3."""
import array
import json
import os
import shutil
import struct
import sys


def to_bf16(raw):
    words = array.array("I", raw)
    if sys.byteorder != "little":
        words.byteswap()
    out = array.array("H", bytes(2 * len(words)))
    for i, w in enumerate(words):
        if (w & 0x7F800000) == 0x7F800000 and w & 0x7FFFFF:  # NaN stays NaN
            out[i] = (w >> 16) | 0x40
        else:
            out[i] = (w + 0x7FFF + ((w >> 16) & 1)) >> 16
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def main():
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    src, dst = sys.argv[1], sys.argv[2]
    if not os.path.isfile(os.path.join(src, "model.safetensors")):
        sys.exit("to_bf16.py: %s has no model.safetensors (sharded checkpoints: not handled)" % src)
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name not in ("model.safetensors", "config.json") and os.path.isfile(
            os.path.join(src, name)
        ):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg["torch_dtype"] = "bfloat16"
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        meta = header.pop("__metadata__", None)
        out_header, blobs, at = {}, [], 0
        for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            b, e = t["data_offsets"]
            f.seek(base + b)
            raw = f.read(e - b)
            dtype = t["dtype"]
            if dtype == "F32":
                raw, dtype = to_bf16(raw), "BF16"
            out_header[name] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [at, at + len(raw)]}
            blobs.append(raw)
            at += len(raw)
    if meta is not None:
        out_header["__metadata__"] = meta
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


if __name__ == "__main__":
    main()
