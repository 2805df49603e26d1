#!/usr/bin/env python3
# oracle-requirements: requirements-model.txt
"""Goldens for the VQ-16 image decoder (common/model/lm/vq.c).

transformers 4.49 (the version GoT-R1 pins) has no Janus VQ model, so the reference forward is
written here in plain PyTorch (torch.nn.functional conv2d, group_norm, interpolate) following
LlamaGen's VQ-16 decoder as GoT-R1's src/models/vq_model.py builds it (MODEL.md §1.6, §4):
decode_code = l2-normalised codebook lookup, [n, h, w, 8] -> [n, 8, h, w], post_quant_conv,
decoder. It runs in float64 on the stored weights (so the golden carries no rounding of its
own) and, as a cross-check, in float32; both errors are recorded in the golden's json.

Runs build/bin/mkmodel with the flags recorded in the golden (the C test makes the same
checkpoint) and writes tests/oracle/goldens/vq/<case>.json plus raw little-endian f32 .bin.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "oracle", "goldens", "vq")
MKMODEL = os.path.join(ROOT, "build", "bin", "mkmodel")
sys.path.insert(0, os.path.dirname(__file__))
from gen_model import fnv64  # noqa: E402

TINY_LM = ["--size", "tiny", "--layers", "1", "--vocab", "300", "--image-vocab", "64"]
# name: (mkmodel flags, images, grid h, grid w, stride of the pixels kept in the golden)
CASES = {
    "tiny2_f32": (TINY_LM + ["--vq-ch", "32", "--vq-mult", "1,2", "--vq-z", "32",
                             "--dtype", "f32", "--seed", "11"], 2, 4, 4, 1),
    "tiny3_bf16": (TINY_LM + ["--vq-ch", "32", "--vq-mult", "1,2,2", "--vq-z", "64",
                              "--vq-res", "1", "--dtype", "bf16", "--seed", "12"], 2, 3, 5, 1),
    # the full VQ-16 decoder (published shapes, 24x24 codes -> 384x384); every 4th pixel of each
    # row and column is kept so that the golden stays small
    "vq16_f32": (["--size", "tiny", "--layers", "1", "--image-vocab", "16384", "--vq-ch", "128",
                  "--dtype", "f32", "--seed", "13"], 1, 24, 24, 4),
}


def vq_config(cfg):
    p = cfg["gen_vision_config"]["params"]
    return {"codebook_size": p.get("codebook_size", p.get("image_token_size", 16384)),
            "embed_dim": p.get("codebook_embed_dim", p.get("n_embed", 8)),
            "ch": p.get("ch", 128), "ch_mult": p.get("decoder_ch_mult", [1, 1, 2, 2, 4]),
            "z": p.get("z_channels", 256), "n_res": p.get("num_res_blocks", 2),
            "eps": p.get("norm_eps", 1e-6)}


class Decoder:
    """LlamaGen VQ-16 decode_code, weights by their published names."""

    def __init__(self, sd, c, dtype):
        p = "gen_vision_model."
        self.w = {k[len(p):]: v.to(dtype) for k, v in sd.items() if k.startswith(p)}
        self.c = c

    def conv(self, x, name, pad):
        return F.conv2d(x, self.w[name + ".weight"], self.w[name + ".bias"], padding=pad)

    def norm(self, x, name, swish):
        y = F.group_norm(x, 32, self.w[name + ".weight"], self.w[name + ".bias"], self.c["eps"])
        return y * torch.sigmoid(y) if swish else y

    def res(self, x, name):
        h = self.conv(self.norm(x, name + ".norm1", True), name + ".conv1", 1)
        h = self.conv(self.norm(h, name + ".norm2", True), name + ".conv2", 1)
        if name + ".nin_shortcut.weight" in self.w:
            x = self.conv(x, name + ".nin_shortcut", 0)
        return x + h

    def attn(self, x, name):
        h = self.norm(x, name + ".norm", False)
        q, k, v = (self.conv(h, name + "." + t, 0) for t in ("q", "k", "v"))
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)  # b, hw, c
        k = k.reshape(b, c, hh * ww)  # b, c, hw
        w = torch.softmax(torch.bmm(q, k) * (int(c) ** (-0.5)), dim=2)
        v = v.reshape(b, c, hh * ww)
        h = torch.bmm(v, w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.conv(h, name + ".proj_out", 0)

    def decode_code(self, codes, gh, gw):
        emb = F.normalize(self.w["quantize.embedding.weight"], p=2, dim=-1)
        z = emb[codes].reshape(codes.shape[0], gh, gw, -1).permute(0, 3, 1, 2).contiguous()
        h = self.conv(z, "post_quant_conv", 0)
        h = self.conv(h, "decoder.conv_in", 1)
        h = self.res(h, "decoder.mid.0")
        h = self.attn(h, "decoder.mid.1")
        h = self.res(h, "decoder.mid.2")
        levels = len(self.c["ch_mult"])
        for lv in range(levels):
            for r in range(self.c["n_res"] + 1):
                h = self.res(h, "decoder.conv_blocks.%d.res.%d" % (lv, r))
                if lv == 0:
                    h = self.attn(h, "decoder.conv_blocks.%d.attn.%d" % (lv, r))
            if lv != levels - 1:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = self.conv(h, "decoder.conv_blocks.%d.upsample.conv" % lv, 1)
        h = self.norm(h, "decoder.norm_out", True)
        return self.conv(h, "decoder.conv_out", 1)


def load(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    sd = {k: v.float() for k, v in load_file(os.path.join(d, "model.safetensors")).items()}
    return cfg, sd


def make_case(name, flags, n, gh, gw, stride):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([MKMODEL, "--out", d] + flags, check=True)
        cfg, sd = load(d)
        c = vq_config(cfg)
        rng = np.random.RandomState(len(name) * 7919 + n)
        codes = rng.randint(0, c["codebook_size"], size=(n, gh * gw)).astype(np.int64)
        with torch.no_grad():
            ref = Decoder(sd, c, torch.float64).decode_code(torch.from_numpy(codes), gh, gw)
            f32 = Decoder(sd, c, torch.float32).decode_code(torch.from_numpy(codes), gh, gw)
        scale = float(np.abs(ref.numpy()).max())
        err32 = float((f32.double() - ref).abs().max()) / scale
        out = np.ascontiguousarray(ref.float().numpy()[:, :, ::stride, ::stride])
        out.astype("<f4").tofile(os.path.join(OUT, name + ".bin"))
        meta = {"mkmodel": flags, "images": n, "grid": [gh, gw], "codes": codes.tolist(),
                "output": {"file": name + ".bin", "shape": list(out.shape), "stride": stride},
                "max_abs": scale, "torch_f32_rel_err": err32,
                "generator": "plain PyTorch %s in float64" % torch.__version__,
                "fnv64": {"model.safetensors": fnv64(os.path.join(d, "model.safetensors"))}
                if stride == 1 else {}}  # (hashing 170 MB in Python takes too long)
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
        print("%s: output %s, max |v| %.4g, torch f32 error %.3g of max" % (
            name, list(out.shape), scale, err32))


def main():
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]
    for name, (flags, n, gh, gw, stride) in CASES.items():
        if not only or name in only:
            make_case(name, flags, n, gh, gw, stride)


if __name__ == "__main__":
    main()
