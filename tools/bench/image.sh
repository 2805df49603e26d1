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
#
# A second table puts reason and the image steps beside the least time this machine's memory
# allows them: the bytes each step reads (weights and cache, `gotflow bench read`) at the read
# rate measured right before and right after each precision's pictures.
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
# the read rate now and the bytes of a step (gotflow bench read), as "PREC read WHEN GB/s TOKEN_GB
# STEP_GB KV_BYTES_A_POSITION" lines in $res
readrate() {
    gotflow bench read --model "$model" --threads "$threads" --precision "$1" 2>/dev/null |
        awk -v p="$1" -v w="$2" '/^read:/ { r = $2 } /^chain token:/ { c = $3 }
            /^image step:/ { i = $3; for (j = 1; j < NF; j++) if ($(j + 1) == "bytes") k = $j }
            END { print p, "read", w, r, c, i, k }' >>"$res"
}
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
    readrate "$prec" before
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
    readrate "$prec" after
    kill -TERM "$sup"
    wait "$sup" 2>/dev/null || true
    sup=
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
python3 - "$res" "$rounds" "$max_tokens" <<'PY'
import statistics, sys
rows, first, rd = {}, {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[1] == "read":
        rd.setdefault(f[0], []).append([float(x) for x in f[3:]])
    elif f[1] == "0":
        first[f[0]] = [float(x) for x in f[2:]]
    else:
        rows.setdefault(f[0], []).append([float(x) for x in f[2:]])
print("| precision | reason | imagegen prefill | imagegen steps | vq | total | first picture |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
med = {}
for prec, ph in first.items():
    rs = rows.get(prec, [ph])  # ROUNDS=0: the first picture is all there is
    med[prec] = [statistics.median(c) for c in zip(*rs)]
    print("| %s | %s | %.1f s |" % (prec, " | ".join("%.1f s" % v for v in med[prec]), ph[-1]))
print("medians of %s picture(s) each after the first" % sys.argv[2] if int(sys.argv[2]) > 0
      else "ROUNDS=0: the first picture's phases")
# The least time the memory allows: every byte a step reads, once, at the read rate measured
# just before and just after the pictures (their mean). The chain: MAX_TOKENS tokens (the
# prompt's prefill is bound by arithmetic, not counted); the steps: 576, each over the weights
# and the cache of the CFG pair at its positions (the prompt, about 40 tokens, the chain, the
# image tokens so far). vq and the prefill are arithmetic, not counted.
chain, img = int(sys.argv[3]), 576
print()
print("| precision | read rate before / after | floor: reason | floor: imagegen steps | "
      "reason + steps | of the floor |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for prec in med:
    r = rd.get(prec, [])
    if len(r) != 2 or not all(len(x) == 4 for x in r):
        print("| %s | (gotflow bench read gave nothing) | | | | |" % prec)
        continue
    rate = (r[0][0] + r[1][0]) / 2 * 1e9
    tok, step, kv = r[0][1] * 1e9, r[0][2] * 1e9, r[0][3]
    p0 = 40 + chain
    fr = chain * tok / rate
    fs = (img * step + kv * (img * p0 + img * (img - 1) / 2)) / rate
    got = med[prec][0] + med[prec][2]
    print("| %s | %.1f / %.1f GB/s | %.1f s | %.1f s | %.1f s against %.1f s | %.0f%% |" %
          (prec, r[0][0], r[1][0], fr, fs, got, fr + fs, 100 * (fr + fs) / got))
PY
