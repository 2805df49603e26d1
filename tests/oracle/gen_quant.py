"""q8_0 / q4_0 goldens: the bytes llama.cpp's gguf-py quantizer (gguf.quants.quantize) makes
from a fixed set of f32 rows, for tests/oracle/test_quant.c.

Writes tests/oracle/goldens/quant/: input.f32 (the rows, little-endian f32), q8_0.bin and
q4_0.bin (the blocks as gguf-py lays them out: f16 d, then the quants) and meta.json.
The rows mix plain normal values, values rounded to bf16 (as a published checkpoint holds
them) and edge blocks: all zeros, one nonzero element, equal magnitudes of both signs, ties of
the rounding (x / d = k + 0.5), tiny and large scales.
"""
import json
import os

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

QK = 32
OUT = os.path.join(os.path.dirname(__file__), "goldens", "quant")


def bf16(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32)


def rows():
    rng = np.random.default_rng(15)
    blocks = []
    blocks += list(rng.normal(0, 0.02, (16, QK)).astype(np.float32))  # weight-like
    blocks += list(bf16(rng.normal(0, 0.05, (16, QK))))  # bf16 as published
    blocks += list(rng.uniform(-3, 3, (8, QK)).astype(np.float32))
    z = np.zeros(QK, np.float32)
    blocks.append(z.copy())
    one = z.copy()
    one[7] = -0.5
    blocks.append(one)
    pm = np.full(QK, 0.25, np.float32)
    pm[::2] = -0.25
    blocks.append(pm)
    pm2 = pm.copy()
    pm2[0] = 0.25  # the first of equal magnitudes is positive
    blocks.append(pm2)
    ties = (np.arange(QK, dtype=np.float32) - 15.5) * np.float32(127 / 15.5 / 127)  # k + 0.5
    ties[-1] = np.float32(127.0 / 127 * 16)
    blocks.append(ties.astype(np.float32))
    q4t = (np.arange(QK, dtype=np.float32) - 16) * np.float32(0.5) + np.float32(0.25)
    q4t[0] = -8.0
    blocks.append(q4t)
    blocks.append(rng.normal(0, 1e-6, QK).astype(np.float32))
    blocks.append(rng.normal(0, 1e3, QK).astype(np.float32))
    return np.concatenate(blocks).astype(np.float32).reshape(-1, 4 * QK)


def main():
    os.makedirs(OUT, exist_ok=True)
    x = rows()
    x.astype("<f4").tofile(os.path.join(OUT, "input.f32"))
    sizes = {}
    for name, t in (("q8_0", T.Q8_0), ("q4_0", T.Q4_0)):
        q = gguf.quants.quantize(x, t)
        q.tofile(os.path.join(OUT, name + ".bin"))
        sizes[name] = int(q.nbytes)
    meta = {"generator": "tests/oracle/gen_quant.py", "gguf": gguf.__version__ if hasattr(gguf, "__version__") else "0.19.0",
            "numpy": np.__version__, "rows": int(x.shape[0]), "cols": int(x.shape[1]),
            "bytes": sizes}
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("wrote", OUT, meta)


if __name__ == "__main__":
    main()
