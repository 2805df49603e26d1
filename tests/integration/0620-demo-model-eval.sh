#!/usr/bin/env bash
# The shipped demo model (models/got-r1-demo, docs/demo-model.md) on 100 prompts from a seed no
# training run used, as the C layout-adherence score measures them through the real pipeline
# (tools/demo-model/evaluate.sh, greedy, guidance weight 1.5), held to the issue's targets: the
# chain names the prompt's objects with the right colour and shape in >= 95%, the planned boxes
# satisfy the prompt's relation in >= 90%, the pictures follow their plans with mean IoU >= 0.6.
# The table it prints is the Must-show figures (1.00, 0.965 and 0.658 when it was trained).
# Skipped while the checkpoint is not there.
. "$(dirname "$0")/lib.sh"
demo=$top/models/got-r1-demo
[ -f "$demo/model.safetensors" ] || skip "no demo model in models/got-r1-demo"
EVAL_OUT=$work/eval "$top/tools/demo-model/evaluate.sh" "$demo" 100 77 ||
    fail "the demo model misses a target (table above)"
