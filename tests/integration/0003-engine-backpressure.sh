#!/usr/bin/env bash
# Back-pressure: a consumer 10x slower than its producer. The frames held by the consumer never
# exceed its credits, the producer's outbox stays bounded, and both processes' memory stays flat
# while 2,000 requests go through; the backlog waits at the gateway, where requests enter.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: backpressure
stages:
  gateway: {kind: gateway}
  producer: {kind: test-transform, credits: 2, params: {delay_us: 300}}
  consumer: {kind: test-transform, batch: 2, credits: 4, params: {delay_us: 3000}}
  sink: {kind: sink}
supervisor: {heartbeat_ms: 100}
YAML
start_pipeline "$work/p.yaml"
requests 2000 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --window 2000 --timeout 60 >"$work/out.jsonl" &
submit_pid=$!
run_dir=$GOTFLOW_RUN_ROOT/backpressure
rss() { awk '/VmRSS/ {print $2}' /proc/"$(cat "$run_dir/$1.pid")"/status; }
sleep 0.5
rss_p0=$(rss producer.0) rss_c0=$(rss consumer.0)
samples=0 busy=0
while kill -0 $submit_pid 2>/dev/null; do
    status_json "$work/p.yaml" >"$work/status.json"
    python3 - "$work/status.json" <<'PY' || fail "a bound was exceeded: $(cat "$work/status.json")"
import json, sys
st = {r["stage"]: r for r in json.load(open(sys.argv[1]))["replicas"]}
c, p = st["consumer"], st["producer"]
assert c.get("held", 0) <= 4 and c.get("queue", 0) <= 4, "consumer holds %s" % c
assert c.get("held", 0) + c.get("credits_out", 0) <= 4, "consumer promised too much %s" % c
# a producer stops granting once its outbox reaches its credits; what it already holds may
# still land there: outbox <= 2 x credits
assert p.get("held", 0) <= 2 and p.get("outbox", 0) <= 4, "producer outbox %s" % p
PY
    samples=$((samples + 1))
    sleep 0.1
done
wait $submit_pid || fail "submit failed"
[ "$(wc -l <"$work/out.jsonl")" = 2000 ] || fail "not every request answered"
rss_p1=$(rss producer.0) rss_c1=$(rss consumer.0)
echo "status samples: $samples; producer RSS ${rss_p0}->${rss_p1} kB; consumer RSS ${rss_c0}->${rss_c1} kB"
[ "$samples" -ge 3 ] || fail "too few status samples ($samples) to judge"
case ${GOTFLOW_BUILD:-build} in
*asan*) echo "memory not judged under AddressSanitizer (its quarantine keeps freed memory)" ;;
*)
    [ $((rss_p1 - rss_p0)) -lt 2048 ] || fail "producer memory grew by $((rss_p1 - rss_p0)) kB"
    [ $((rss_c1 - rss_c0)) -lt 2048 ] || fail "consumer memory grew by $((rss_c1 - rss_c0)) kB"
    ;;
esac
stop_pipeline
