#!/usr/bin/env bash
# The demo model's Must-show figures, computed by the C layout-adherence score through the real
# pipeline: tools/demo-model/evaluate.sh DIR [N] [SEED]
#
# N prompts (default 100) from scenes.py with SEED (default 77, which no training run uses: the
# trainer's data seed is 20260101, the parity captions' 424242) go through
# pipelines/got-r1-cpu.yaml with model DIR, one `gotflow generate` each (4 at a time), and the
# `score` of each meta.json is summed up:
#   named      prompts whose every object the chain names with the right colour and shape
#   relation   prompts with a relation whose planned boxes satisfy it
#   mean IoU   over prompts, of the mean IoU of the planned objects with what the picture shows
#   picture    prompts with a relation that the found boxes satisfy too (for information)
# and checked against the targets (named >= 95%, relation >= 90%, mean IoU >= 0.6); it ends with
# "N passed, N failed" and exits 1 when a target is missed.
# Sampling: the checkpoint's own (its generation_config.json: the demo model's is greedy with
# guidance weight 1.5, docs/demo-model.md), each overridden by TEXT_T, IMAGE_T or CFG from the
# environment when set; PRECISION=q8_0|q4_0 quantizes the language model at load, and f32
# keeps the exact path's f32 KV cache under 16-bit weights (as `gotflow generate --precision`).
# Two more lines break the figures down: relations held per relation (plan and picture), mean
# IoU per number of objects. The per-prompt results stay in $EVAL_OUT (default
# out/eval-<seed>) as eval.jsonl.
# Needs only the C build and Debian's python3 (no PyTorch).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DIR [N] [SEED]" >&2; exit 2; }
cd "$(dirname "$0")/../.."
top=$(pwd)
model=$(cd "$1" && pwd)
n=${2:-100}
seed=${3:-77}
out=${EVAL_OUT:-$top/out/eval-$seed}
export PATH=$top/build/bin:$PATH
[ -x build/bin/gotflow ] || make -s all
work=$(mktemp -d /tmp/gfeval.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run
sup=
cleanup() {
    [ -n "$sup" ] && kill -TERM "$sup" 2>/dev/null && wait "$sup" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
sed "s|^model:.*|model: \"$model\"|" pipelines/got-r1-cpu.yaml >"$work/eval.yaml"
python3 tools/demo-model/scenes.py --seed "$seed" --count "$n" >"$work/scenes.jsonl"
[ -n "${PRECISION:-}" ] && export GOTFLOW_PRECISION=$PRECISION
gotflow run "$work/eval.yaml" >"$work/supervisor.log" 2>&1 &
sup=$!
gotflow status "$work/eval.yaml" --wait-ready --timeout 60 >/dev/null ||
    { cat "$work/supervisor.log" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
t0=$(date +%s)
python3 -c '
import json, sys
for i, l in enumerate(open(sys.argv[1])):
    print("%d\t%s" % (i, json.loads(l)["prompt"]))' "$work/scenes.jsonl" >"$work/prompts.tsv"
flags=()
[ -n "${TEXT_T:-}" ] && flags+=(--text-temperature "$TEXT_T")
[ -n "${IMAGE_T:-}" ] && flags+=(--image-temperature "$IMAGE_T")
[ -n "${CFG:-}" ] && flags+=(--cfg-weight "$CFG")
export work out FLAGS="${flags[*]:-}"
tr '\n' '\0' <"$work/prompts.tsv" | xargs -0 -P 4 -I{} bash -c '
    i=${1%%	*}; p=${1#*	}
    # FLAGS: numbers and option names only, split on purpose
    gotflow generate "$p" --pipeline "$work/eval.yaml" --out "$out" --id "p$i" --seed "$i" \
        $FLAGS --json >"$out/p$i.json" 2>"$out/p$i.err" || echo "prompt $i failed: $(tail -1 "$out/p$i.err")" >&2
' _ {}
t1=$(date +%s)
python3 - "$out" "$n" "$work/scenes.jsonl" $((t1 - t0)) <<'PY'
import json, os, sys
out, n, scenes_path, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
scenes = [json.loads(l) for l in open(scenes_path)]
rows, named, ious, missing = [], 0, [], 0
by_rel, by_n = {}, {}  # relation: [prompts, held in plan, held in picture]; objects: [IoU]
for i, sc in enumerate(scenes):
    meta_path = os.path.join(out, "p%d" % i, "meta.json")
    s = json.load(open(meta_path)).get("score") if os.path.exists(meta_path) else None
    by_n.setdefault(len(sc["objects"]), []).append(s["mean_iou"] if s else 0.0)
    if s is None:
        missing += 1
        ious.append(0.0)
        rows.append({"i": i, "prompt": sc["prompt"], "score": None})
        continue
    all_named = s["n_prompt_objects"] > 0 and s["named"] == s["n_prompt_objects"]
    named += all_named
    ious.append(s["mean_iou"])
    for r in s["relations"][:1]:
        t = by_rel.setdefault(r["rel"], [0, 0, 0])
        t[0] += 1
        t[1] += r["in_plan"]
        t[2] += r["in_image"]
    rows.append({"i": i, "prompt": sc["prompt"], "named": all_named, "score": s})
rel_n, rel_plan, rel_img = (sum(t[k] for t in by_rel.values()) for k in range(3))
with open(os.path.join(out, "eval.jsonl"), "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
mean_iou = sum(ious) / max(len(ious), 1)
print("%d prompts in %d s (%.1f pictures a minute, 4 requests at a time); %d without a score"
      % (n, secs, 60.0 * n / max(secs, 1), missing))
checks = [("chain names the prompt's objects (colour and shape)", named / n, 0.95),
          ("planned boxes satisfy the prompt's relation", rel_plan / max(rel_n, 1), 0.90),
          ("picture follows its plan: mean IoU", mean_iou, 0.60)]
print("%-55s %8s %8s" % ("", "measured", "target"))
ok = 0
for what, v, target in checks:
    print("%-55s %8.3f %8.2f  %s" % (what, v, target, "pass" if v >= target else "FAIL"))
    ok += v >= target
print("%-55s %8.3f %8s" % ("(picture satisfies the relation too)", rel_img / max(rel_n, 1), "-"))
print("relation held, plan / picture: " + ", ".join(
    "%s %d/%d %d/%d" % (k, v[1], v[0], v[2], v[0]) for k, v in sorted(by_rel.items())))
print("mean IoU by number of objects: " + ", ".join(
    "%d: %.2f (%d prompts)" % (k, sum(v) / len(v), len(v)) for k, v in sorted(by_n.items())))
print("results: %s/eval.jsonl" % out)
print("%d passed, %d failed" % (ok, len(checks) - ok))
sys.exit(0 if ok == len(checks) else 1)
PY
