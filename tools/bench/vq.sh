#!/usr/bin/env bash
# tools/bench/vq.sh [DIR] — the VQ decoder figures of docs/performance.md: our CPU decoder and
# the PyTorch peer (tools/bench/peer_vq.py) on the same VQ-16 weights, in alternating rounds so
# both see the same shared machine. IMAGES=N (default 1), ROUNDS=R (default 3), THREADS=T
# (default all cores); PYTHON names an interpreter with torch (default .venv/requirements-model/bin/python, made by make oracle).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-/tmp/gf-bench-vq}
threads=${THREADS:-$(nproc)} images=${IMAGES:-1} rounds=${ROUNDS:-3}
py=${PYTHON:-.venv/requirements-model/bin/python}
[ -f "$dir/model.safetensors" ] ||
    build/bin/mkmodel --out "$dir" --size tiny --layers 1 --image-vocab 16384 --vq-ch 128
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    build/bench/bench_vq --model "$dir" --images "$images" --rounds 1 --threads "$threads" |
        grep '^round' | sed "s/^round 0/ours round $r/"
    if [ -x "$py" ]; then
        "$py" tools/bench/peer_vq.py "$dir" --images "$images" --rounds 1 --threads "$threads" \
            --sgemm | grep -E '^(peer round|sgemm)' | sed "s/peer round 0/peer round $r/"
    fi
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
