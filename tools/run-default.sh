#!/usr/bin/env bash
# `make run`: the GoT-R1 pipeline on the CPU (pipelines/got-r1-cpu.yaml) on its default
# checkpoint — a small random one made by tools/mkmodel when models/got-r1-tiny is absent —
# for one example prompt, writing the files under out/ and printing where they are.
#   PROMPT="..." make run          another prompt
#   MODEL=/path/to/GoT-R1-1B make run   a downloaded checkpoint (HF layout) instead
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/build/bin:$PATH
prompt=${PROMPT:-"a red apple to the left of a blue vase on a wooden table"}
model=${MODEL:-}
if [ -z "$model" ] && [ ! -f models/got-r1-tiny/config.json ]; then
    echo "making the default checkpoint models/got-r1-tiny (random weights: the pipeline runs for"
    echo "real, but the pictures are noise; MODEL=DIR points at a real GoT-R1 checkpoint)"
    mkmodel --out models/got-r1-tiny --vq-ch 32 >/dev/null
fi
gotflow check pipelines/got-r1-cpu.yaml
args=(generate "$prompt" --pipeline pipelines/got-r1-cpu.yaml --out out --seed 42)
[ -n "$model" ] && args+=(--model "$model")
[ -z "$model" ] && args+=(--max-tokens 64)
gotflow "${args[@]}"
