#!/usr/bin/env bash
# Delivery under chaos on the real GoT-R1 CPU pipeline: kill -9 of a random process of the running
# pipeline every INTERVAL seconds, every stage, the gateway, the sink and the supervisor included
# (the script starts the supervisor again when it kills it), while N greedy requests go through
# `gotflow submit`; the answers are checked against a fault-free run of the same requests.
#
#   tools/bench/chaos.sh [N] [INTERVAL...]        (defaults: 300 requests; 1 and 0.3 seconds)
#   MODEL=DIR tools/bench/chaos.sh                (default models/got-r1-demo)
#   KEEP=1 tools/bench/chaos.sh                   keeps the logs and answers in /tmp/gfchaos.*
#
# The graph: the demo model, 2 replicas of reason, imagegen and vq, one thread per model stage,
# every other setting the default (the demo model's own generation_config.json: greedy, guidance
# weight 1.5). For each run
# it prints: sent, answered once, answered twice, unanswered, wrong (chain or PNG bytes differ from
# the fault-free run), timeouts (answered ETIMEDOUT), other errors, kills (and of which kind), wall
# time and its ratio to the fault-free wall time. Goal: 0 unanswered, twice, wrong and timeouts;
# wall time <= 2x fault-free at one kill a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
build=${GOTFLOW_BUILD:-build}
export PATH=$top/$build/bin:$PATH GOTFLOW_STAGE_PATH=$top/$build/bin
case "${1:-}" in -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
n=${1:-300}
shift || true
intervals=("$@")
[ ${#intervals[@]} -gt 0 ] || intervals=(1 0.3)
model=$(cd "${MODEL:-models/got-r1-demo}" && pwd)
[ -x "$build/bin/gotflow" ] || make -s all
work=$(mktemp -d /tmp/gfchaos.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run
sup=
cleanup() {
    [ -n "$sup" ] && kill -9 "$sup" 2>/dev/null
    pkill -9 -f "$work" 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

cat >"$work/chaos.yaml" <<YAML
name: chaos
model: "$model"
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, replicas: 2, batch: 4, params: {threads: 1}}
  layout: {kind: layout}
  imagegen: {kind: imagegen, replicas: 2, batch: 4, params: {threads: 1}}
  vq: {kind: vq, replicas: 2, batch: 4, params: {threads: 1}}
  sink: {kind: sink}
edges: [gateway -> tokenize -> reason -> layout -> imagegen -> vq -> sink]
YAML
python3 tools/demo-model/scenes.py --seed 4242 --count "$n" | python3 -c '
import json, sys
for i, l in enumerate(sys.stdin):
    print(json.dumps({"id": "c%d" % i, "text": json.loads(l)["prompt"], "params": {"seed": i}}))' \
    >"$work/req.jsonl"

start() {
    gotflow run "$work/chaos.yaml" >>"$work/supervisor.log" 2>&1 &
    sup=$!
}

# run NAME INTERVAL: submits every request; kills one process every INTERVAL s (0: none)
run() {
    local name=$1 interval=$2
    rm -rf "$GOTFLOW_RUN_ROOT"
    start
    gotflow status "$work/chaos.yaml" --wait-ready --timeout 120 >/dev/null
    local t0 t1 kills=0
    : >"$work/kills-$name"
    t0=$(date +%s.%N)
    gotflow submit "$work/chaos.yaml" "$work/req.jsonl" --window "$n" --timeout 900 --max-bin -1 \
        >"$work/out-$name.jsonl" 2>"$work/submit-$name.err" &
    local submit=$!
    if [ "$interval" != 0 ]; then
        local run_dir=$GOTFLOW_RUN_ROOT/chaos
        while kill -0 $submit 2>/dev/null; do
            sleep "$interval"
            kill -0 $submit 2>/dev/null || break
            local victim
            victim=$( (ls "$run_dir"/*.pid 2>/dev/null | grep -v supervisor.pid; echo supervisor) |
                shuf -n 1)
            if [ "$victim" = supervisor ]; then
                kill -9 "$sup" 2>/dev/null && kills=$((kills + 1)) && echo supervisor >>"$work/kills-$name"
                wait "$sup" 2>/dev/null || true
                start
            else
                local pid
                pid=$(cat "$victim" 2>/dev/null) || continue
                kill -9 "$pid" 2>/dev/null && kills=$((kills + 1)) &&
                    basename "$victim" .pid >>"$work/kills-$name"
            fi
        done
    fi
    wait $submit || true
    t1=$(date +%s.%N)
    kill -TERM "$sup" 2>/dev/null
    wait "$sup" 2>/dev/null || true
    sup=
    echo "$t0 $t1" >"$work/time-$name"
    cat "$GOTFLOW_RUN_ROOT"/chaos/gateway.*.log >"$work/gateway-$name.log" 2>/dev/null || true
}

report() {
    python3 - "$work" "$1" "$n" <<'PY'
import base64, collections, json, sys
work, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def load(path):
    out = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        out[r["id"]].append(r)
    return out
def key(r):
    pngs = tuple(p["$bin"] if isinstance(p, dict) else p for p in r.get("png", []))
    return (r.get("text"), pngs)
ref, got = load(work + "/out-fault-free.jsonl"), load(work + "/out-%s.jsonl" % name)
t0, t1 = map(float, open(work + "/time-%s" % name).read().split())
f0, f1 = map(float, open(work + "/time-fault-free").read().split())
once = sum(1 for v in got.values() if len(v) == 1)
twice = sum(1 for v in got.values() if len(v) > 1)
unanswered = n - len(got)
timeouts = sum(1 for v in got.values() if v[0]["kind"] == "error" and v[0].get("code") == "ETIMEDOUT")
errors = sum(1 for v in got.values() if v[0]["kind"] == "error") - timeouts
wrong = sum(1 for i, v in got.items() if v[0]["kind"] == "result" and
            (i not in ref or key(v[0]) != key(ref[i][0])))
kills = [l.strip() for l in open(work + "/kills-%s" % name)] if name != "fault-free" else []
kinds = collections.Counter(k.split(".")[0] for k in kills)
print("%-12s sent %d  once %d  twice %d  unanswered %d  wrong %d  timeouts %d  errors %d  "
      "kills %d  wall %.1f s (%.2fx fault-free)" %
      (name, n, once, twice, unanswered, wrong, timeouts, errors, len(kills), t1 - t0,
       (t1 - t0) / (f1 - f0)))
if kills:
    print("             kills by kind: " + ", ".join("%s %d" % kv for kv in sorted(kinds.items())))
    why = collections.Counter()
    for line in open(work + "/gateway-%s.log" % name, errors="replace"):
        if "; sending attempt" in line:
            w = line.split("': ", 1)[1].split("; sending attempt")[0]
            why["lost with a replica" if w.startswith("lost with") else
                "attempt deadline" if w.startswith("attempt") else w] += 1
    print("             re-issues: " + (", ".join("%s %d" % kv for kv in sorted(why.items()))
                                        or "none"))
PY
}

echo "== $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model $model; $n greedy requests; 2 replicas of reason, imagegen, vq; 1 thread each"
run fault-free 0
report fault-free
for iv in "${intervals[@]}"; do
    run "kill-$iv" "$iv"
    report "kill-$iv"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
