#!/usr/bin/env bash
# tools/bench/pipeline.sh [N] — the GoT-R1 pipeline (tokenize, reason, layout, imagegen as
# separate processes) against the single-process reference loop (tests/tools/ref-loop), on one
# small random checkpoint, in the same run: one request alone (engine overhead), then N requests
# (default 4) submitted together against N sequential reference runs (what batching buys).
# Both run the model with one thread; SIZE="--hidden 256 ..." changes the checkpoint (SIZE="--size
# 1b --dtype bf16" for 1B shapes), MAX_TOKENS the chain length (100), IMAGE_SIZE the picture side
# the image tokens stand for (384: 24x24 tokens), ROUNDS the rounds (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-4}
work=$(mktemp -d /tmp/gfbench.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run PATH=$PWD/build/bin:$PATH
export GOTFLOW_STAGE_PATH=$PWD/build/bin
sup=
trap '[ -n "$sup" ] && kill -TERM $sup 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
mkmodel --out "$work/ckpt" --vq-ch 0 ${SIZE:---hidden 256 --intermediate 688 --layers 4} >/dev/null
max_tokens=${MAX_TOKENS:-100}
image_size=${IMAGE_SIZE:-384}
n_image=$(((image_size / 16) * (image_size / 16)))
max_seq=$((256 + max_tokens + n_image)) # prompt (~140 with the template), chain, image tokens
cat >"$work/p.yaml" <<YAML
name: bench-pipeline
model: $work/ckpt
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, batch: $n, params: {temperature: 0, max_tokens: $max_tokens, threads: 1,
                                              max_seq: $max_seq}}
  layout: {kind: layout}
  imagegen: {kind: imagegen, batch: $n, params: {cfg_weight: 5, threads: 1, image_size: $image_size,
                                                  rows: $((2 * n)), max_seq: $max_seq}}
  sink: {kind: sink}
edges: [gateway -> tokenize -> reason -> layout -> imagegen -> sink]
YAML
now() { date +%s.%N; }
# every answer must be a result: an error makes the timing meaningless
check() {
    if jq -e -s 'map(select(.kind != "result")) | length > 0' "$1" >/dev/null; then
        echo "pipeline.sh: the pipeline answered with an error:" >&2
        jq -c 'select(.kind != "result") | {id, stage, code, message}' "$1" >&2
        exit 1
    fi
}
caption() { echo "caption number $1 of a red apple on a table"; }
echo "== $(date -u +%FT%TZ) load average before: $(cut -d" " -f1-3 /proc/loadavg)"
gotflow run "$work/p.yaml" >"$work/sup.log" 2>&1 &
sup=$!
gotflow status "$work/p.yaml" --wait-ready --timeout 60 >/dev/null
req() { printf '{"id": "r%s", "text": "%s", "params": {"seed": %s}}\n' "$1" "$(caption "$1")" "$1"; }
ref() { build/test-bin/ref-loop "$work/ckpt" "$(caption "$1")" $max_tokens $n_image 1 5 "$1" 0 1 >/dev/null; }
# rounds interleaved, so that both sides see the same (shared, busy) machine
for round in $(seq 1 "${ROUNDS:-3}"); do
    t0=$(now); req "$round" | gotflow submit "$work/p.yaml" --timeout 3000 >"$work/one.json"; t1=$(now)
    check "$work/one.json"
    ref "$round"; t2=$(now)
    echo "one $(echo "$t1 - $t0" | bc) $(echo "$t2 - $t1" | bc) $(jq -c .timings "$work/one.json")"
    for i in $(seq 1 "$n"); do req "$round$i"; done >"$work/req.jsonl"
    t3=$(now); gotflow submit "$work/p.yaml" "$work/req.jsonl" --timeout 3000 >"$work/many.json"
    t4=$(now)
    check "$work/many.json"
    for i in $(seq 1 "$n"); do ref "$round$i"; done
    t5=$(now)
    echo "many $(echo "$t4 - $t3" | bc) $(echo "$t5 - $t4" | bc)"
done >"$work/rounds.txt"
python3 - "$work/rounds.txt" "$n" <<'PY'
import statistics, sys
one, many = [], []
for line in open(sys.argv[1]):
    f = line.split()
    (one if f[0] == "one" else many).append((float(f[1]), float(f[2])))
    if f[0] == "one":
        print("  round: pipeline %.3f s, reference %.3f s, stage ms %s" % (float(f[1]), float(f[2]), f[3]))
n = int(sys.argv[2])
med = lambda xs: statistics.median(xs)
p, r = med([a for a, b in one]), med([b for a, b in one])
print("one request (median of %d): pipeline %.3f s, reference loop %.3f s (pipeline/reference %.3f)"
      % (len(one), p, r, p / r))
p, r = med([a for a, b in many]), med([b for a, b in many])
print("%d requests (median): pipeline %.3f s together, reference %.3f s one after another (%.2fx)"
      % (n, p, r, r / p))
PY
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
