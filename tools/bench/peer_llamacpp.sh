#!/usr/bin/env bash
# tools/bench/peer_llamacpp.sh [LLAMA_SRC] — our CPU backend beside llama.cpp on the same
# 1B-shaped weights, both sides in one command, rounds interleaved, medians and ratios (ours /
# theirs, > 1 is faster). llama.cpp is built here CPU-only and native from a source tree the
# user points at (never vendored or committed). The rows (phase, dtype, threads):
#
#   decode, 1 row        bf16 1 and 2 threads, f32 1 thread, q8_0 and q4_0 1 and 2 threads
#   decode, 2/8/32 rows  bf16 2 threads (2 rows = one CFG pair); llama-batched-bench, -npl;
#                        the CFG pair also at q8_0 and q4_0
#   prefill, 512 tokens  bf16 1 and 2 threads, q8_0 and q4_0 2 threads
#
# Decode is 16 steps; tokens/s counts every row's tokens. Our rows start after an 8-token prompt
# per row, as llama-batched-bench's (-npp 8); llama-bench's 1-row decode starts empty.
#
#   LLAMA_SRC   llama.cpp source tree (default build/peer/llama.cpp): any tree with its CMake
#               build and gguf-py, e.g. a mirror of the same commit, or the vendor/llama.cpp of
#               the llama-cpp-python sdist (`pip download llama-cpp-python --no-binary :all:`)
#   MODEL       bf16 checkpoint (default models/1b-bf16, written by mkmodel --size 1b if absent);
#               the f32 row uses MODEL_F32 (default models/1b-f32, mkmodel --dtype f32)
#   ROUNDS      interleaved rounds (default 3); ROWS a regex of the rows to run (default all,
#               e.g. ROWS='decode bf16' or ROWS=q4_0)
#
# The GGUFs are written by tools/bench/llama_gguf.py with gguf-py (the checkpoint's Janus names
# are not known to convert_hf_to_gguf.py); q8_0 and q4_0 by llama-quantize with the token
# embedding kept bf16 and output.weight q8_0, which is what `precision: q8_0|q4_0` does on our
# side (docs/model.md). Everything built or written goes under build/peer/ (git-ignored).
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/../.."
src=${1:-${LLAMA_SRC:-build/peer/llama.cpp}}
peer=build/peer
model=${MODEL:-models/1b-bf16}
model32=${MODEL_F32:-models/1b-f32}
rounds=${ROUNDS:-3}
tokens=16
only=${ROWS:-.}
[ -f "$src/CMakeLists.txt" ] || {
    echo "peer_llamacpp.sh: no llama.cpp source tree at '$src' (pass one, or set LLAMA_SRC)" >&2
    exit 2
}
mkdir -p "$peer/gguf"

# the rows: PHASE DTYPE THREADS ROWS (prefill: ROWS is the prompt length)
all_rows=("decode bf16 1 1" "decode bf16 2 1" "decode f32 1 1" "decode bf16 2 2" "decode bf16 2 8"
    "decode bf16 2 32" "prefill bf16 1 512" "prefill bf16 2 512" "decode q8_0 1 1"
    "decode q8_0 2 1" "decode q4_0 1 1" "decode q4_0 2 1" "decode q8_0 2 2" "decode q4_0 2 2"
    "prefill q8_0 2 512" "prefill q4_0 2 512")
