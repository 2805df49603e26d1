#!/usr/bin/env bash
# tools/bench/model.sh [DIR] — the model figures of docs/performance.md, ours and the peer's, in
# one run: a 1B-shaped bf16 checkpoint (made by mkmodel if DIR lacks one); our decode, prefill and
# image stage on the CPU backend; PyTorch/transformers decoding the same weights in rounds
# interleaved with ours, so that both see the same (shared, busy) machine. The peer needs .venv/requirements-model
# from `make oracle`. THREADS=N overrides the thread count (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-models/1b-bf16}
threads=${THREADS:-$(nproc)}
[ -f "$dir/model.safetensors" ] || build/bin/mkmodel --size 1b --dtype bf16 --out "$dir"
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
bench="build/bin/gotflow bench"
$bench prefill --threads "$threads" --model "$dir" --tokens 128
$bench decode --threads "$threads" --model "$dir" --tokens 8 --rows 2
$bench image --threads "$threads" --model "$dir" --tokens 16
if [ -x .venv/requirements-model/bin/python ]; then
    .venv/requirements-model/bin/python tools/bench/peer_model.py --threads "$threads" "$dir" --tokens 4 \
        --dtype f32 --prefill 128 --rounds 3 \
        --ours "$bench decode --threads $threads --model $dir --tokens 8" 2>&1 |
        grep -E '^(peer|round)'
    .venv/requirements-model/bin/python tools/bench/peer_model.py --threads "$threads" "$dir" --tokens 2 \
        --dtype bf16 2>&1 | grep 'peer decode'
else
    $bench decode --threads "$threads" --model "$dir" --tokens 8
fi
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
