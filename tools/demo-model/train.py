#!/usr/bin/env python3
"""Trains the demo model from scratch and writes it as a checkpoint the C runtime loads
(docs/demo-model.md). Run through tools/demo-model/train.sh, which makes the virtualenv.

Steps, each logged with its time and, while training, progress and ETA:
  1. data: scenes from --seed (scenes.py), rendered at 128x128;
  2. tokenizer: byte-level BPE trained with HF `tokenizers` on the prompts and chains, with
     DeepSeek-LLM's pre-tokenizer; build/bin/mkmodel then writes config.json, the tokenizer
     configs and tokenizer.json with the Janus and GoT-R1 added tokens (the layout the C side
     loads), whose ids the trainer reads back;
  3. VQ autoencoder (VQ-16 form, smaller): encoder + l2-normalised codebook + decoder;
  4. every picture encoded to its 8x8 codes;
  5. language model (GoT-R1 architecture): prompt -> chain (lm_head) -> image codes (gen_head,
     inputs through gen_embed and gen_aligner); the conditioning (everything between BOS and
     <begin_of_image>) is replaced by pad in a share of the samples, as the unconditional row of
     classifier-free guidance sees it (MODEL.md §1.4);
  6. export: model.safetensors with the language model, heads, codebook, post_quant_conv and
     decoder; config.json gains `gotflow_demo` (data seed, sizes, steps); generation_config.json
     carries the model's sampling defaults (GENERATION below), which every entry point uses
     unless told otherwise; train.log beside it.

Step counts are fixed per configuration (not time-boxed), so a run is reproducible from its seed;
the full configuration was sized from measured step times to fit 2 hours on 2 cores (the shipped
run took 103 minutes).
"""
import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import scenes  # noqa: E402
from model import GoT, VQ, count  # noqa: E402

PREFIX = "Follow the caption to generate an image through a chain of thought process: "
BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
PAD, BOI = "<｜▁pad▁｜>", "<begin_of_image>"
TAGS = re.compile(r"<\|obj_start\|>|<\|obj_end\|>|<\|box_start\|>|<\|box_end\|>|<begin_of_image>")

CONFIGS = {
    # every step end to end in a few minutes, on tiny data: proves the pipeline, learns little
    "quick": dict(n_scenes=600, bpe_vocab=400, image_size=128, patch_size=16,
                  vq=dict(ch=32, decoder_ch_mult=[1, 1, 2, 2, 4], z_channels=64, n_embed=8,
                          image_token_size=256, num_res_blocks=0),
                  vq_steps=30, vq_batch=8, vq_lr=1e-3, vq_crop=64, vq_full_share=0.2,
                  lm=dict(hidden_size=64, intermediate_size=172, num_hidden_layers=2,
                          num_attention_heads=2, max_position_embeddings=1024),
                  lm_steps=40, lm_batch=8, lm_lr=2e-3, p_uncond=0.1),
    # the shipped model: sized from measured step times to fit 2 hours on 2 cores
    "full": dict(n_scenes=24000, bpe_vocab=1024, image_size=128, patch_size=16,
                 vq=dict(ch=32, decoder_ch_mult=[1, 1, 2, 2, 4], z_channels=64, n_embed=8,
                         image_token_size=1024, num_res_blocks=0),
                 vq_steps=1400, vq_batch=16, vq_lr=1e-3, vq_crop=64, vq_full_share=0.15,
                 lm=dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=4, max_position_embeddings=1024),
                 lm_steps=2800, lm_batch=32, lm_lr=1.5e-3, p_uncond=0.1),
}


class Log:
    def __init__(self, path):
        self.f = open(path, "w")
        self.t0 = time.time()

    def __call__(self, msg):
        line = "[%7.1fs] %s" % (time.time() - self.t0, msg)
        print(line, flush=True)
        self.f.write(line + "\n")
        self.f.flush()


def eta(log, what, step, steps, t0, extra=""):
    el = time.time() - t0
    left = el / max(step, 1) * (steps - step)
    log("%s step %d/%d  %.2f s/step  elapsed %.0fs  ETA %.0fs  %s" % (
        what, step, steps, el / max(step, 1), el, left, extra))


# --- 1. data -----------------------------------------------------------------------------------


def make_data(cfg, seed, log):
    t = time.time()
    sc = scenes.make(seed, cfg["n_scenes"])
    imgs = np.stack([scenes.render(s, cfg["image_size"]) for s in sc])
    log("data: %d scenes from seed %d, pictures %s (%.0fs)" % (len(sc), seed, imgs.shape,
                                                                 time.time() - t))
    return sc, imgs


