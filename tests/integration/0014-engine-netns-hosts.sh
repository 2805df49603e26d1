#!/usr/bin/env bash
# Across machines: two hosts made as network namespaces joined by a veth pair, each running its
# own `gotflow run --host` with its CURVE key; the middle stage has replicas on both. 1,000
# requests go through while a chaos loop SIGKILLs a random middle replica every second, and once
# the whole second host's supervisor is SIGKILLed (its replicas go with it): the requests it held
# finish on the first host. Every request is answered exactly once, correctly. Traffic stays on
# the test's own addresses. Skips when namespaces cannot be made here.
. "$(dirname "$0")/lib.sh"
tag=$((RANDOM % 9000 + 1000))
na=gfa$tag nb=gfb$tag va=gfva$tag vb=gfvb$tag
net=10.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))
teardown() { ip netns del "$na" 2>/dev/null || true; ip netns del "$nb" 2>/dev/null || true; cleanup; }
trap teardown EXIT
ip netns add "$na" 2>/dev/null || skip "cannot make network namespaces here (ip netns add needs privilege)"
ip netns add "$nb"
ip link add "$va" type veth peer name "$vb"
ip link set "$va" netns "$na"
ip link set "$vb" netns "$nb"
ip -n "$na" addr add "$net.1/24" dev "$va"
ip -n "$nb" addr add "$net.2/24" dev "$vb"
for ns in "$na" "$nb"; do ip -n "$ns" link set lo up; done
ip -n "$na" link set "$va" up
ip -n "$nb" link set "$vb" up

gotflow keygen "$work/a.key" >"$work/a.pub"
gotflow keygen "$work/b.key" >"$work/b.pub"
cat >"$work/p.yaml" <<YAML
name: netns
supervisor: {heartbeat_ms: 100, heartbeat_timeout_ms: 2000, restart_backoff_ms: 50}
hosts:
  a: {address: $net.1, curve_public: "$(cat "$work/a.pub")"}
  b: {address: $net.2, curve_public: "$(cat "$work/b.pub")"}
placement: {work: [a, b]}
stages:
  gateway: {kind: gateway, params: {attempt_timeout_ms: 3000, max_attempts: 20, timeout_ms: 120000}}
  prep: {kind: test-transform, params: {add: 1}}
  work: {kind: test-transform, replicas: 4, params: {mul: 2, delay_us: 20000}}
  sink: {kind: sink}
YAML
ip netns exec "$nb" "$build/bin/gotflow" run "$work/p.yaml" --host b --key "$work/b.key" >"$work/b.log" 2>&1 &
b_pid=$!
ip netns exec "$na" "$build/bin/gotflow" run "$work/p.yaml" --host a --key "$work/a.key" >"$work/a.log" 2>&1 &
sup_pid=$!
gotflow status "$work/p.yaml" --host b --wait-ready --timeout 20 >/dev/null || fail "host b not ready: $(cat "$work/b.log")"
gotflow status "$work/p.yaml" --host a --wait-ready --timeout 20 >/dev/null || fail "host a not ready: $(cat "$work/a.log")"
run_a=$GOTFLOW_RUN_ROOT/netns-a run_b=$GOTFLOW_RUN_ROOT/netns-b
requests 1000 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" --host a "$work/req.jsonl" --window 200 --timeout 120 >"$work/out.jsonl" &
submit_pid=$!
kills=0 t=0
while kill -0 $submit_pid 2>/dev/null; do
    sleep 1
    t=$((t + 1))
    if [ $t = 3 ]; then
        kill -9 "$b_pid" # the whole host b: its supervisor, and with it its replicas
        echo "killed host b's supervisor"
        continue
    fi
    victim=$(ls "$run_a"/work.*.pid "$run_b"/work.*.pid 2>/dev/null | shuf -n 1)
    [ -n "$victim" ] && kill -9 "$(cat "$victim")" 2>/dev/null && kills=$((kills + 1))
done
wait $submit_pid || fail "submit failed: $(grep -c . "$work/out.jsonl") answers"
echo "killed $kills replicas and host b"
[ $t -gt 3 ] || fail "the run ended before host b was killed; too short to judge"
$PY - "$work/out.jsonl" <<'PY'
import json, sys, collections
count, hosts_after = collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["kind"] == "result", r
    count[r["id"]] += 1
    assert r["x"] == (int(r["id"][1:]) + 1) * 2, r
    for t in r["trace"]:
        if t[0] == "work" and r["n"] > 0:
            hosts_after["a" if t[1] % 2 == 0 else "b"] += 1
assert len(count) == 1000 and max(count.values()) == 1, (len(count), max(count.values()))
print("all 1000 answered once; re-issued requests finished on:", dict(hosts_after))
assert hosts_after["a"] > 0, "no re-issued request finished on host a"
PY
for f in "$run_b"/*.pid; do
    p=$(cat "$f"); kill -0 "$p" 2>/dev/null && ! grep -q zombie /proc/"$p"/status && fail "host b's $(basename "$f" .pid) outlived its supervisor"
done
kill -TERM "$sup_pid"
wait "$sup_pid" || fail "host a's supervisor exit status $?"
