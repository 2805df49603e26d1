#!/usr/bin/env bash
# tools/bench/image.sh [PRECISION...] — one 1B-shaped GoT-R1 picture end to end through the
# pipeline (gateway, tokenize, reason, layout, imagegen, vq, sink as separate processes), on the
# CPU, per phase and in all, once per precision (default: bf16 q8_0 q4_0):
#
#   reason            the chain: prompt prefill + up to MAX_TOKENS greedy tokens (default 300)
#   imagegen.prefill  prompt + chain re-prefilled in 2 rows (the CFG pair)
#   imagegen.steps    576 image tokens under classifier-free guidance (2 rows a step)
#   vq                the 384x384 VQ decode and the PNG
#   total             the gateway's entry to the answer (meta.json's timings_ms.total)
#
# The checkpoint is mkmodel's 1B shape in bf16 with the full VQ decoder (MODEL, default
# models/1b-bf16, written if absent, 3.5 GB); its weights are random, so the chain runs its
# whole MAX_TOKENS (a real chain is about as long). THREADS (default: the core count) for the
# reason, imagegen and vq stages; they run one after the other for one picture. Each precision
# starts its own pipeline (loading, quantizing and the pad slot are not in the figures) and
# generates a first picture, then ROUNDS more (default 1): the figures are their medians, the
# steady state of a running pipeline (ROUNDS=0: the first picture's); the first picture's
# total has its own column (the imagegen stage computes its padded prefix when it starts,
# prefix_warm in docs/model.md, so the first picture mostly differs by memory touched for the
# first time). KV_HANDOVER=0 turns off the reason stage's KV handover (on by default:
# imagegen then reads the chain's KV instead of prefilling it again, docs/model.md), for an
# A/B. Goals on 2 cores: 100 s at bf16, 45 s at 4-bit (docs/performance.md).
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/../.."
precisions=("$@")
[ ${#precisions[@]} -gt 0 ] || precisions=(bf16 q8_0 q4_0)
for prec in "${precisions[@]}"; do
    case $prec in bf16 | q8_0 | q4_0) ;;
    *) echo "image.sh: unknown precision '$prec' (bf16, q8_0, q4_0; --help)" >&2; exit 2 ;;
    esac
done
model=${MODEL:-models/1b-bf16}
max_tokens=${MAX_TOKENS:-300}
threads=${THREADS:-$(nproc)}
rounds=${ROUNDS:-1}
handover=${KV_HANDOVER:-}
case $handover in "" | 0 | 1) ;; *) echo "image.sh: KV_HANDOVER is 0 or 1" >&2; exit 2 ;; esac
make -s all
[ -f "$model/config.json" ] || build/bin/mkmodel --size 1b --dtype bf16 --out "$model" >/dev/null
work=$(mktemp -d /tmp/gfimage.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run PATH=$PWD/build/bin:$PATH GOTFLOW_STAGE_PATH=$PWD/build/bin
sup=
cleanup() {
    [ -n "$sup" ] && kill -TERM "$sup" 2>/dev/null && wait "$sup" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
max_seq=$((256 + max_tokens + 576 + 8)) # prompt (~40 with the template), chain, image tokens
lm="threads: $threads, max_seq: $max_seq"
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "x $(nproc); $model; chain $max_tokens tokens; $threads threads${handover:+; kv_handover $handover}"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
res=$work/res
for prec in "${precisions[@]}"; do
    p=""
    [ "$prec" = bf16 ] || p=", precision: $prec"
    cat >"$work/$prec.yaml" <<YAML
name: bench-image-$prec
model: $model
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, params: {$lm$p${handover:+, kv_handover: $handover}}}
  layout: {kind: layout}
  imagegen: {kind: imagegen, params: {$lm$p}}
  vq: {kind: vq, params: {threads: $threads}}
  sink: {kind: sink}
edges: [gateway -> tokenize -> reason -> layout -> imagegen -> vq -> sink]
YAML
    t0=$(date +%s)
    gotflow run "$work/$prec.yaml" >"$work/$prec.log" 2>&1 &
    sup=$!
    gotflow status "$work/$prec.yaml" --wait-ready --timeout 600 >/dev/null ||
        { tail -5 "$work/$prec.log" >&2; exit 1; }
    echo "$prec: pipeline ready in $(($(date +%s) - t0)) s (loading, quantizing, the pad slot)"
    for i in $(seq 0 "$rounds"); do
        gotflow generate "a red apple to the left of a blue cup" --pipeline "$work/$prec.yaml" \
            --out "$work/out" --id "$prec-$i" --seed 1 --text-temperature 0 \
            --image-temperature 0 --cfg-weight 5 --max-tokens "$max_tokens" --json \
            --timeout 3600 >/dev/null 2>"$work/$prec-$i.err" ||
            { tail -3 "$work/$prec-$i.err" >&2; exit 1; }
        python3 - "$work/out/$prec-$i/meta.json" "$prec" "$i" >>"$res" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["timings_ms"]
print(sys.argv[2], sys.argv[3], *("%.3f" % (t.get(k, 0) / 1000) for k in
      ("reason", "imagegen.prefill", "imagegen.steps", "vq", "total")))
PY
    done
    kill -TERM "$sup"
    wait "$sup" 2>/dev/null || true
    sup=
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
python3 - "$res" "$rounds" <<'PY'
import statistics, sys
rows, first = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[1] == "0":
        first[f[0]] = [float(x) for x in f[2:]]
    else:
        rows.setdefault(f[0], []).append([float(x) for x in f[2:]])
print("| precision | reason | imagegen prefill | imagegen steps | vq | total | first picture |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for prec, ph in first.items():
    rs = rows.get(prec, [ph])  # ROUNDS=0: the first picture is all there is
    med = [statistics.median(c) for c in zip(*rs)]
    print("| %s | %s | %.1f s |" % (prec, " | ".join("%.1f s" % v for v in med), ph[-1]))
print("medians of %s picture(s) each after the first" % sys.argv[2] if int(sys.argv[2]) > 0
      else "ROUNDS=0: the first picture's phases")
PY
