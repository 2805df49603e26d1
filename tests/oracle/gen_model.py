#!/usr/bin/env python3
"""Goldens for the language model, the heads, CFG mixing and the reference loop.

Runs build/bin/mkmodel to make tiny checkpoints (the C test makes the same ones with the same
flags, recorded in the goldens), loads their weights into HuggingFace transformers'
LlamaForCausalLM and into PyTorch modules written from GoT-R1's modeling_vlm.py / projector.py,
and writes tests/oracle/goldens/model/<case>.json plus raw little-endian .bin arrays.
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
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "oracle", "goldens", "model")
MKMODEL = os.path.join(ROOT, "build", "bin", "mkmodel")

CASES = {
    "tiny_f32": ["--size", "tiny", "--dtype", "f32", "--seed", "1"],
    "tiny_bf16": ["--size", "tiny", "--dtype", "bf16", "--shards", "2", "--seed", "2"],
    "tiny_f16": ["--size", "tiny", "--dtype", "f16", "--seed", "3"],
}
PROMPT = [1, 17, 300, 42, 5, 99, 123, 7, 256, 64, 3]  # BOS-like first id, arbitrary others
DECODE_STEPS = 32
IMAGE_IDS = [0, 255, 17, 128, 3, 77, 200, 1]


def fnv64(path):
    """FNV-1a 64 of a file, the same fold the C test computes."""
    data = np.fromfile(path, dtype=np.uint8)
    h = 0xCBF29CE484222325
    prime = 0x100000001B3
    for b in data.tobytes():
        h = ((h ^ b) * prime) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def load_checkpoint(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    idx = os.path.join(d, "model.safetensors.index.json")
    sd = {}
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else [
        "model.safetensors"]
    for f in files:
        sd.update(load_file(os.path.join(d, f)))
    sd = {k: v.float() for k, v in sd.items()}  # compute in f32 from the stored values
    return cfg, sd, files


def build_lm(cfg, sd):
    lc = cfg["language_config"]
    conf = LlamaConfig(hidden_size=lc["hidden_size"], intermediate_size=lc["intermediate_size"],
                       num_hidden_layers=lc["num_hidden_layers"],
                       num_attention_heads=lc["num_attention_heads"],
                       num_key_value_heads=lc["num_key_value_heads"], vocab_size=lc["vocab_size"],
                       max_position_embeddings=lc["max_position_embeddings"],
                       rms_norm_eps=lc["rms_norm_eps"], rope_theta=lc["rope_theta"],
                       tie_word_embeddings=False, attn_implementation="eager")
    lm = LlamaForCausalLM(conf).float().eval()
    lm_sd = {k[len("language_model."):]: v for k, v in sd.items() if k.startswith("language_model.")}
    lm.load_state_dict(lm_sd, strict=True)
    return lm


class Heads(torch.nn.Module):
    """gen_head (vision_head), gen_embed and gen_aligner (mlp_gelu, depth 2) as in GoT-R1."""

    def __init__(self, sd):
        super().__init__()
        self.sd = sd

    def gen_head(self, h):
        sd = self.sd
        x = F.linear(h, sd["gen_head.output_mlp_projector.weight"],
                     sd["gen_head.output_mlp_projector.bias"])
        x = F.gelu(x)  # exact erf form, torch.nn.GELU() default
        return F.linear(x, sd["gen_head.vision_head.weight"], sd["gen_head.vision_head.bias"])

    def image_embeds(self, ids):
        sd = self.sd
        e = F.embedding(ids, sd["gen_embed.weight"])
        x = F.linear(e, sd["gen_aligner.layers.0.weight"], sd["gen_aligner.layers.0.bias"])
        x = F.gelu(x)
        return F.linear(x, sd["gen_aligner.layers.2.weight"], sd["gen_aligner.layers.2.bias"])


def save(name, arr, dtype):
    a = np.ascontiguousarray(np.asarray(arr, dtype=dtype))
    a.tofile(os.path.join(OUT, name))
    return {"file": name, "shape": list(a.shape)}


@torch.no_grad()
def text_case(lm, case):
    """Logits at every prefill position and 32 greedy decode steps through the KV cache."""
    ids = torch.tensor([PROMPT])
    out = lm(input_ids=ids, use_cache=True)
    pkv, logits = out.past_key_values, [out.logits[0]]
    toks = list(PROMPT)
    nxt = int(out.logits[0, -1].argmax())
    for _ in range(DECODE_STEPS):
        toks.append(nxt)
        out = lm(input_ids=torch.tensor([[nxt]]), past_key_values=pkv, use_cache=True)
        pkv = out.past_key_values
        logits.append(out.logits[0])
        nxt = int(out.logits[0, -1].argmax())
    logits = torch.cat(logits).numpy()
    return {"tokens": toks, "n_prefill": len(PROMPT),
            "logits": save(case + "_text_logits.bin", logits, "<f4")}


@torch.no_grad()
def image_case(lm, heads, case):
    """Prompt as text, then image tokens through gen_embed -> gen_aligner; gen_head logits at
    every position."""
    emb = lm.model.embed_tokens(torch.tensor([PROMPT]))
    img = heads.image_embeds(torch.tensor([IMAGE_IDS]))
    x = torch.cat([emb, img], dim=1)
    h = lm.model(inputs_embeds=x).last_hidden_state[0]
    return {"image_ids": IMAGE_IDS,
            "image_logits": save(case + "_image_logits.bin", heads.gen_head(h).numpy(), "<f4")}


@torch.no_grad()
def greedy_text(lm, prompt, boi, max_text):
    out = lm(input_ids=torch.tensor([prompt]), use_cache=True)
    pkv, gen = out.past_key_values, []
    while True:
        nxt = int(out.logits[0, -1].argmax())
        gen.append(nxt)
        if nxt == boi or len(gen) >= max_text:
            break
        out = lm(input_ids=torch.tensor([[nxt]]), past_key_values=pkv, use_cache=True)
        pkv = out.past_key_values
    if gen[-1] != boi:
        gen.append(boi)
    return gen


@torch.no_grad()
def loop_case(lm, heads, case):
    """The reference loop of infer.py with argmax in place of multinomial (MODEL.md §1)."""
    max_text, n_image, parallel, cfg_w = 24, 16, 2, 5.0
    pad = 2
    # boi: a token greedy decoding reaches on its own after a few steps, so stage 1 stops on it
    free_run = greedy_text(lm, PROMPT, -1, max_text)
    boi = next(t for i, t in enumerate(free_run) if i >= 5 and t not in free_run[:i])
    text = greedy_text(lm, PROMPT, boi, max_text)
    seq = PROMPT + text
    L = len(seq)
    rows = []
    for k in range(2 * parallel):
        r = list(seq)
        if k % 2 == 1:
            r[1:L - 1] = [pad] * (L - 2)
        rows.append(r)
    out = lm.model(inputs_embeds=lm.model.embed_tokens(torch.tensor(rows)), use_cache=True)
    pkv, h = out.past_key_values, out.last_hidden_state[:, -1, :]
    image = [[] for _ in range(parallel)]
    cfg_first = None
    for i in range(n_image):
        logits = heads.gen_head(h)
        cond, uncond = logits[0::2], logits[1::2]
        mixed = uncond + cfg_w * (cond - uncond)
        if i == 0:
            cfg_first = (cond.numpy(), uncond.numpy(), mixed.numpy())
        tok = mixed.argmax(dim=-1)
        for k in range(parallel):
            image[k].append(int(tok[k]))
        pair = torch.stack([tok, tok], dim=1).view(-1)
        x = heads.image_embeds(pair).unsqueeze(1)
        out = lm.model(inputs_embeds=x, past_key_values=pkv, use_cache=True)
        pkv, h = out.past_key_values, out.last_hidden_state[:, -1, :]
    return {"loop": {"prompt": PROMPT, "boi": boi, "pad": pad, "max_text": max_text,
                     "n_image": n_image, "parallel": parallel, "cfg_weight": cfg_w,
                     "text": text, "image": image},
            "cfg": {"weight": cfg_w, "cond": save(case + "_cfg_cond.bin", cfg_first[0], "<f4"),
                    "uncond": save(case + "_cfg_uncond.bin", cfg_first[1], "<f4"),
                    "mixed": save(case + "_cfg_mixed.bin", cfg_first[2], "<f4")}}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    for case, flags in CASES.items():
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([MKMODEL, "--out", d] + flags, check=True)
            cfg, sd, files = load_checkpoint(d)
            lm = build_lm(cfg, sd)
            heads = Heads(sd)
            meta = {"mkmodel": flags, "generator": "transformers %s, torch %s" % (
                __import__("transformers").__version__, torch.__version__),
                "fnv64": {f: fnv64(os.path.join(d, f)) for f in files}}
            meta.update(text_case(lm, case))
            meta.update(image_case(lm, heads, case))
            meta.update(loop_case(lm, heads, case))
        with open(os.path.join(OUT, case + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
        print("wrote", case, "text", meta["loop"]["text"], "image", meta["loop"]["image"][0])


if __name__ == "__main__":
    sys.exit(main())
