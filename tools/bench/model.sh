#!/usr/bin/env bash
# tools/bench/model.sh [DIR] — the model figures of docs/performance.md, ours and the peer's, in
# one run: a 1B-shaped bf16 checkpoint (made by mkmodel if DIR lacks one), decode and prefill on
# the CPU backend with all cores, then PyTorch/transformers on the same weights (needs .venv from
# `make oracle`).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-models/1b-bf16}
[ -f "$dir/model.safetensors" ] || build/bin/mkmodel --size 1b --dtype bf16 --out "$dir"
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
build/bin/gotflow bench decode --model "$dir" --tokens 16
build/bin/gotflow bench decode --model "$dir" --tokens 8 --rows 2
build/bin/gotflow bench prefill --model "$dir" --tokens 128
build/bin/gotflow bench image --model "$dir" --tokens 16
if [ -x .venv/bin/python ]; then
    .venv/bin/python tools/bench/peer_model.py "$dir" --tokens 4 --dtype f32 --prefill 128 2>&1 |
        grep '^peer'
    .venv/bin/python tools/bench/peer_model.py "$dir" --tokens 2 --dtype bf16 2>&1 | grep '^peer decode'
fi
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
