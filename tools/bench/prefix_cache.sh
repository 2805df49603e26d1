#!/usr/bin/env bash
# tools/bench/prefix_cache.sh [PIPELINE] — the imagegen stage's pad slot (`prefix_cache`, on by
# default) against the same pipeline with it off (`prefix_cache: 0`), same prompts, in one run:
# PIPELINE (default pipelines/got-r1-cpu.yaml, the demo model) is started once each way per
# round, and 5 demo prompts go through it twice each, one after the other. Prints the median
# re-prefill (the sink's imagegen.prefill) and total of the requests after the first, the first
# request's re-prefill (the one that fills the pad slot), their ratios (off / on, > 1: the cache
# is faster), and whether every picture is byte-identical both ways. ROUNDS (default 2).
# KNOB=KIND.PARAM A/Bs another 0/1 stage parameter the same way, e.g. KNOB=reason.kv_handover
# (the chain's KV handed over to imagegen, docs/model.md); default imagegen.prefix_cache.
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
cd "$(dirname "$0")/../.."
graph=${1:-pipelines/got-r1-cpu.yaml}
rounds=${ROUNDS:-2}
knob=${KNOB:-imagegen.prefix_cache}
case $knob in imagegen.* | reason.*) ;; *) echo "prefix_cache.sh: KNOB is KIND.PARAM (--help)" >&2; exit 2 ;; esac
[ -f "$graph" ] || { echo "prefix_cache.sh: no pipeline '$graph'" >&2; exit 2; }
make -s all
work=$(mktemp -d /tmp/gfprefix.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run PATH=$PWD/build/bin:$PATH GOTFLOW_STAGE_PATH=$PWD/build/bin
sup=
cleanup() {
    [ -n "$sup" ] && kill -TERM "$sup" 2>/dev/null && wait "$sup" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
# the same graph twice: the stage's params gain the knob at 1 or 0
for v in 1 0; do
    python3 - "$graph" "$work/p$v.yaml" "$v" "$knob" <<'PY'
import sys, yaml
g = yaml.safe_load(open(sys.argv[1]))
kind, param = sys.argv[4].split(".", 1)
g["name"] = "%s-ab%s" % (g.get("name", "bench"), sys.argv[3])
for s in (g.get("stages") or {}).values():
    if isinstance(s, dict) and s.get("kind") == kind:
        s.setdefault("params", {})[param] = int(sys.argv[3])
yaml.safe_dump(g, open(sys.argv[2], "w"))
PY
done
prompts=("a red circle to the left of a blue square" "two green triangles above a yellow circle"
    "a blue square below a red triangle" "a yellow square to the right of a green circle"
    "a red triangle above a blue circle")
echo "== $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
    "x $(nproc); $graph; $knob 1 and 0; load average before: $(cut -d" " -f1-3 /proc/loadavg)"
for round in $(seq "$rounds"); do
    for v in 1 0; do
        gotflow run "$work/p$v.yaml" >"$work/p$v-$round.log" 2>&1 &
        sup=$!
        gotflow status "$work/p$v.yaml" --wait-ready --timeout 300 >/dev/null ||
            { tail -5 "$work/p$v-$round.log" >&2; exit 1; }
        i=0
        for p in "${prompts[@]}" "${prompts[@]}"; do
            i=$((i + 1))
            gotflow generate "$p" --pipeline "$work/p$v.yaml" --out "$work/out$v-$round" \
                --id "r$i" >/dev/null 2>"$work/err" || { tail -3 "$work/err" >&2; exit 1; }
            python3 - "$work/out$v-$round/r$i/meta.json" "$v" "$i" >>"$work/res" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["timings_ms"]
print(sys.argv[2], sys.argv[3], t["imagegen.prefill"], t["total"])
PY
        done
        kill -TERM "$sup"
        wait "$sup" 2>/dev/null || true
        sup=
        same=0
        [ "$v" = 0 ] && for d in "$work/out1-$round"/r*; do
            for png in "$d"/image_*.png; do
                cmp -s "$png" "$work/out0-$round/$(basename "$d")/$(basename "$png")" ||
                    { echo "round $round: $(basename "$d") $(basename "$png") differs" >&2; same=1; }
            done
        done
        [ "$same" = 0 ] || exit 1
    done
done
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
python3 - "$work/res" "$knob" <<'PY'
import statistics as st, sys
d = {}
for line in open(sys.argv[1]):
    v, i, p, t = line.split()
    d.setdefault(v, []).append((int(i), float(p), float(t)))
def med(v, k, first):
    return st.median(r[k] for r in d[v] if (r[0] == 1) == first)
print("| %s | first re-prefill | later re-prefill | later total |" % sys.argv[2])
print("| --- | ---: | ---: | ---: |")
for v in ("1", "0"):
    print("| %s | %.1f ms | %.1f ms | %.1f ms |" % (v, med(v, 1, True), med(v, 1, False), med(v, 2, False)))
print("ratio off / on: later re-prefill %.2f, later total %.2f; pictures byte-identical both ways"
      % (med("0", 1, False) / med("1", 1, False), med("0", 2, False) / med("1", 2, False)))
PY
