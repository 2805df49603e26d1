#!/usr/bin/env bash
# Engine costs of security and of recovery, measured on this machine:
#   1. throughput and per-hop p50/p99 over tcp loopback, plain and under CURVE, same graph, same
#      run (alternating rounds, medians);
#   2. the time from a replica's death to its requests completing on another replica, over
#      several kills: requests its last heartbeat listed come back through the supervisor's Lost
#      notice at once; frames that reached it after that heartbeat come back at the gateway's
#      attempt deadline (2 s here).
# usage: tools/bench/delivery.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
export PATH=$PWD/build/bin:$PATH GOTFLOW_STAGE_PATH=$PWD/build/bin:$PWD/build/test-bin
work=$(mktemp -d /tmp/gfbench.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run
trap 'pkill -9 -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
PY=/usr/bin/python3
gotflow keygen "$work/a.key" >"$work/a.pub"
base=$((20000 + RANDOM % 20000))
graph() { # NAME PORT_BASE CURVE(0/1)
    local key=""
    [ "$3" = 1 ] && key=", curve_public: \"$(cat "$work/a.pub")\""
    cat <<YAML
name: $1
security: $([ "$3" = 1 ] && echo curve || echo none)
hosts: {a: {address: 127.0.0.1, port_base: $2$key}}
stages:
  gateway: {kind: gateway}
  s1: {kind: test-transform, params: {add: 1}}
  s2: {kind: test-transform, params: {mul: 2}}
  s3: {kind: test-transform, params: {add: 3}}
  sink: {kind: sink}
YAML
}
graph plain "$base" 0 >"$work/plain.yaml"
graph curve "$((base + 100))" 1 >"$work/curve.yaml"
export GOTFLOW_KEY_FILE=$work/a.key
for g in plain curve; do
    gotflow run "$work/$g.yaml" --quiet >"$work/$g.log" 2>&1 &
    gotflow status "$work/$g.yaml" --wait-ready --timeout 20 >/dev/null
done
$PY -c "
for i in range(20000): print('{\"id\":\"r%d\",\"x\":%d}' % (i, i))" >"$work/many.jsonl"
$PY -c "
for i in range(300): print('{\"id\":\"l%d\",\"x\":%d}' % (i, i))" >"$work/few.jsonl"
echo "round  graph  requests/s  hop p50 (us)  hop p99 (us)"
for r in $(seq "$rounds"); do
    for g in plain curve; do
        t0=$(date +%s.%N)
        gotflow submit "$work/$g.yaml" "$work/many.jsonl" --window 1000 >/dev/null
        t1=$(date +%s.%N)
        gotflow submit "$work/$g.yaml" "$work/few.jsonl" --window 1 >"$work/$g.lat"
        $PY - "$work/$g.lat" "$r" "$g" "$t0" "$t1" <<'PY' | tee -a "$work/rows"
import json, sys
hops = []
for line in open(sys.argv[1]):
    t = json.loads(line)["trace"]
    hops += [t[i + 1][2] - t[i][3] for i in range(len(t) - 1)]
hops.sort()
rate = 20000 / (float(sys.argv[5]) - float(sys.argv[4]))
print("%5s  %5s  %10.0f  %12d  %12d" % (sys.argv[2], sys.argv[3], rate,
      hops[len(hops) // 2], hops[int(len(hops) * 0.99)]))
PY
    done
done
$PY - "$work/rows" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(g, k): return statistics.median(float(r[k]) for r in rows if r[1] == g)
for k, name in ((2, "requests/s"), (3, "hop p50 us"), (4, "hop p99 us")):
    p, c = med("plain", k), med("curve", k)
    print("median %-11s plain %8.0f  curve %8.0f  curve/plain %.2f" % (name, p, c, c / p))
PY
for g in plain curve; do gotflow status "$work/$g.yaml" --stop >/dev/null; done
sleep 1

# recovery: a slow stage with 3 replicas, requests in flight, one replica SIGKILLed
cat >"$work/rec.yaml" <<'YAML'
name: recovery
supervisor: {heartbeat_ms: 100, restart_backoff_ms: 50}
stages:
  gateway: {kind: gateway, params: {attempt_timeout_ms: 2000}}
  slow: {kind: test-transform, replicas: 3, params: {mul: 2, delay_us: 50000}}
  sink: {kind: sink}
YAML
gotflow run "$work/rec.yaml" --quiet >"$work/rec.log" 2>&1 &
gotflow status "$work/rec.yaml" --wait-ready --timeout 20 >/dev/null
echo
echo "kill  death -> last re-issued result (ms)  re-issued requests  of them done within 1.5 s"
for k in $(seq "$rounds"); do
    $PY -c "
for i in range(60): print('{\"id\":\"k${k}-%d\",\"x\":%d}' % (i, i))" >"$work/rec.jsonl"
    gotflow submit "$work/rec.yaml" "$work/rec.jsonl" --window 60 >"$work/rec.out" &
    sub=$!
    sleep 0.4
    t_kill=$($PY -c 'import time; print(time.time())')
    kill -9 "$(cat "$GOTFLOW_RUN_ROOT/recovery/slow.0.pid")"
    wait $sub
    $PY - "$work/rec.out" "$t_kill" "$k" <<'PY' | tee -a "$work/rec.rows"
import json, sys
t_kill = float(sys.argv[2]) * 1e6
late = [json.loads(l) for l in open(sys.argv[1])]
late = [r for r in late if r["n"] > 0]
end = max(r["trace"][-1][3] for r in late) if late else t_kill
fast = [r for r in late if r["trace"][-1][3] - t_kill < 1.5e6]
print("%4s  %34.0f  %18d  %d" % (sys.argv[3], (end - t_kill) / 1000, len(late), len(fast)))
PY
    sleep 0.5
done
gotflow status "$work/rec.yaml" --stop >/dev/null