rows=()
for r in "${all_rows[@]}"; do [[ $r =~ $only ]] && rows+=("$r"); done
[ ${#rows[@]} -gt 0 ] || { echo "peer_llamacpp.sh: ROWS='$only' matches no row" >&2; exit 2; }
want() { [[ " ${rows[*]} " == *" $1 "* ]]; } # want DTYPE: some row uses it

# 1. llama.cpp, CPU only, native: llama-bench, llama-batched-bench and llama-quantize
bin=$peer/llama-build/bin
if [ ! -x "$bin/llama-bench" ] || [ ! -x "$bin/llama-batched-bench" ] ||
    [ ! -x "$bin/llama-quantize" ]; then
    echo "building llama.cpp from '$src' (log: $peer/build.log)" >&2
    cmake -S "$src" -B "$peer/llama-build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >"$peer/cmake.log"
    cmake --build "$peer/llama-build" -j"$(nproc)" \
        --target llama-bench llama-batched-bench llama-quantize >"$peer/build.log"
fi

# 2. the weights: our checkpoints, and the same as GGUF
make -s all
[ -f "$model/config.json" ] || build/bin/mkmodel --size 1b --dtype bf16 --out "$model" >/dev/null
if want f32 && [ ! -f "$model32/config.json" ]; then
    build/bin/mkmodel --size 1b --dtype f32 --out "$model32" >/dev/null
fi
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
if want f32; then
    [ -s "$g/f32.gguf" ] ||
        "$venv/bin/python" tools/bench/llama_gguf.py "$model32" "$g/f32.gguf" --dtype f32
fi
for q in q8_0 q4_0; do
    want "$q" || continue
    [ -s "$g/$q.gguf" ] || "$bin/llama-quantize" --token-embedding-type bf16 \
        --output-tensor-type q8_0 "$g/bf16.gguf" "$g/$q.gguf" "${q^^}" >"$peer/quantize-$q.log" 2>&1
done

# 3. interleaved rounds: every row once per round, ours then theirs
ours() { # PHASE DTYPE THREADS ROWS -> tokens/s
    local m=$model prec=(--precision "$2")
    [ "$2" = f32 ] && m=$model32 prec=()
    [ "$2" = bf16 ] && prec=()
    if [ "$1" = decode ]; then
        build/bin/gotflow bench decode --model "$m" --threads "$3" "${prec[@]}" --rows "$4" \
            --tokens "$tokens" 2>/dev/null | sed -n 's/^decode:.*: \([0-9.]*\) tokens\/s.*/\1/p'
    else
        build/bin/gotflow bench prefill --model "$m" --threads "$3" "${prec[@]}" --tokens "$4" \
            2>/dev/null | sed -n 's/^prefill:.*: \([0-9.]*\) tokens\/s.*/\1/p'
    fi
}
theirs() {
    local py='import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])'
    if [ "$1" = decode ] && [ "$4" -gt 1 ]; then
        "$bin/llama-batched-bench" -m "$g/$2.gguf" -t "$3" -c $((($tokens + 8) * $4 + 64)) \
            -b 2048 -ub 512 -npp 8 -ntg "$tokens" -npl "$4" --output-format jsonl 2>/dev/null |
            grep '^{' | "$venv/bin/python" -c "$py" speed_tg
    else
        local pn=(-p 0 -n "$tokens")
        [ "$1" = decode ] || pn=(-p "$4" -n 0)
        "$bin/llama-bench" -m "$g/$2.gguf" -t "$3" "${pn[@]}" -r 1 -o jsonl 2>/dev/null |
            "$venv/bin/python" -c "$py" avg_ts
    fi
}
res=$(mktemp)
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "x $(nproc); llama.cpp $(git -C "$src" describe --tags --always 2>/dev/null ||
        sed -n 's/.*LLAMA_BUILD_NUMBER \([0-9]*\).*/b\1/p' "$peer/llama-build/CMakeCache.txt" |
        head -1)"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    for row in "${rows[@]}"; do
        set -- $row
        echo "$row ours $(ours "$@")" >>"$res"
        echo "$row theirs $(theirs "$@")" >>"$res"
    done
    echo "round $r done, load average $(cut -d" " -f1 /proc/loadavg)" >&2
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
python3 - "$res" "$rounds" <<'PY'
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 6 and f[5]:
        vals.setdefault(tuple(f[:4]), {}).setdefault(f[4], []).append(float(f[5]))
print("| phase | dtype | threads | gotflow tok/s | llama.cpp tok/s | ratio |")
print("| --- | --- | --- | ---: | ---: | ---: |")
for (ph, dt, th, n), v in vals.items():
    o = statistics.median(v.get("ours", [0])); t = statistics.median(v.get("theirs", [0]))
    if ph == "decode":
        label = "decode, %s row%s" % (n, "" if n == "1" else "s")
    else:
        label = "prefill, %s tokens" % n
    print("| %s | %s | %s | %.2f | %.2f | %s |" % (label, dt, th, o, t, "%.2f" % (o / t) if t else "—"))
print("medians of %s interleaved rounds" % sys.argv[2])
PY
rm -f "$res"
