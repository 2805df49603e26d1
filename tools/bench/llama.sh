#!/usr/bin/env bash
# tools/bench/llama.sh [LLAMA_SRC] — our CPU backend beside llama.cpp, built CPU-only here from a
# llama.cpp source tree the user points at (never vendored or committed), on the same 1B-shaped
# mkmodel weights: decode (1 row, 1 and 2 threads) and prefill (512 tokens) at bf16, q8_0 and
# q4_0, both sides in one command, rounds interleaved, medians and ratios (ours / theirs).
#
#   LLAMA_SRC   llama.cpp source tree (default build/peer/llama.cpp); any tree with its CMake
#               build and gguf-py works, e.g. the vendor/llama.cpp of the llama-cpp-python sdist
#   MODEL       bf16 checkpoint (default models/1b-bf16, made by mkmodel --size 1b if absent)
#   ROUNDS      interleaved rounds per figure (default 3); TOKENS decode steps (default 16)
#   PREFILL     prompt tokens of the prefill rows (default 512; 0 leaves them out)
#   DTYPES      default "bf16 q8_0 q4_0"
#
# The GGUF is written by tools/bench/llama_gguf.py with gguf-py (the checkpoint's Janus names are
# not known to convert_hf_to_gguf.py); q8_0 and q4_0 by llama-quantize with the token embedding
# kept bf16 and output.weight q8_0, which is what `precision: q8_0|q4_0` does on our side.
# Everything built or written goes under build/peer/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${1:-${LLAMA_SRC:-build/peer/llama.cpp}}
peer=build/peer
model=${MODEL:-models/1b-bf16}
rounds=${ROUNDS:-3}
tokens=${TOKENS:-16}
prefill=${PREFILL:-512}
dtypes=${DTYPES:-bf16 q8_0 q4_0}
[ -f "$src/CMakeLists.txt" ] || {
    echo "llama.sh: no llama.cpp source tree at '$src' (pass one, or set LLAMA_SRC)" >&2
    exit 2
}
mkdir -p "$peer/gguf"

# 1. llama.cpp, CPU only, native: llama-bench and llama-quantize
bin=$peer/llama-build/bin
if [ ! -x "$bin/llama-bench" ] || [ ! -x "$bin/llama-quantize" ]; then
    cmake -S "$src" -B "$peer/llama-build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=OFF >"$peer/cmake.log"
    cmake --build "$peer/llama-build" -j"$(nproc)" --target llama-bench llama-quantize \
        >"$peer/build.log"
fi

# 2. the weights: our checkpoint, and the same as GGUF
make -s all
[ -f "$model/model.safetensors" ] || [ -f "$model/model.safetensors.index.json" ] ||
    build/bin/mkmodel --size 1b --dtype bf16 --out "$model" >/dev/null
venv=$peer/venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    if [ -f "$src/gguf-py/pyproject.toml" ]; then
        "$venv/bin/pip" install -q "$src/gguf-py" safetensors numpy
    else
        "$venv/bin/pip" install -q gguf safetensors numpy
    fi
fi
g=$peer/gguf
[ -s "$g/bf16.gguf" ] || "$venv/bin/python" tools/bench/llama_gguf.py "$model" "$g/bf16.gguf"
for q in q8_0 q4_0; do
    [[ " $dtypes " == *" $q "* ]] || continue
    [ -s "$g/$q.gguf" ] || "$bin/llama-quantize" --token-embedding-type bf16 \
        --output-tensor-type q8_0 "$g/bf16.gguf" "$g/$q.gguf" "${q^^}" >"$peer/quantize-$q.log"
done

# 3. interleaved rounds: every figure once per round, ours then theirs
ours() { # PHASE DTYPE THREADS -> tokens/s
    if [ "$1" = decode ]; then
        build/bin/gotflow bench decode --model "$model" --threads "$3" --precision "$2" \
            --tokens "$tokens" 2>/dev/null | sed -n 's/^decode:.*: \([0-9.]*\) tokens\/s.*/\1/p'
    else
        build/bin/gotflow bench prefill --model "$model" --threads "$3" --precision "$2" \
            --tokens "$prefill" 2>/dev/null | sed -n 's/^prefill:.*: \([0-9.]*\) tokens\/s.*/\1/p'
    fi
}
theirs() {
    local pn=(-p 0 -n "$tokens")
    [ "$1" = decode ] || pn=(-p "$prefill" -n 0)
    "$bin/llama-bench" -m "$g/$2.gguf" -t "$3" "${pn[@]}" -r 1 -o jsonl 2>/dev/null |
        "$venv/bin/python" -c 'import json,sys; print(json.loads(sys.stdin.readline())["avg_ts"])'
}
rows=()
for d in $dtypes; do
    rows+=("decode $d 1" "decode $d 2")
    [ "$prefill" = 0 ] || rows+=("prefill $d $(nproc)")
done
res=$(mktemp)
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc);" \
    "llama.cpp $(git -C "$src" rev-parse --short HEAD 2>/dev/null || basename "$(cd "$src" && pwd)")"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    for row in "${rows[@]}"; do
        set -- $row
        echo "$row ours $(ours "$@")" >>"$res"
        echo "$row theirs $(theirs "$@")" >>"$res"
    done
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
python3 - "$res" "$rounds" "$prefill" <<'PY'
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5 and f[4]:
        vals.setdefault((f[0], f[1], f[2]), {}).setdefault(f[3], []).append(float(f[4]))
print("| phase | dtype | threads | gotflow tok/s | llama.cpp tok/s | ratio |")
print("| --- | --- | --- | --- | --- | --- |")
for (ph, dt, th), v in vals.items():
    o = statistics.median(v.get("ours", [0])); t = statistics.median(v.get("theirs", [0]))
    label = "decode, 1 row" if ph == "decode" else "prefill, %s tokens" % sys.argv[3]
    print("| %s | %s | %s | %.2f | %.2f | %s |" % (label, dt, th, o, t, "%.2f" % (o / t) if t else "—"))
print("medians of %s interleaved rounds" % sys.argv[2])
PY
rm -f "$res"
