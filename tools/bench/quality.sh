#!/usr/bin/env bash
# tools/bench/quality.sh — what quantizing the language model at load, and a 16-bit KV cache,
# cost in quality:
#
#  1. the demo model's Must-show figures (tools/demo-model/evaluate.sh: chain names the objects,
#     planned boxes satisfy the relation, mean IoU of the picture with its plan) over N prompts
#     (default 100) through the real pipeline: as published (f32 weights, f32 cache), q8_0 and
#     q4_0; then a copy with bf16 weights (tools/bench/to_bf16.py) as published (its f16 KV
#     cache) and with precision f32 (the exact path's f32 cache; docs/model.md, "The KV cache");
#  2. greedy token agreement with the published weights computed on the exact path (precision
#     f32), on the 1B-shaped bf16 checkpoint (MODEL, default models/1b-bf16, written by mkmodel
#     if absent): the reference loop (tests/tools/ref-loop) writes a STEPS-token chain (default
#     300) and IMAGE image tokens (default 64) under CFG, greedy; for the default (bf16 weights,
#     f16 cache), q8_0 and q4_0, the first step that differs and the share of equal tokens.
#
# tools/bench/quality.sh [N]; THREADS for the reference loop (default: the core count); PARTS
# "eval agree" (default both).
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/../.."
n=${1:-100}
model=${MODEL:-models/1b-bf16}
steps=${STEPS:-300}
image=${IMAGE:-64}
parts=${PARTS:-eval agree}
export GOTFLOW_THREADS=${THREADS:-$(nproc)}
make -s all
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "x $(nproc); load average $(cut -d" " -f1-3 /proc/loadavg)"
work=$(mktemp -d /tmp/gfquality.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [[ " $parts " == *" eval "* ]]; then
    echo "| demo model, $n prompts | named | relation (plan) | mean IoU | relation (picture) |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    python3 tools/bench/to_bf16.py models/got-r1-demo "$work/demo-bf16"
    for row in "published" "q8_0" "q4_0" "bf16 copy" "bf16 copy, f32"; do
        dir=models/got-r1-demo p=
        case $row in q?_0) p=$row ;; "bf16 copy") dir=$work/demo-bf16 ;;
        "bf16 copy, f32") dir=$work/demo-bf16 p=f32 ;; esac
        prec=${row// /-} prec=${prec//,/}
        PRECISION=$p EVAL_OUT=$work/eval-$prec tools/demo-model/evaluate.sh "$dir" "$n" \
            >"$work/eval-$prec.txt" 2>&1 || true # a missed target still has its figures
        python3 - "$work/eval-$prec.txt" "$row" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def fig(what):
    m = re.search(re.escape(what) + r"\s+([0-9.]+)", t)
    return m.group(1) if m else "?"
print("| %s | %s | %s | %s | %s |" % (sys.argv[2],
      fig("chain names the prompt's objects (colour and shape)"),
      fig("planned boxes satisfy the prompt's relation"),
      fig("picture follows its plan: mean IoU"), fig("(picture satisfies the relation too)")))
PY
    done
fi
if [[ " $parts " == *" agree "* ]]; then
    [ -f "$model/config.json" ] || build/bin/mkmodel --size 1b --dtype bf16 --out "$model" >/dev/null
    caption="a red apple to the left of a blue cup"
    for prec in f32 bf16 q8_0 q4_0; do
        p=$prec
        [ "$prec" = bf16 ] && p=
        GOTFLOW_PRECISION=$p build/test-bin/ref-loop "$model" "$caption" "$steps" "$image" 1 5 1 0 0 \
            >"$work/$prec.json" 2>"$work/$prec.err" || { tail -3 "$work/$prec.err" >&2; exit 1; }
    done
    echo "| $model, greedy | chain: first differing step | chain: equal tokens |" \
        "image: first differing step | image: equal tokens |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    python3 - "$work" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1] + "/f32.json"))
def cmp(a, b):
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    same = sum(x == y for x, y in zip(a, b))
    return ("none" if first is None and len(a) == len(b) else str(first if first is not None
            else min(len(a), len(b)))), "%d/%d" % (same, max(len(a), len(b)))
for prec in ("bf16", "q8_0", "q4_0"):
    q = json.load(open("%s/%s.json" % (sys.argv[1], prec)))
    c = cmp(ref["reasoning_ids"], q["reasoning_ids"])
    i = cmp(ref["codes"][0]["image"], q["codes"][0]["image"])
    print("| %s | %s | %s | %s | %s |" % (prec, c[0], c[1], i[0], i[1]))
PY
    echo "(the image tokens follow each side's own chain: once the chains differ, so do they)"
fi