# --- 2. tokenizer ------------------------------------------------------------------------------


def train_tokenizer(cfg, sc, out, log):
    from tokenizers import Tokenizer, trainers, pre_tokenizers
    t = time.time()
    ds = json.load(open(os.path.join(ROOT, "tests", "data", "deepseek-llm", "tokenizer.json"),
                        encoding="utf-8"))
    skel = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
            "normalizer": ds["normalizer"], "pre_tokenizer": ds["pre_tokenizer"],
            "post_processor": None, "decoder": ds["decoder"],
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False, "vocab": {}, "merges": []}}
    tok = Tokenizer.from_str(json.dumps(skel))
    texts = []
    for s in sc:
        texts.append(template(s["prompt"]))
        texts.append(TAGS.sub(" ", s["chain"]))
    trainer = trainers.BpeTrainer(vocab_size=cfg["bpe_vocab"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    j = json.loads(tok.to_str())
    n = len(j["model"]["vocab"])
    j["added_tokens"] = [
        {"id": n, "content": BOS, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
        {"id": n + 1, "content": EOS, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}]
    j["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A",
                                                                             "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A",
                                                                           "type_id": 0}},
                 {"SpecialToken": {"id": BOS, "type_id": 1}}, {"Sequence": {"id": "B",
                                                                           "type_id": 1}}],
        "special_tokens": {BOS: {"id": BOS, "ids": [n], "tokens": [BOS]}}}
    path = os.path.join(out, "tokenizer-base.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False, indent=2)
    log("tokenizer: byte-level BPE of %d tokens (+ BOS, EOS) trained on %d texts (%.0fs)" % (
        n, len(texts), time.time() - t))
    return path, n + 2


def template(caption):
    return "User: " + PREFIX + caption.strip() + "\n\nAssistant:"


def mkmodel(cfg, out, base, n_base, log):
    """config.json, tokenizer.json (+ Janus and GoT-R1 added tokens) and tokenizer configs in the
    layout the C side loads; the random weights it writes are replaced by the export."""
    lm, v = cfg["lm"], cfg["vq"]
    vocab = (n_base + 16 + 63) // 64 * 64  # 12 Janus + 4 GoT-R1 added tokens
    binary = os.path.join(ROOT, "build", "bin", "mkmodel")
    if not os.path.exists(binary):
        subprocess.run(["make", "-C", ROOT, "build/bin/mkmodel"], check=True)
    args = [binary, "--out", out, "--tokenizer", base, "--vocab", str(vocab),
            "--hidden", str(lm["hidden_size"]), "--intermediate", str(lm["intermediate_size"]),
            "--layers", str(lm["num_hidden_layers"]), "--heads", str(lm["num_attention_heads"]),
            "--kv-heads", str(lm["num_attention_heads"]),
            "--max-pos", str(lm["max_position_embeddings"]),
            "--image-vocab", str(v["image_token_size"]), "--code-dim", str(v["n_embed"]),
            "--vq-ch", str(v["ch"]), "--vq-mult", ",".join(map(str, v["decoder_ch_mult"])),
            "--vq-z", str(v["z_channels"]), "--vq-res", str(v["num_res_blocks"]),
            "--image-size", str(cfg["image_size"]), "--patch-size", str(cfg["patch_size"])]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    os.remove(os.path.join(out, "model.safetensors"))
    log("mkmodel: config.json and tokenizer files written (vocab %d)" % vocab)
    return vocab


def load_tokenizer(out):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    ids = {k: tok.token_to_id(k) for k in (BOS, PAD, BOI, "<|obj_start|>", "<|box_start|>")}
    assert all(v is not None for v in ids.values()), ids
    return tok, ids


def encode_texts(tok, ids, sc):
    """(prompt ids with BOS, chain ids ending in <begin_of_image>) per scene."""
    prompts = tok.encode_batch([template(s["prompt"]) for s in sc])
    chains = tok.encode_batch([s["chain"] for s in sc], add_special_tokens=False)
    out = []
    for p, c in zip(prompts, chains):
        assert p.ids[0] == ids[BOS] and c.ids[-1] == ids[BOI]
        out.append((p.ids, c.ids))
    return out


# --- 3. VQ -------------------------------------------------------------------------------------


def to_tensor(imgs):
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def train_vq(cfg, imgs, log):
    v = dict(cfg["vq"])
    vq = VQ(v)
    dec_params = count(vq.decoder) + count(vq.post_quant_conv) + vq.quantize.embedding.weight.numel()
    log("vq: %d parameters (%d shipped: codebook, post_quant_conv, decoder)" % (count(vq),
                                                                               dec_params))
    opt = torch.optim.Adam(vq.parameters(), lr=cfg["vq_lr"], betas=(0.5, 0.9))
    steps, B, K = cfg["vq_steps"], cfg["vq_batch"], v["image_token_size"]
    gen = np.random.default_rng(1)
    used = torch.zeros(K)
    n_used = 0
    t0 = time.time()
    for step in range(1, steps + 1):
        lr = cfg["vq_lr"] * min(1.0, step / 100) * (0.5 * (1 + math.cos(math.pi * step / steps))
                                                   * 0.9 + 0.1)
        for g in opt.param_groups:
            g["lr"] = lr
        x = to_tensor(imgs[gen.integers(0, len(imgs), B)])
        crop = cfg["vq_crop"]
        if crop and step <= steps * (1 - cfg["vq_full_share"]):
            # most steps on aligned crops (a quarter of the pixels at 64 of 128): the decoder is
            # convolutional; the last share of the steps sees whole pictures
            cells = (x.shape[2] - crop) // cfg["patch_size"]
            cy, cx = (int(c) * cfg["patch_size"] for c in gen.integers(0, cells + 1, 2))
            x = x[:, :, cy:cy + crop, cx:cx + crop]
        if step == 1:  # the codebook starts on the encoder's own first outputs
            with torch.no_grad():
                zf0 = F.normalize(vq.quant_conv(vq.encoder(x)).permute(0, 2, 3, 1)
                                  .reshape(-1, v["n_embed"]), dim=-1)
                pick = zf0[torch.randint(0, zf0.shape[0], (K,))]
                vq.quantize.embedding.weight.copy_(pick + 0.05 * torch.randn_like(pick))
        rec, codes, qloss, zf = vq(x)
        # flat colours: squared error, plus a weight on the pixels that are not background grey
        err = (rec - x).pow(2)
        fg = (x.max(1, keepdim=True).values - x.min(1, keepdim=True).values > 0.2).float()
        rloss = (err * (1 + 4 * fg)).mean() + (rec - x).abs().mean()
        loss = rloss + qloss
        opt.zero_grad()
        loss.backward()
        opt.step()
        used += torch.bincount(codes.flatten(), minlength=K).float()
        if step % 25 == 0 and step < steps * 0.8:
            dead = (used == 0).nonzero().flatten()
            if len(dead):  # restart codes unused for 25 steps on recent encodings
                with torch.no_grad():
                    pick = zf[torch.randint(0, zf.shape[0], (len(dead),))]
                    vq.quantize.embedding.weight[dead] = pick + 0.01 * torch.randn_like(pick)
            n_used = int((used > 0).sum())
            used.zero_()
        if step % 100 == 0 or step == steps:
            eta(log, "vq", step, steps, t0, "loss %.4f (rec %.4f, q %.4f) codes used %d/%d" % (
                loss.item(), rloss.item(), qloss.item(), max(n_used, int((used > 0).sum())), K))
    return vq


@torch.no_grad()
def encode_all(vq, imgs, log):
    t = time.time()
    vq.eval()
    out = []
    for i in range(0, len(imgs), 64):
        out.append(vq.encode(to_tensor(imgs[i:i + 64]))[1])
    codes = torch.cat(out)
    x = to_tensor(imgs[:32])
    rec = vq.decode_codes(codes[:32], *grid_of(vq, imgs))
    mse = F.mse_loss(((rec + 1) * 127.5).clamp(0, 255).floor(), ((x + 1) * 127.5)).item()
    log("encode: %d pictures to %s codes, %d distinct codes; decoded pixel RMSE %.1f (%.0fs)" % (
        len(imgs), tuple(codes.shape), len(torch.unique(codes)), math.sqrt(mse), time.time() - t))
    return codes


def boxes_by_colour(img):
    """{palette colour: (x1, y1, x2, y2) in pixels} of a uint8 [H, W, 3] picture: nearest palette
    colour, nearer than the grey axis (as common/model/score/score.c decides, without its majority
    filter and region sizes): a quick look at what the C score will find."""
    px = img.reshape(-1, 3).astype(np.int32)
    pal = np.array(list(scenes.PALETTE.values()), np.int32)
    d = ((px[:, None, :] - pal[None]) ** 2).sum(-1)
    grey = ((px - px.mean(1, keepdims=True).astype(np.int32)) ** 2).sum(-1)
    best = d.argmin(1)
    keep = (d.min(1) < 80 * 80) & (d.min(1) < grey)
    cls = np.where(keep, best, -1).reshape(img.shape[:2])
    out = {}
    for i, name in enumerate(scenes.PALETTE):
        ys, xs = np.nonzero(cls == i)
        if len(xs) >= 8:
            out[name] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


def iou(a, b):
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u


@torch.no_grad()
def vq_ceiling(vq, cfg, log, seed=77, n=64):
    """Mean IoU of the planned boxes with what the VQ's own reconstruction of held-out scenes
    shows: the most the language model can reach when it writes the codes exactly."""
    sc = scenes.make(seed, n)
    imgs = np.stack([scenes.render(s, cfg["image_size"]) for s in sc])
    codes = vq.encode(to_tensor(imgs))[1]
    rec = vq.decode_codes(codes, *grid_of(vq, imgs))
    px = ((rec + 1) * 127.5).clamp(0, 255).floor().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    ious = []
    for s, img in zip(sc, px):
        found = boxes_by_colour(img)
        k = cfg["image_size"] / scenes.STEPS
        for o in s["objects"]:
            plan = [c * k for c in o["box"]]
            ious.append(iou(plan, found[o["colour"]]) if o["colour"] in found else 0.0)
    log("vq ceiling: held-out scenes (seed %d) through the VQ: mean IoU %.3f over %d objects" % (
        seed, sum(ious) / len(ious), len(ious)))


def grid_of(vq, imgs):
    side = imgs.shape[1] // 2 ** (len(vq.v["decoder_ch_mult"]) - 1)
    return side, side


# --- 5. language model -------------------------------------------------------------------------


def lm_config(cfg, vocab):
    c = dict(cfg["lm"])
    c.update(vocab_size=vocab, rms_norm_eps=1e-6, rope_theta=10000.0)
    return c


def lm_loss(model, batch, pad, uncond):
    """batch: list of (prompt ids, chain ids, codes [n]); uncond: per sample, whether its
    conditioning is replaced by pad. Returns the sums of the text and the image losses."""
    H = model.c["hidden_size"]
    seqs, t_pos, t_tgt, i_pos = [], [], [], []
    n_img = batch[0][2].shape[0]
    lens = []
    for b, (p, c, codes) in enumerate(batch):
        ids = torch.tensor(p + c)
        L = len(ids)
        if uncond[b]:
            ids = ids.clone()
            ids[1:L - 1] = pad
        seqs.append((ids, codes))
        lens.append(L + n_img - 1)
        if not uncond[b]:  # chain tokens: predicted from the position before each
            for j in range(len(p), L):
                t_pos.append((b, j - 1))
                t_tgt.append(int(ids[j]))
        for j in range(n_img):  # image token j: from <begin_of_image> (L-1) or image token j-1
            i_pos.append((b, L - 1 + j))
    T = max(lens)
    x = torch.zeros(len(batch), T, H)
    for b, (ids, codes) in enumerate(seqs):
        L = len(ids)
        x[b, :L] = model.text_embeds(ids)
        x[b, L:L + n_img - 1] = model.image_embeds(codes[:-1])
    h = model(x)
    img_tgt = torch.stack([codes for _, codes in seqs]).flatten()
    ib, it = zip(*i_pos)
    li = F.cross_entropy(model.image_logits(h[list(ib), list(it)]), img_tgt, reduction="sum")
    if t_pos:
        tb, tt = zip(*t_pos)
        lt = F.cross_entropy(model.text_logits(h[list(tb), list(tt)]), torch.tensor(t_tgt),
                             reduction="sum")
    else:
        lt = torch.zeros(())
    return lt, li


def train_lm(cfg, vocab, texts, codes, ids, log):
    c = lm_config(cfg, vocab)
    K, D = cfg["vq"]["image_token_size"], cfg["vq"]["n_embed"]
    model = GoT(c, K, D)
    log("lm: %d parameters (%s)" % (count(model), json.dumps(cfg["lm"])))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                             {"params": other, "weight_decay": 0.0}], lr=cfg["lm_lr"],
                            betas=(0.9, 0.95))
    steps, B = cfg["lm_steps"], cfg["lm_batch"]
    rng = random.Random(2)
    order = list(range(len(texts)))
    t0 = time.time()
    pos = len(order)
    for step in range(1, steps + 1):
        lr = cfg["lm_lr"] * min(1.0, step / 200) * (0.5 * (1 + math.cos(math.pi * step / steps))
                                                   * 0.95 + 0.05)
        for g in opt.param_groups:
            g["lr"] = lr
        if pos + B > len(order):
            rng.shuffle(order)
            pos = 0
        idx = order[pos:pos + B]
        pos += B
        uncond = [rng.random() < cfg["p_uncond"] for _ in idx]
        # two micro-batches of similar lengths (sorted), so that little of a step is padding;
        # the gradient is that of the whole batch's mean text and image losses
        idx = sorted(zip(idx, uncond), key=lambda t: len(texts[t[0]][0]) + len(texts[t[0]][1]))
        n_text = sum(len(texts[i][1]) for i, u in idx if not u)
        n_image = len(idx) * codes.shape[1]
        opt.zero_grad()
        lt = li = 0.0
        for part in (idx[:B // 2], idx[B // 2:]):
            batch = [(texts[i][0], texts[i][1], codes[i]) for i, _ in part]
            st, si = lm_loss(model, batch, ids[PAD], [u for _, u in part])
            loss = st / max(n_text, 1) + si / n_image
            loss.backward()
            lt, li = lt + st.item() / max(n_text, 1), li + si.item() / n_image
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps:
            eta(log, "lm", step, steps, t0, "text loss %.3f  image loss %.3f  lr %.2e" % (
                lt, li, lr))
    return model


# --- 6. export ---------------------------------------------------------------------------------

# The demo model's generation defaults, written as generation_config.json beside the weights (the
# keys are the reason and imagegen stages' request parameters, common/model/lm/genconfig.h): greedy
# chain and picture, guidance weight 1.5 (GoT-R1's is 5; docs/demo-model.md has the sweep), chains
# of at most 300 tokens (a trained chain is about 60).
GENERATION = {"text_temperature": 0.0, "image_temperature": 0.0, "cfg_weight": 1.5,
              "max_tokens": 300}


def export(out, cfg, model, vq, seed, log, extra):
    sd = {}
    for k, v in model.state_dict().items():
        sd[k] = v.detach().float().contiguous()
    ship = ("quantize.embedding.weight", "post_quant_conv.", "decoder.")
    for k, v in vq.state_dict().items():
        if k.startswith(ship):
            sd["gen_vision_model." + k] = v.detach().float().contiguous()
    path = os.path.join(out, "model.safetensors")
    save_file(sd, path, metadata={"format": "pt"})
    conf_path = os.path.join(out, "config.json")
    conf = json.load(open(conf_path))
    conf["gotflow_demo"] = dict(version=1, data_seed=seed, domain="synthetic scenes",
                                generator="tools/demo-model/scenes.py", **extra)
    with open(conf_path, "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump(GENERATION, f, indent=2, sort_keys=True)
        f.write("\n")
    log("export: model.safetensors, %d tensors, %.1f MB" % (len(sd), os.path.getsize(path) / 1e6))


@torch.no_grad()
def sample_greedy(model, tok, ids, caption, max_text=200):
    """Greedy chain for a caption (PyTorch), as a quick look at what the model learnt."""
    p = tok.encode(template(caption)).ids
    caches = [dict() for _ in model.language_model.model.layers]
    h = model(model.text_embeds(torch.tensor([p])), 0, caches)
    out = []
    pos = len(p)
    while len(out) < max_text:
        nxt = int(model.text_logits(h[0, -1]).argmax())
        out.append(nxt)
        if nxt == ids[BOI]:
            break
        h = model(model.text_embeds(torch.tensor([[nxt]])), pos, caches)
        pos += 1
    return tok.decode(out, skip_special_tokens=False)


def estimate(cfg, log, n=4):
    """Times a few VQ and LM steps of `cfg` on real scenes and prints what its step counts need."""
    sc, imgs = make_data(dict(cfg, n_scenes=256), 1, log)
    vq = train_vq(dict(cfg, vq_steps=1, vq_full_share=0), imgs, log)  # warm-up
    t = time.time()
    train_vq(dict(cfg, vq_steps=n, vq_full_share=0), imgs, lambda m: None)
    crop_s = (time.time() - t) / n
    t = time.time()
    train_vq(dict(cfg, vq_steps=n, vq_crop=0), imgs, lambda m: None)
    full_s = (time.time() - t) / n
    share = cfg["vq_full_share"] if cfg["vq_crop"] else 1.0
    vq_s = crop_s * (1 - share) + full_s * share
    log("estimate: vq %.2f s/step on crops, %.2f on whole pictures" % (crop_s, full_s))
    t = time.time()
    codes = encode_all(vq, imgs, lambda m: None)
    enc_s = (time.time() - t) / len(imgs)
    texts = [([1] * 34, [2] * 58, None)] * len(imgs)  # mean lengths (train.log "text:")
    lm_cfg = dict(cfg, lm_steps=1)
    ids = {PAD: 0}
    txt = [(p, c) for p, c, _ in texts]
    train_lm(lm_cfg, 1088, txt, codes, ids, log)  # warm-up
    t = time.time()
    train_lm(dict(cfg, lm_steps=n), 1088, txt, codes, ids, lambda m: None)
    lm_s = (time.time() - t) / n
    total = vq_s * cfg["vq_steps"] + enc_s * cfg["n_scenes"] + lm_s * cfg["lm_steps"] + 120
    log("estimate: vq %.2f s/step x %d = %.0f min; encode %.0f ms/picture x %d = %.1f min; "
        "lm %.2f s/step x %d = %.0f min; data, tokenizer, export ~2 min; total %.0f min" % (
            vq_s, cfg["vq_steps"], vq_s * cfg["vq_steps"] / 60, enc_s * 1e3, cfg["n_scenes"],
            enc_s * cfg["n_scenes"] / 60, lm_s, cfg["lm_steps"], lm_s * cfg["lm_steps"] / 60,
            total / 60))


def main():
    ap = argparse.ArgumentParser(description="train the demo model (docs/demo-model.md)")
    ap.add_argument("--out", required=True, help="checkpoint directory to write")
    ap.add_argument("--quick", action="store_true", help="tiny data and steps: a smoke run")
    ap.add_argument("--seed", type=int, default=20260101, help="data seed (scenes.py)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vq-steps", type=int, help="override the configuration's (experiments)")
    ap.add_argument("--lm-steps", type=int, help="override the configuration's (experiments)")
    ap.add_argument("--estimate", action="store_true",
                    help="time a few steps of the configuration and print the run's estimate")
    a = ap.parse_args()
    cfg = dict(CONFIGS["quick" if a.quick else "full"])
    if a.vq_steps:
        cfg["vq_steps"] = a.vq_steps
    if a.lm_steps:
        cfg["lm_steps"] = a.lm_steps
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    log = Log(os.path.join(a.out, "estimate.log" if a.estimate else "train.log"))
    if a.estimate:
        return estimate(cfg, log)
    log("config %s: %s" % ("quick" if a.quick else "full", json.dumps(cfg)))
    log("torch %s, %d threads" % (torch.__version__, torch.get_num_threads()))
    times = {}
    t = time.time()
    sc, imgs = make_data(cfg, a.seed, log)
    base, n_base = train_tokenizer(cfg, sc, a.out, log)
    vocab = mkmodel(cfg, a.out, base, n_base, log)
    os.remove(base)
    tok, ids = load_tokenizer(a.out)
    texts = encode_texts(tok, ids, sc)
    lens = [len(p) + len(c) for p, c in texts]
    log("text: prompt+chain tokens mean %.1f, max %d" % (sum(lens) / len(lens), max(lens)))
    times["data_tokenizer_s"] = time.time() - t
    t = time.time()
    vq = train_vq(cfg, imgs, log)
    times["vq_s"] = time.time() - t
    t = time.time()
    codes = encode_all(vq, imgs, log)
    vq_ceiling(vq, cfg, log)
    times["encode_s"] = time.time() - t
    t = time.time()
    model = train_lm(cfg, vocab, texts, codes, ids, log)
    times["lm_s"] = time.time() - t
    model.eval()
    for cap in ["a red circle to the left of a blue square", "a small green triangle above a "
                "large yellow diamond"]:
        log("greedy chain for %r: %s" % (cap, sample_greedy(model, tok, ids, cap)))
    export(a.out, cfg, model, vq, a.seed, log,
           dict(config="quick" if a.quick else "full", vq_steps=cfg["vq_steps"],
                lm_steps=cfg["lm_steps"], n_scenes=cfg["n_scenes"], p_uncond=cfg["p_uncond"],
                seconds={k: round(v) for k, v in times.items()}))
    log("done: %.0fs in all (%s)" % (time.time() - log.t0, json.dumps(
        {k: round(v) for k, v in times.items()})))


if __name__ == "__main__":
    main()
