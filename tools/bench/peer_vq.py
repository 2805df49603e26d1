#!/usr/bin/env python3
"""PyTorch peer of bench_vq: the same VQ-16 decoder (the plain PyTorch forward of
tests/oracle/gen_vq.py, in float32, NCHW) on the same checkpoint, timed per image.

    peer_vq.py DIR [--images N] [--rounds R] [--threads T] [--sgemm]

--sgemm also times torch.mm on 2048x2048 f32 matrices (best of 5): the machine's sgemm rate
that the decoder's GFLOP/s are held against.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "oracle"))
from gen_vq import Decoder, vq_config  # noqa: E402


def timed_mm(x, y):
    t0 = time.perf_counter()
    torch.mm(x, y)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--sgemm", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.dir, "config.json")))
    sd = {k: v.float() for k, v in load_file(os.path.join(a.dir, "model.safetensors")).items()
          if k.startswith("gen_vision_model.")}
    c = vq_config(cfg)
    dec = Decoder(sd, c, torch.float32)
    codes = torch.from_numpy(
        np.random.RandomState(1).randint(0, c["codebook_size"], (a.images, 576)))
    times = []
    with torch.no_grad():
        for r in range(a.rounds):
            t0 = time.perf_counter()
            out = dec.decode_code(codes, 24, 24)
            times.append((time.perf_counter() - t0) / a.images)
            print("peer round %d: %.3f s/image %s" % (r, times[-1], list(out.shape)), flush=True)
    if a.sgemm:
        x, y = torch.randn(2048, 2048), torch.randn(2048, 2048)
        best = min(timed_mm(x, y) for _ in range(5))
        print("sgemm (torch.mm f32 2048^3, %d threads): %.1f GFLOP/s" % (
            a.threads, 2 * 2048 ** 3 / best * 1e-9))
    times.sort()
    print("peer vq decode (torch %s, %d threads): best %.3f s/image, median %.3f s/image" % (
        torch.__version__, a.threads, times[0], times[len(times) // 2]))


if __name__ == "__main__":
    main()
