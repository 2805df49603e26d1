#!/usr/bin/env python3
"""The PyTorch peer of `gotflow bench`: transformers' LlamaForCausalLM decoding the same
checkpoint, and the machine's sgemm FLOP/s as torch.mm gives it.

usage: peer_model.py DIR [--threads N] [--tokens N] [--dtype bf16|f32]
Needs the oracle virtualenv (make oracle). Prints one line per figure.
"""
import argparse
import json
import os
import subprocess
import time

import torch
from safetensors import safe_open
from transformers import LlamaConfig, LlamaForCausalLM


def load_lm(d, dtype):
    lc = json.load(open(os.path.join(d, "config.json")))["language_config"]
    conf = LlamaConfig(hidden_size=lc["hidden_size"], intermediate_size=lc["intermediate_size"],
                       num_hidden_layers=lc["num_hidden_layers"],
                       num_attention_heads=lc["num_attention_heads"],
                       num_key_value_heads=lc["num_key_value_heads"], vocab_size=lc["vocab_size"],
                       max_position_embeddings=lc["max_position_embeddings"],
                       rms_norm_eps=lc["rms_norm_eps"], rope_theta=lc["rope_theta"],
                       tie_word_embeddings=False, torch_dtype=dtype)
    with torch.device("meta"):
        lm = LlamaForCausalLM(conf)
    idx = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else [
        "model.safetensors"]
    sd = {}
    for f in files:
        with safe_open(os.path.join(d, f), "pt") as st:
            for k in st.keys():
                if k.startswith("language_model."):
                    sd[k[len("language_model."):]] = st.get_tensor(k).to(dtype)
    lm.load_state_dict(sd, assign=True, strict=True)
    return lm.eval()


@torch.no_grad()
def decode(lm, tokens):
    ids = torch.tensor([[(i * 7919 + 13) % lm.config.vocab_size for i in range(8)]])
    out = lm(input_ids=ids, use_cache=True)
    pkv = out.past_key_values
    t0 = time.perf_counter()
    for s in range(tokens):
        out = lm(input_ids=torch.tensor([[(s * 31) % lm.config.vocab_size]]), past_key_values=pkv,
                 use_cache=True)
        pkv = out.past_key_values
    return tokens / (time.perf_counter() - t0)


@torch.no_grad()
def prefill(lm, tokens):
    ids = torch.tensor([[(i * 7919 + 13) % lm.config.vocab_size for i in range(tokens)]])
    t0 = time.perf_counter()
    lm(input_ids=ids, use_cache=True, logits_to_keep=1)
    return tokens / (time.perf_counter() - t0)


def sgemm(n=2048, reps=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    ap.add_argument("--prefill", type=int, default=0, help="also time a prefill of N tokens")
    ap.add_argument("--rounds", type=int, default=1,
                    help="decode rounds, each after a run of --ours (interleaved: same machine)")
    ap.add_argument("--ours", default="", help="command run before each round, output shown")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print("peer: torch %s, %d threads" % (torch.__version__, a.threads))
    print("peer sgemm: %.1f GFLOP/s (torch.mm 2048^3 f32)" % (sgemm() * 1e-9))
    lm = load_lm(a.dir, torch.bfloat16 if a.dtype == "bf16" else torch.float32)
    for r in range(a.rounds):
        if a.ours:
            out = subprocess.run(a.ours, shell=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                if line.startswith(("decode:", "roofline:", "prefill:", "sgemm")):
                    print("round %d ours: %s" % (r, line))
        print("round %d peer decode (transformers, %s): %.2f tokens/s" % (
            r, a.dtype, decode(lm, a.tokens)))
    if a.prefill:
        print("peer prefill (transformers, %s): %d tokens, %.1f tokens/s" % (
            a.dtype, a.prefill, prefill(lm, a.prefill)))


if __name__ == "__main__":
    main()
