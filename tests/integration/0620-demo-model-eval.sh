#!/usr/bin/env bash
# The shipped demo model (models/got-r1-demo, docs/demo-model.md) on 100 prompts from a seed no
# training run used, as the C layout-adherence score measures them through the real pipeline
# (tools/demo-model/evaluate.sh prints the table against the targets: the chain names the
# prompt's objects with the right colour and shape in >= 95%, the planned boxes satisfy the
# prompt's relation in >= 90%, the pictures follow their plans with mean IoU >= 0.6).
# The shipped checkpoint meets the first target only (named 1.00, relation 0.86, IoU 0.41 when
# it was trained; docs/demo-model.md): until a checkpoint meets all three, this test holds it to
# the figures it reached, so that the runtime cannot lose them unseen. Skipped while the
# checkpoint is not there.
. "$(dirname "$0")/lib.sh"
demo=$top/models/got-r1-demo
[ -f "$demo/model.safetensors" ] || skip "no demo model in models/got-r1-demo"
FLOORS="0.95 0.80 0.35" EVAL_OUT=$work/eval "$top/tools/demo-model/evaluate.sh" "$demo" 100 77 ||
    fail "the demo model fell below the figures it reached when trained (table above)"
