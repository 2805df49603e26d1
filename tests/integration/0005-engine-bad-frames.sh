#!/usr/bin/env bash
# Random bytes, wrong-schema maps and oversize frames injected straight into a stage's inlet:
# each is counted, each that carries a request id is answered with an `error` frame for that id,
# and the stage keeps serving.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: bad
max_frame_bytes: 65536
supervisor: {heartbeat_ms: 100}
stages:
  gateway: {kind: gateway}
  a: {kind: test-transform, params: {add: 1}}
  b: {kind: test-transform, params: {mul: 2}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
run_dir=$GOTFLOW_RUN_ROOT/bad
gotflow tap "$work/p.yaml" b.error --count 4 --timeout 10 >"$work/errors.jsonl" 2>/dev/null &
tap_pid=$!
sleep 0.5
$PY - "$run_dir" <<'PY'
import random, sys, time, msgpack, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.connect("ipc://%s/b.0.in" % sys.argv[1])
time.sleep(0.2)
rnd = random.Random(1)
for i in range(20):                       # random bytes: 20 bad frames, no id
    s.send(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))))
s.send(msgpack.packb({"v": 1, "id": "no-kind"}))                          # missing kind
s.send(msgpack.packb({"v": 99, "id": "future", "kind": "tokens"}))        # newer schema
s.send(msgpack.packb({"v": 1, "id": "x-str", "kind": "tokens", "x": "seven"}))  # fits the frame
                                                                          # schema, not the stage's
s.send(msgpack.packb({"v": 1, "id": "big", "kind": "tokens", "blob": b"\0" * 100000}))  # oversize
s.send(msgpack.packb([1, 2, 3]))                                          # not a map, no id
time.sleep(0.5)
PY
wait $tap_pid || true
$PY - "$work/errors.jsonl" <<'PY'
import json, sys
errs = {}
for line in open(sys.argv[1]):
    f = json.loads(line)["frame"]
    errs[f["id"]] = f["code"]
print("error frames:", errs)
assert errs == {"no-kind": "ESCHEMA", "future": "ESCHEMA", "x-str": "ESCHEMA", "big": "ETOOBIG"}, errs
PY
sleep 0.3
status_json "$work/p.yaml" >"$work/status.json"
$PY - "$work/status.json" <<'PY'
import json, sys
b = [r for r in json.load(open(sys.argv[1]))["replicas"] if r["stage"] == "b"][0]
print("b:", {k: b[k] for k in ("bad_frames", "errors", "restarts", "held")})
assert b["bad_frames"] == 24, b          # 20 random + 4 that do not decode as frames
assert b["restarts"] == 0 and b["held"] == 0, b
PY
requests 200 >"$work/req.jsonl"
gotflow submit "$work/p.yaml" "$work/req.jsonl" >"$work/out.jsonl"
$PY - "$work/out.jsonl" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["x"] == (int(r["id"][1:]) + 1) * 2, r
    n += 1
assert n == 200, n
PY
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
