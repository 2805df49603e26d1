#!/usr/bin/env bash
# `make run`: the GoT-R1 pipeline on the CPU (pipelines/got-r1-cpu.yaml) for one example prompt,
# writing the files under out/ and printing where they are. The checkpoint is, in order:
#   MODEL=/path/to/GoT-R1-1B make run   a downloaded checkpoint (HF layout)
#   models/got-r1-demo                  the graph's model: the demo model that comes with the
#                                       repository, trained on synthetic scenes by
#                                       tools/demo-model/train.sh (docs/demo-model.md): its chain
#                                       plans the objects and the picture follows the plan
#   PROMPT="..." make run               another prompt
# The sampling settings are the checkpoint's own (its generation_config.json: the demo model's is
# greedy with guidance weight 1.5; GoT-R1's defaults without one), as for `gotflow generate`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/build/bin:$PATH
model=${MODEL:-}
args=(--pipeline pipelines/got-r1-cpu.yaml --out out --seed 42)
if [ -n "$model" ]; then
    prompt=${PROMPT:-"a red apple to the left of a blue vase on a wooden table"}
    args+=(--model "$model")
else
    # the demo model knows eight colours, four shapes and six relations (docs/demo-model.md)
    prompt=${PROMPT:-"a red circle to the left of a blue square"}
fi
gotflow check pipelines/got-r1-cpu.yaml
gotflow generate "$prompt" "${args[@]}"
