#!/usr/bin/env python3
"""Greedy parity of the C runtime and PyTorch on a demo-model checkpoint.

For each caption, PyTorch (model.py, weights read back from DIR/model.safetensors) runs GoT-R1's
inference loop (MODEL.md §1) with argmax in place of sampling: the chain until <begin_of_image>
or max_text tokens, then the re-prefill of prompt + chain as a conditional and an unconditional
(padded) row, and n_image image tokens from the CFG-mixed gen_head logits. The C side is
build/test-bin/ref-loop (gf_loop_run, the single-process reference the pipeline tests hold the
stages to) with both temperatures 0. The prompt ids, the chain ids and the image codes must be
equal.

    parity.py DIR [--captions N] [--seed S] [--golden FILE]   compare; --golden also writes
                                                               what both produced, as JSON
Exit status 0 when every caption agrees.
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import scenes  # noqa: E402
from model import GoT  # noqa: E402
from train import BOI, PAD, template  # noqa: E402


def load(d):
    from tokenizers import Tokenizer
    conf = json.load(open(os.path.join(d, "config.json")))
    lc = conf["language_config"]
    c = {k: lc[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads", "max_position_embeddings", "vocab_size",
                            "rms_norm_eps", "rope_theta")}
    gv = conf["gen_vision_config"]["params"]
    model = GoT(c, gv["image_token_size"], gv["n_embed"])
    sd = load_file(os.path.join(d, "model.safetensors"))
    sd = {k: v.float() for k, v in sd.items() if not k.startswith("gen_vision_model.")}
    model.load_state_dict(sd, strict=True)
    model.eval()
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    grid = gv.get("image_size", 384) // gv.get("patch_size", 16)
    return model, tok, grid * grid


@torch.no_grad()
def greedy(model, prompt, boi, pad, max_text, n_image, cfg_weight):
    caches = [dict() for _ in model.language_model.model.layers]
    h = model(model.text_embeds(torch.tensor([prompt])), 0, caches)
    text, pos = [], len(prompt)
    while True:
        nxt = int(model.text_logits(h[0, -1]).argmax())
        text.append(nxt)
        if nxt == boi or len(text) >= max_text:
            break
        h = model(model.text_embeds(torch.tensor([[nxt]])), pos, caches)
        pos += 1
    if text[-1] != boi:
        text.append(boi)
    seq = prompt + text
    L = len(seq)
    rows = [list(seq), [seq[0]] + [pad] * (L - 2) + [seq[-1]]]
    use_cfg = cfg_weight > 1
    if not use_cfg:
        rows = rows[:1]
    caches = [dict() for _ in model.language_model.model.layers]
    h = model(model.text_embeds(torch.tensor(rows)), 0, caches)[:, -1]
    image, pos = [], L
    for i in range(n_image):
        logits = model.image_logits(h)
        if use_cfg:
            logits = logits[1] + cfg_weight * (logits[0] - logits[1])
        else:
            logits = logits[0]
        t = int(logits.argmax())
        image.append(t)
        if i == n_image - 1:
            break
        x = model.image_embeds(torch.tensor([[t]] * len(rows)))
        h = model(x, pos, caches)[:, -1]
        pos += 1
    return text, image


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--captions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=424242, help="scenes.py seed of the captions")
    ap.add_argument("--max-text", type=int, default=300)
    ap.add_argument("--cfg-weight", type=float, default=5.0)
    ap.add_argument("--golden", help="write the agreed tokens here (JSON)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    model, tok, n_image = load(a.dir)
    boi, pad = tok.token_to_id(BOI), tok.token_to_id(PAD)
    ref_loop = os.path.join(ROOT, "build", "test-bin", "ref-loop")
    caps = [s["prompt"] for s in scenes.make(a.seed, a.captions)]
    golden, bad = [], 0
    for cap in caps:
        prompt = tok.encode(template(cap)).ids
        text, image = greedy(model, prompt, boi, pad, a.max_text, n_image, a.cfg_weight)
        r = subprocess.run([ref_loop, a.dir, cap, str(a.max_text), str(n_image), "1",
                            str(a.cfg_weight), "1", "0", "0"], check=True, capture_output=True,
                           text=True)
        c = json.loads(r.stdout)
        same = {"prompt_ids": c["prompt_ids"] == prompt, "reasoning_ids": c["reasoning_ids"] == text,
                "codes": c["codes"][0]["image"] == image}
        first = next((i for i, (x, y) in enumerate(zip(c["codes"][0]["image"], image)) if x != y),
                     None)
        ok = all(same.values())
        bad += not ok
        print("%s  %-60s chain %3d tokens, %d codes%s" % (
            "same" if ok else "DIFF", cap[:60], len(text), len(image),
            "" if ok else "  %s (first code difference at %s)" % (same, first)))
        golden.append({"caption": cap, "prompt_ids": prompt, "reasoning_ids": text,
                       "codes": image, "c_agrees": ok})
    if a.golden:
        with open(a.golden, "w") as f:
            json.dump({"max_text": a.max_text, "n_image": n_image, "cfg_weight": a.cfg_weight,
                       "cases": golden}, f)
    print("%d passed, %d failed" % (len(caps) - bad, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
