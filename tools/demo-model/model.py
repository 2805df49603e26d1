"""PyTorch modules of the demo model, written so that their state_dict names are the tensor names
the C runtime reads (MODEL.md §2-§5, common/model/lm/{checkpoint,vq}.c).

- `GoT`: the GoT-R1 / Janus-Pro generation model: a LLaMA decoder (`language_model.model.*`),
  its text head (`language_model.lm_head`), the image head (`gen_head.output_mlp_projector`,
  GELU, `gen_head.vision_head`), the image-token input (`gen_embed` then `gen_aligner.layers.{0,2}`
  with an exact GELU between). Same math as transformers' LlamaForCausalLM (RMSNorm, rotate-half
  RoPE, SwiGLU, no biases) and GoT-R1's heads.
- `VQ`: a LlamaGen VQ-16 autoencoder (patch-local encoder, l2-normalised codebook, decoder)
  with smaller sizes. Only `gen_vision_model.quantize.embedding`, `post_quant_conv` and
  `decoder.*` ship; the decoder is exactly the one common/model/lm/vq.c runs.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- language model -----------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(n_pos, head_dim, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    ang = torch.arange(n_pos, dtype=torch.float32)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, nh = c["hidden_size"], c["num_attention_heads"]
        self.nh, self.hd = nh, H // nh
        self.q_proj = nn.Linear(H, H, bias=False)
        self.k_proj = nn.Linear(H, H, bias=False)
        self.v_proj = nn.Linear(H, H, bias=False)
        self.o_proj = nn.Linear(H, H, bias=False)

    def forward(self, x, cos, sin, cache=None):
        B, T, H = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        causal = cache is None or T > 1
        if causal and k.shape[2] != T:  # a chunk after a cache: not used by this trainer
            raise ValueError("multi-token step after a cache")
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, I = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(H, I, bias=False)
        self.up_proj = nn.Linear(H, I, bias=False)
        self.down_proj = nn.Linear(I, H, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = MLP(c)
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x, cos, sin, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class LanguageModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = LlamaModel(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)


class GenHead(nn.Module):
    def __init__(self, H, n_codes):
        super().__init__()
        self.output_mlp_projector = nn.Linear(H, H)
        self.vision_head = nn.Linear(H, n_codes)

    def forward(self, h):
        return self.vision_head(F.gelu(self.output_mlp_projector(h)))


class Aligner(nn.Module):
    def __init__(self, D, H):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(D, H), nn.GELU(), nn.Linear(H, H))

    def forward(self, x):
        return self.layers(x)


class GoT(nn.Module):
    """language_model + gen_head + gen_embed + gen_aligner, named as the checkpoint names them."""

    def __init__(self, c, n_codes, code_dim):
        super().__init__()
        self.c = c
        H = c["hidden_size"]
        self.language_model = LanguageModel(c)
        self.gen_head = GenHead(H, n_codes)
        self.gen_embed = nn.Embedding(n_codes, code_dim)
        self.gen_aligner = Aligner(code_dim, H)
        hd = H // c["num_attention_heads"]
        cos, sin = rope_tables(c["max_position_embeddings"], hd, c["rope_theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)

    def text_embeds(self, ids):
        return self.language_model.model.embed_tokens(ids)

    def image_embeds(self, codes):
        return self.gen_aligner(self.gen_embed(codes))

    def forward(self, x, start=0, caches=None):
        """Final hidden states (after the last RMSNorm) of inputs_embeds x [B, T, H] at positions
        start..start+T-1; caches: a list of dicts, one per layer, for incremental decoding."""
        T = x.shape[1]
        cos, sin = self.cos[start:start + T], self.sin[start:start + T]
        for i, layer in enumerate(self.language_model.model.layers):
            x = layer(x, cos, sin, None if caches is None else caches[i])
        return self.language_model.model.norm(x)

    def text_logits(self, h):
        return self.language_model.lm_head(h)

    def image_logits(self, h):
        return self.gen_head(h)


# --- VQ autoencoder (LlamaGen VQ-16 form) --------------------------------------------------------


def _norm(c):
    return nn.GroupNorm(32, c, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = _norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = _norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)
        else:
            self.nin_shortcut = None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = _norm(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        B, C, Hh, W = x.shape
        h = self.norm(x)
        q = self.q(h).reshape(B, C, Hh * W).permute(0, 2, 1)
        k = self.k(h).reshape(B, C, Hh * W)
        v = self.v(h).reshape(B, C, Hh * W)
        w = torch.softmax(torch.bmm(q, k) * (C ** -0.5), dim=2)
        o = torch.bmm(v, w.permute(0, 2, 1)).reshape(B, C, Hh, W)
        return x + self.proj_out(o)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DecLevel(nn.Module):
    def __init__(self, cin, cout, n_blocks, attn, up):
        super().__init__()
        self.res = nn.ModuleList([ResnetBlock(cin if i == 0 else cout, cout)
                                  for i in range(n_blocks)])
        self.attn = nn.ModuleList([AttnBlock(cout) for _ in range(n_blocks)]) if attn else None
        self.upsample = Upsample(cout) if up else None

    def forward(self, x):
        for i, r in enumerate(self.res):
            x = r(x)
            if self.attn is not None:
                x = self.attn[i](x)
        return self.upsample(x) if self.upsample is not None else x


class Decoder(nn.Module):
    """common/model/lm/vq.c's decoder: conv_in, mid (res, attn, res), levels from the coarsest
    (attention at level 0, upsample after every level but the last), norm_out, swish,
    conv_out."""

    def __init__(self, ch, mult, z, n_res):
        super().__init__()
        L = len(mult)
        top = ch * mult[-1]
        self.conv_in = nn.Conv2d(z, top, 3, padding=1)
        self.mid = nn.ModuleList([ResnetBlock(top, top), AttnBlock(top), ResnetBlock(top, top)])
        levels, cin = [], top
        for l in range(L):
            cout = ch * mult[L - 1 - l]
            levels.append(DecLevel(cin, cout, n_res + 1, l == 0, l != L - 1))
            cin = cout
        self.conv_blocks = nn.ModuleList(levels)
        self.norm_out = _norm(cin)
        self.conv_out = nn.Conv2d(cin, 3, 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        for m in self.mid:
            h = m(h)
        for lv in self.conv_blocks:
            h = lv(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class PixelNorm(nn.Module):
    """LayerNorm over the channels of each position: normalises without looking elsewhere."""

    def __init__(self, c):
        super().__init__()
        self.norm = nn.LayerNorm(c)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class Encoder(nn.Module):
    """A patch-local encoder (not shipped, so its form is free): convolutions whose kernel equals
    their stride, without normalisation, so that a code is a function of its own patch's pixels
    alone. LlamaGen's encoder (3x3 convolutions, GroupNorm over the whole picture, attention in
    its middle) gives the same patch different codes in different pictures, and the language
    model then has to learn that noise: on this domain its image loss stalled at 2.2 nats."""

    def __init__(self, ch, mult, z):
        super().__init__()
        layers, cin = [], 3
        for l in range(len(mult) - 1):  # one 2x2 stride-2 convolution per halving
            cout = ch * mult[l + 1]
            layers += [nn.Conv2d(cin, cout, 2, stride=2), PixelNorm(cout), nn.SiLU(),
                       nn.Conv2d(cout, cout, 1), PixelNorm(cout), nn.SiLU()]
            cin = cout
        layers.append(nn.Conv2d(cin, z, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Quantizer(nn.Module):
    def __init__(self, n, dim):
        super().__init__()
        self.embedding = nn.Embedding(n, dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n, 1.0 / n)

    def codebook(self):
        return F.normalize(self.embedding.weight, dim=-1)

    def forward(self, z):
        """z [B, D, h, w] -> (quantised z, codes [B, h*w], commitment loss); l2-normalised."""
        B, D, h, w = z.shape
        zf = F.normalize(z.permute(0, 2, 3, 1).reshape(-1, D), dim=-1)
        cb = self.codebook()
        codes = (zf @ cb.t()).argmax(dim=1)
        q = cb[codes]
        loss = F.mse_loss(q, zf.detach()) + 0.25 * F.mse_loss(zf, q.detach())
        q = zf + (q - zf).detach()
        return q.view(B, h, w, D).permute(0, 3, 1, 2), codes.view(B, h * w), loss, zf

    def lookup(self, codes, h, w):
        q = self.codebook()[codes]  # [B, h*w, D]
        return q.view(codes.shape[0], h, w, -1).permute(0, 3, 1, 2)


class VQ(nn.Module):
    """gen_vision_model: encoder + quant_conv + quantize + post_quant_conv + decoder."""

    def __init__(self, v):
        super().__init__()
        self.v = v
        ch, mult, z, D = v["ch"], v["decoder_ch_mult"], v["z_channels"], v["n_embed"]
        self.encoder = Encoder(ch, mult, z)
        self.quant_conv = nn.Conv2d(z, D, 1)
        self.quantize = Quantizer(v["image_token_size"], D)
        self.post_quant_conv = nn.Conv2d(D, z, 1)
        self.decoder = Decoder(ch, mult, z, v["num_res_blocks"])

    def encode(self, x):
        return self.quantize(self.quant_conv(self.encoder(x)))

    def decode(self, q):
        return self.decoder(self.post_quant_conv(q))

    def decode_codes(self, codes, h, w):
        return self.decode(self.quantize.lookup(codes, h, w))

    def forward(self, x):
        q, codes, qloss, zf = self.encode(x)
        return self.decode(q), codes, qloss, zf


def count(m):
    return sum(p.numel() for p in m.parameters())


def flops_note(n_params, n_tokens):
    """Rough training FLOPs of a transformer step: 6 * params * tokens."""
    return 6.0 * n_params * n_tokens / 1e9


__all__ = ["GoT", "VQ", "count", "flops_note", "math"]
