#!/usr/bin/env bash
# Placement and tcp:// edges: one graph, two hosts (both on this machine's loopback, each with its
# own ports), one supervisor per host started with --host; each starts only its own replicas and
# the requests cross between them over tcp. (Hosts in separate network namespaces, and CURVE,
# belong to the multi-host tests.)
. "$(dirname "$0")/lib.sh"
base=$((20000 + RANDOM % 20000))
cat >"$work/p.yaml" <<YAML
name: twohosts
security: none  # plaintext on purpose: both hosts are this machine's loopback (CURVE: 0013)
hosts:
  front: {address: 127.0.0.1, port_base: $base}
  back: {address: 127.0.0.1, port_base: $((base + 100))}
placement: {work: back}
stages:
  gateway: {kind: gateway}
  prep: {kind: test-transform, params: {add: 1}}
  work: {kind: test-transform, replicas: 2, params: {mul: 5}}
  sink: {kind: sink}
YAML
gotflow run "$work/p.yaml" --host back >"$work/back.log" 2>&1 &
back_pid=$!
gotflow run "$work/p.yaml" --host front >"$work/front.log" 2>&1 &
sup_pid=$!
gotflow status "$work/p.yaml" --host back --wait-ready --timeout 20 >/dev/null || fail "back not ready"
gotflow status "$work/p.yaml" --host front --wait-ready --timeout 20 >/dev/null || fail "front not ready"
gotflow status "$work/p.yaml" --host back --json | $PY -c '
import json, sys
st = json.load(sys.stdin)
names = sorted("%s.%d" % (r["stage"], r["replica"]) for r in st["replicas"])
assert names == ["work.0", "work.1"], names'
gotflow status "$work/p.yaml" --host front --json | $PY -c '
import json, sys
st = json.load(sys.stdin)
names = sorted("%s.%d" % (r["stage"], r["replica"]) for r in st["replicas"])
assert names == ["gateway.0", "prep.0", "sink.0"], names'
ls "$GOTFLOW_RUN_ROOT/twohosts-back"/*.in 2>/dev/null && fail "ipc inlets on a tcp graph"
requests 300 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" --host front "$work/req.jsonl" >"$work/out.jsonl"
$PY - "$work/out.jsonl" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["x"] == (int(r["id"][1:]) + 1) * 5, r
    n += 1
assert n == 300, n
PY
kill -TERM "$sup_pid" "$back_pid"
wait "$sup_pid" || fail "front supervisor exit status $?"
wait "$back_pid" || fail "back supervisor exit status $?"
