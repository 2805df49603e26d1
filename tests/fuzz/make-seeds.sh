#!/usr/bin/env bash
# make-seeds.sh — (re)builds the seed corpora of the fuzz targets, tests/fuzz/corpus/<target>/,
# from files the repository already holds: the pipeline graphs, the test data, the goldens and the
# demo model. Run from anywhere; needs python3 only.
#
# Seeds written here are named src-*; the script first removes every src-* file, so its output is
# reproducible. Other seeds (hand-written, or a fuzzer's find worth keeping, such as a crash
# reproducer named crash-*) are left alone. Every seed stays under 64 KiB.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
corpus=tests/fuzz/corpus
for t in tests/fuzz/fuzz_*.c; do
    mkdir -p "$corpus/$(basename "$t" .c)"
done
find "$corpus" -name 'src-*' -delete

python3 - "$corpus" <<'EOF'
import glob, json, os, re, struct, sys, zlib

corpus = sys.argv[1]
LIMIT = 64 * 1024


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > LIMIT:
        raise SystemExit(f"seed {target}/{name} is {len(data)} bytes (at most {LIMIT})")
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    with open(os.path.join(corpus, target, "src-" + name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# fuzz_graph: every pipeline and every test graph, good and bad
for path in sorted(glob.glob("pipelines/*.yaml") + glob.glob("tests/graphs/*.yaml")):
    put("fuzz_graph", os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path),
        read(path))

# fuzz_layout: the reasoning chains, whole and sentence by sentence
for path in sorted(glob.glob("tests/data/reasoning-*.txt")):
    text = read(path).decode()
    base = os.path.basename(path)[:-4]
    put("fuzz_layout", base + ".txt", text)
    for i, part in enumerate(re.split(r"(?<=[.!?]) ", text)):
        if "<|" in part:
            put("fuzz_layout", f"{base}-{i:02d}.txt", part)

# fuzz_png: the demo scenes, and one small picture of each colour type the reader handles
for path in sorted(glob.glob("tests/data/demo-scenes/*.png")):
    if os.path.getsize(path) <= LIMIT:
        put("fuzz_png", os.path.basename(path), read(path))


def png(width, height, color_type, depth, rows, plte=None, trns=None):
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
    raw = b"".join(b"\0" + r for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth,
                                                          color_type, 0, 0, 0))
    if plte:
        out += chunk(b"PLTE", plte)
    if trns:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


put("fuzz_png", "gray8.png", png(3, 2, 0, 8, [b"\x00\x80\xff"] * 2))
put("fuzz_png", "gray1.png", png(9, 1, 0, 1, [b"\xaa\x80"]))
put("fuzz_png", "gray16.png", png(2, 2, 0, 16, [b"\x00\x00\xff\xff"] * 2))
put("fuzz_png", "gray-alpha.png", png(2, 1, 4, 8, [b"\x10\xff\x20\x00"]))
put("fuzz_png", "rgb16.png", png(1, 2, 2, 16, [b"\x00\x01\x02\x03\x04\x05"] * 2))
put("fuzz_png", "rgba.png", png(2, 2, 6, 8, [bytes(range(8))] * 2))
put("fuzz_png", "palette.png", png(4, 1, 3, 2, [b"\x1b"], plte=b"\xff\0\0\0\xff\0\0\0\xff\0\0\0",
                                   trns=b"\x80"))

# fuzz_safetensors: the demo model's header cut to its first tensors, with their bytes; the
# same header without its data (refused); and a tiny file of each dtype
model = "models/got-r1-demo/model.safetensors"
if os.path.exists(model):
    blob = read(model)
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    keep, end = {}, 0
    for name, entry in header.items():
        if name == "__metadata__":
            keep[name] = entry
        elif entry["data_offsets"][1] <= 16 * 1024:
            keep[name] = entry
            end = max(end, entry["data_offsets"][1])
    head = json.dumps(keep, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    put("fuzz_safetensors", "demo-head.safetensors",
        struct.pack("<Q", len(head)) + head + blob[8 + n:8 + n + end])
    put("fuzz_safetensors", "demo-head-no-data.safetensors", struct.pack("<Q", len(head)) + head)


def safetensors(tensors):
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dtype, shape, size in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + size]}
        data += bytes((i * 7) & 0xff for i in range(size))
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + data


put("fuzz_safetensors", "dtypes.safetensors",
    safetensors([("a", "F32", [2, 3], 24), ("b", "F16", [4], 8), ("c", "BF16", [2, 2], 8),
                 ("d", "I64", [1], 8), ("e", "U8", [3], 3), ("f", "BOOL", [], 1)]))
put("fuzz_safetensors", "empty.safetensors", safetensors([]))

# fuzz_tokenizer: byte 0 picks the mode (0: a tokenizer.json to load; 1, 4, 7: text to encode
# with test tokenizer 0, 1, 2)
for path in sorted(glob.glob("tests/oracle/goldens/tokenizer/*-bpe.json")):
    if os.path.getsize(path) < LIMIT:
        put("fuzz_tokenizer", "load-" + os.path.basename(path), b"\0" + read(path))
text = read("tests/data/reasoning-1B.txt")
for mode in (1, 4, 7):
    put("fuzz_tokenizer", f"encode-{mode}-reasoning.bin", bytes([mode]) + text)
EOF
du -sh "$corpus"
for d in "$corpus"/*/; do
    printf '%-20s %3d files\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
