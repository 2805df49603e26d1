#!/usr/bin/env bash
# A raw DEALER on a replica's inlet sends edge-control nonsense: the two-message sequence that
# used to freeze a replica ('H' with sent 2^31 + 2^20, then sent 0), totals that wrap, wrong
# lengths, letters and flags, wild release epochs; over and over while requests flow. The
# replica, the only one of its stage, is never restarted, the credit it gives the stranger stays
# within its capacity, every request is answered once and right, and the peer is logged once.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: hostile
supervisor: {heartbeat_ms: 100}
stages:
  gateway: {kind: gateway}
  a: {kind: test-transform, params: {add: 1}}
  b: {kind: test-transform, credits: 8, params: {mul: 2}}
  sink: {kind: sink}
edges: [gateway -> a -> b -> sink]
YAML
start_pipeline "$work/p.yaml"
run_dir=$GOTFLOW_RUN_ROOT/hostile
[ -S "$run_dir/b.0.in" ] || fail "no inlet socket '$run_dir/b.0.in'"
# the stranger keeps at it in the background while the requests go through
$PY - "$run_dir" "$work/grants.txt" <<'PY' &
import struct, sys, time, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect("ipc://%s/b.0.in" % sys.argv[1])

def hello(sent, flags=0, epoch=0, inst=0x5EED):
    return b"\xc1H" + struct.pack("<QQBI", inst, sent % 2**64, flags, epoch)

def grants():
    out = []
    while s.poll(0):
        m = s.recv()
        if len(m) == 22 and m[:2] == b"\xc1C":
            out.append(struct.unpack("<QQI", m[2:]))
    return out

seen = []
end = time.time() + 4
while time.time() < end:
    s.send(hello(2**31 + 2**20, 1))      # the freeze: a total near 2^31 ...
    s.send(hello(0))                      # ... then 0
    s.send(hello(2**64 - 1, 1))           # past any real count
    s.send(hello(2**63 + 5, 0))
    s.send(hello(0, 2, 0xFFFFFFFF))       # release in a wild epoch
    s.send(hello(0, 0xFF))                # unknown flags
    for bad in (b"\xc1", b"\xc1H", b"\xc1H" + b"\0" * 30, b"\xc1C" + b"\0" * 20, b"\xc1Z" * 11):
        s.send(bad)
    time.sleep(0.02)
    seen += grants()
time.sleep(0.3)
seen += grants()
s.send(hello(0))                          # what it is owed after one last reset: nothing much
time.sleep(0.3)
seen += grants()
with open(sys.argv[2], "w") as f:
    for inst, granted, epoch in seen:
        f.write("%d %d %d\n" % (inst, granted, epoch))
PY
stranger=$!
sleep 0.5
requests 50 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" --timeout 30 >"$work/out.jsonl"
wait $stranger || fail "the stranger's script failed"
$PY - "$work/out.jsonl" <<'PY'
import json, sys, collections
seen, share = set(), collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["kind"] == "result", r
    i = int(r["id"][1:])
    assert i not in seen, "answered twice: %s" % r["id"]
    seen.add(i)
    assert r["x"] == (i + 1) * 2, r
    share.update(t[1] for t in r["trace"] if t[0] == "b")
assert len(seen) == 50, "answered %d of 50" % len(seen)
print("b replica shares:", dict(share))
PY
status_json "$work/p.yaml" >"$work/status.json"
$PY - "$work/status.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["replicas"]:
    assert r["restarts"] == 0, r
    if r["stage"] == "b":
        print("b:", {k: r[k] for k in ("replica", "state", "restarts", "held")})
PY
$PY - "$work/grants.txt" <<'PY'
import sys
lines = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
assert lines, "the inlet never answered the stranger"
inst, granted, epoch = lines[-1]
# after its last hello (sent 0) the stranger may hold at most the replica's capacity
assert granted <= 8, "granted %d to a peer that has sent 0" % granted
print("answers to the stranger: %d, last granted %d" % (len(lines), granted))
PY
n=$(grep -c "broke the protocol" "$run_dir/b.0.log" || true)
[ "$n" = 1 ] || { cat "$run_dir/b.0.log" >&2; fail "b.0 logged $n protocol warnings, not 1"; }
grep "broke the protocol" "$run_dir/b.0.log"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
