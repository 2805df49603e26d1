#!/usr/bin/env bash
# Metrics: with `metrics:` in the graph, the supervisor serves Prometheus text over HTTP with
# each replica's counters, gauges and latency histogram; a bad metrics endpoint is a graph error.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
port=$((20000 + RANDOM % 20000))
cat >"$work/p.yaml" <<YAML
name: metrics
metrics: "tcp://127.0.0.1:$port"
supervisor: {heartbeat_ms: 100}
stages:
  gateway: {kind: gateway}
  work: {kind: test-transform, replicas: 2, params: {add: 1}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
requests 400 | gotflow submit "$work/p.yaml" --timeout 120 >/dev/null || fail "submit failed"
sleep 0.5
curl -sf --max-time 20 "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || fail "no metrics endpoint"
grep -q '^# TYPE gotflow_requests_done_total counter' "$work/metrics.txt" || fail "no done counter"
grep -q '^gotflow_stage_latency_seconds_bucket{pipeline="metrics",stage="work",replica="1",le="+Inf"}' \
    "$work/metrics.txt" || fail "no latency histogram"
$PY - "$work/metrics.txt" <<'PY'
import sys
done = {}
for line in open(sys.argv[1]):
    if line.startswith("gotflow_requests_done_total{"):
        labels, value = line.rsplit(" ", 1)
        done[labels] = float(value)
work = sum(v for k, v in done.items() if 'stage="work"' in k)
sink = sum(v for k, v in done.items() if 'stage="sink"' in k)
print("done: work %d, sink %d" % (work, sink))
assert work == 400 and sink == 400, done
PY
[ "$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/other")" = 404 ] || fail "no 404"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
sed -i 's|^metrics: .*|metrics: "ipc:///tmp/x"|' "$work/p.yaml"
set +e
out=$(gotflow check "$work/p.yaml" 2>&1)
set -e
echo "$out" | grep -q "p.yaml:2:10: 'metrics' must be a tcp:// endpoint" || fail "bad metrics endpoint accepted: $out"
