#!/usr/bin/env bash
# `make run`: the GoT-R1 pipeline on the CPU (pipelines/got-r1-cpu.yaml) for one example prompt,
# writing the files under out/ and printing where they are. The checkpoint is, in order:
#   MODEL=/path/to/GoT-R1-1B make run   a downloaded checkpoint (HF layout)
#   models/got-r1-demo                  the demo model, trained on synthetic scenes by
#                                       tools/demo-model/train.sh (docs/demo-model.md): its chain
#                                       plans the objects and the picture follows the plan
#   models/got-r1-tiny                  else a small random one made by tools/mkmodel: every stage
#                                       runs for real, but the chain and the picture are noise
#   PROMPT="..." make run               another prompt
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/build/bin:$PATH
model=${MODEL:-}
demo=models/got-r1-demo
args=(--pipeline pipelines/got-r1-cpu.yaml --out out --seed 42)
if [ -n "$model" ]; then
    prompt=${PROMPT:-"a red apple to the left of a blue vase on a wooden table"}
    args+=(--model "$model")
elif [ -f "$demo/config.json" ] && [ -f "$demo/model.safetensors" ]; then
    # the demo model knows eight colours, four shapes and six relations (docs/demo-model.md)
    prompt=${PROMPT:-"a red circle to the left of a blue square"}
    # greedy, guidance weight 1.5 (GoT-R1 uses 5; docs/demo-model.md has the sweep)
    args+=(--model "$demo" --text-temperature 0 --image-temperature 0 --cfg-weight 1.5 \
        --max-tokens 300)
else
    prompt=${PROMPT:-"a red apple to the left of a blue vase on a wooden table"}
    if [ ! -f models/got-r1-tiny/config.json ]; then
        echo "making the default checkpoint models/got-r1-tiny (random weights: the pipeline runs for"
        echo "real, but the pictures are noise; tools/demo-model/train.sh $demo trains the demo"
        echo "model, MODEL=DIR points at a real GoT-R1 checkpoint)"
        mkmodel --out models/got-r1-tiny --vq-ch 32 >/dev/null
    fi
    args+=(--max-tokens 64)
fi
gotflow check pipelines/got-r1-cpu.yaml
gotflow generate "$prompt" "${args[@]}"
