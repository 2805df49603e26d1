#!/usr/bin/env bash
# The C runtime gives PyTorch's greedy tokens on the shipped demo model: tests/data/demo-parity.json
# holds what tools/demo-model/parity.py's PyTorch loop (model.py, the weights of
# models/got-r1-demo) wrote for its captions: prompt ids, reasoning ids up to <begin_of_image>,
# and the image codes under CFG. The C reference loop (the one the pipeline tests hold the stages
# to, byte for byte) must give the same ids. Regenerate with
#   .venv/demo-model/bin/python tools/demo-model/parity.py models/got-r1-demo --captions 8 \
#       --golden tests/data/demo-parity.json
# Skipped while the checkpoint is not there.
. "$(dirname "$0")/lib.sh"
demo=$top/models/got-r1-demo
golden=$top/tests/data/demo-parity.json
[ -f "$demo/model.safetensors" ] || skip "no demo model in models/got-r1-demo"
[ -f "$golden" ] || fail "missing $golden"
$PY - "$golden" "$demo" "$build/test-bin/ref-loop" <<'EOF' || fail "C and PyTorch differ (above)"
import json, subprocess, sys
g = json.load(open(sys.argv[1]))
bad = 0
for case in g["cases"]:
    r = subprocess.run([sys.argv[3], sys.argv[2], case["caption"], str(g["max_text"]),
                        str(g["n_image"]), "1", str(g["cfg_weight"]), "1", "0", "0"],
                       check=True, capture_output=True, text=True)
    c = json.loads(r.stdout)
    got = (c["prompt_ids"], c["reasoning_ids"], c["codes"][0]["image"])
    want = (case["prompt_ids"], case["reasoning_ids"], case["codes"])
    for name, x, y in zip(("prompt ids", "reasoning ids", "image codes"), got, want):
        if x != y:
            at = next((i for i, (a, b) in enumerate(zip(x, y)) if a != b), min(len(x), len(y)))
            print("%r: %s differ at %d (C %s, PyTorch %s)" % (case["caption"], name, at,
                                                            x[at:at + 4], y[at:at + 4]))
            bad += 1
print("%d cases: %d reasoning and %d image tokens compared, %d differences" % (
    len(g["cases"]), sum(len(c["reasoning_ids"]) for c in g["cases"]),
    sum(len(c["codes"]) for c in g["cases"]), bad))
sys.exit(1 if bad else 0)
EOF
