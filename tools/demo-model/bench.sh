#!/usr/bin/env bash
# Pictures a minute through the whole pipeline (tokenize, reason, layout, imagegen, vq, sink) on
# a demo-model-shaped checkpoint, with one and then two replicas of imagegen, in the same run:
#   tools/demo-model/bench.sh [DIR] [N] [ROUNDS]
# DIR: a demo checkpoint (default: a random one of the full configuration's shapes made by
# mkmodel; its chains run to MAX_TOKENS, default 60, about a trained chain's length). N requests
# (default 8) are submitted at once, ROUNDS times (default 2) per replica count; every model stage
# runs one thread (THREADS), so two imagegen replicas use two cores. Sampling: the checkpoint's
# generation_config.json (the demo model's, greedy with guidance weight 1.5, is copied into the
# random one), the guidance weight overridden by CFG when set.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/build/bin:$PATH GOTFLOW_STAGE_PATH=$PWD/build/bin
work=$(mktemp -d /tmp/gfdemobench.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run
sup=
trap '[ -n "$sup" ] && kill -TERM $sup 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
model=${1:-}
n=${2:-8}
rounds=${3:-2}
threads=${THREADS:-1}
cfg=${CFG:-}
max_tokens=${MAX_TOKENS:-60}
if [ -z "$model" ]; then
    model=$work/ckpt
    mkmodel --out "$model" --hidden 256 --intermediate 688 --layers 4 --heads 4 --kv-heads 4 \
        --vocab 1088 --max-pos 1024 --image-vocab 1024 --vq-ch 32 --vq-mult 1,1,2,2,4 --vq-z 64 \
        --vq-res 0 --image-size 128 --patch-size 16 >/dev/null
    cp models/got-r1-demo/generation_config.json "$model/"
    reason_params="max_tokens: $max_tokens, "
else
    model=$(cd "$model" && pwd)
    reason_params=
fi
imagegen_params=${cfg:+"cfg_weight: $cfg, "}
echo "== $(date -u +%FT%TZ) $(nproc) cores, load average before: $(cut -d" " -f1-3 /proc/loadavg)"
echo "model $model; $n requests at once; CFG ${cfg:-from the checkpoint}; $threads thread(s) per model stage"
for replicas in 1 2; do
    cat >"$work/p$replicas.yaml" <<YAML
name: demo-bench-$replicas
model: $model
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, batch: $n, params: {${reason_params}threads: $threads}}
  layout: {kind: layout}
  imagegen: {kind: imagegen, replicas: $replicas, batch: $n,
             params: {${imagegen_params}threads: $threads}}
  vq: {kind: vq, batch: $n, params: {threads: $threads}}
  sink: {kind: sink}
edges: [gateway -> tokenize -> reason -> layout -> imagegen -> vq -> sink]
YAML
    gotflow run "$work/p$replicas.yaml" >"$work/sup$replicas.log" 2>&1 &
    sup=$!
    gotflow status "$work/p$replicas.yaml" --wait-ready --timeout 60 >/dev/null
    python3 tools/demo-model/scenes.py --seed 99 --count "$n" |
        python3 -c '
import json, sys
for i, l in enumerate(sys.stdin):
    print(json.dumps({"id": "b%d" % i, "text": json.loads(l)["prompt"], "params": {"seed": i}}))' \
            >"$work/req.jsonl"
    gotflow submit "$work/p$replicas.yaml" "$work/req.jsonl" --timeout 600 >/dev/null # warm-up
    for r in $(seq 1 "$rounds"); do
        t0=$(date +%s.%N)
        gotflow submit "$work/p$replicas.yaml" "$work/req.jsonl" --timeout 600 >"$work/out.jsonl"
        t1=$(date +%s.%N)
        ok=$(grep -c '"result"' "$work/out.jsonl" || true)
        python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print('imagegen replicas %s round %s: %s pictures in %.1f s = %.1f pictures a minute' % (sys.argv[3], sys.argv[4], sys.argv[5], t, 60*int(sys.argv[5])/t))" \
            "$t0" "$t1" "$replicas" "$r" "$ok"
    done
    kill -TERM "$sup"
    wait "$sup" || true
    sup=
done
