"""Writes the language model of a GoT-R1 checkpoint as a LLaMA GGUF for llama.cpp, with gguf-py
(llama.cpp's own Python package): tools/bench/peer_llamacpp.sh runs it.

    python tools/bench/llama_gguf.py CKPT_DIR OUT.gguf [--dtype bf16|f32]

The checkpoint's `language_model.*` tensors are a LLaMA decoder under the Janus names
(multi_modality config), which llama.cpp's convert_hf_to_gguf.py does not know; this maps them
to GGUF names as that converter does for LlamaForCausalLM (q and k rows permuted from the
rotate-half layout to llama.cpp's), and writes a stand-in SentencePiece vocabulary of the
checkpoint's size (llama-bench draws token ids, it never tokenizes). bf16 tensors are copied
bit for bit; --dtype f32 widens them.
"""
import argparse
import json
import os

import gguf
import numpy as np
from safetensors import safe_open


def load(ckpt):
    idx = os.path.join(ckpt, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else [
        "model.safetensors"]
    out = {}
    for f in files:
        with safe_open(os.path.join(ckpt, f), framework="numpy") as st:
            for k in st.keys():
                if k.startswith("language_model."):
                    out[k] = (f, k)
    return files, out


def raw(ckpt, f, name):
    """The tensor as stored: (uint16 array for BF16 or float32 array, 'BF16'|'F32'|'F16')."""
    path = os.path.join(ckpt, f)
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        hdr = json.loads(fh.read(n))
        meta = hdr[name]
        a, b = meta["data_offsets"]
        fh.seek(8 + n + a)
        buf = fh.read(b - a)
    dt = meta["dtype"]
    arr = np.frombuffer(buf, {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}[dt])
    return arr.reshape(meta["shape"]), dt


def permute(w, n_head):
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("--dtype", choices=("bf16", "f32"), default="bf16")
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.ckpt, "config.json")))
    lc = cfg["language_config"]
    H = lc.get("hidden_size", 4096)
    n_layers = lc.get("num_hidden_layers", 32)
    n_head = lc.get("num_attention_heads", 32)
    n_kv = lc.get("num_key_value_heads", n_head)
    vocab = lc.get("vocab_size", 32000)
    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name("gotflow-mkmodel")
    w.add_context_length(lc.get("max_position_embeddings", 2048))
    w.add_embedding_length(H)
    w.add_block_count(n_layers)
    w.add_feed_forward_length(lc.get("intermediate_size", 11008))
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_dimension_count(H // n_head)
    w.add_rope_freq_base(float(lc.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(lc.get("rms_norm_eps", 1e-6)))
    w.add_vocab_size(vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if a.dtype == "bf16" else gguf.LlamaFileType.ALL_F32)
    # a stand-in SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, then fillers
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]
    toks += ["t%d" % i for i in range(len(toks), vocab)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.NORMAL] * (vocab - 259)
    w.add_tokenizer_model("llama")
    w.add_token_list(toks[:vocab])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types(types[:vocab])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    files, names = load(a.ckpt)
    m = {"language_model.model.embed_tokens.weight": "token_embd.weight",
         "language_model.model.norm.weight": "output_norm.weight",
         "language_model.lm_head.weight": "output.weight"}
    per = {"input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
           "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
           "self_attn.o_proj.weight": "attn_output.weight",
           "post_attention_layernorm.weight": "ffn_norm.weight",
           "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
           "mlp.down_proj.weight": "ffn_down.weight"}
    for i in range(n_layers):
        for k, v in per.items():
            m["language_model.model.layers.%d.%s" % (i, k)] = "blk.%d.%s" % (i, v)
    for src, dst in m.items():
        arr, dt = raw(a.ckpt, *names[src])
        if dst.endswith("attn_q.weight"):
            arr = permute(arr, n_head)
        elif dst.endswith("attn_k.weight"):
            arr = permute(arr, n_kv)
        norm = arr.ndim == 1
        if dt == "BF16" and a.dtype == "bf16" and not norm:
            w.add_tensor(dst, np.ascontiguousarray(arr), raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            if dt == "BF16":
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            w.add_tensor(dst, np.ascontiguousarray(arr.astype(np.float32)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", a.out)


if __name__ == "__main__":
    main()
