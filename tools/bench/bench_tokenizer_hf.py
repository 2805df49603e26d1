#!/usr/bin/env python3
"""HF `tokenizers` peer of build/bench/bench_tokenizer: same documents, one thread.

usage: bench_tokenizer_hf.py TOKENIZER_JSON CORPUS_JSONL [PASSES]
Set RAYON_NUM_THREADS=1 (bench_tokenizer.sh does) so encode_batch stays on one thread.
"""
import json
import sys
import time

from tokenizers import Tokenizer

DOC_LINES = 20


def main():
    tpath, cpath = sys.argv[1], sys.argv[2]
    passes = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    t0 = time.perf_counter()
    tok = Tokenizer.from_file(tpath)
    load_s = time.perf_counter() - t0
    with open(cpath, encoding="utf-8", newline="") as f:
        if cpath.endswith(".jsonl"):
            lines = [json.loads(l)["t"] for l in f]
        else:
            lines = [l[:-1] if l.endswith("\n") else l for l in f]
    docs = ["\n".join(lines[i:i + DOC_LINES]) for i in range(0, len(lines), DOC_LINES)]
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    best_loop = best_batch = 1e9
    for _ in range(passes):
        t = time.perf_counter()
        n_ids = sum(len(tok.encode(d, add_special_tokens=False).ids) for d in docs)
        best_loop = min(best_loop, time.perf_counter() - t)
        t = time.perf_counter()
        tok.encode_batch(docs, add_special_tokens=False)
        best_batch = min(best_batch, time.perf_counter() - t)
    best = min(best_loop, best_batch)
    print(f"hf load: {load_s:.3f} s")
    print(f"hf encode: {nbytes / best / 1e6:.2f} MB/s ({nbytes} bytes, {len(docs)} docs, "
          f"{n_ids} ids, best of {passes}; encode loop {nbytes / best_loop / 1e6:.2f} MB/s, "
          f"encode_batch {nbytes / best_batch / 1e6:.2f} MB/s)")


if __name__ == "__main__":
    main()
