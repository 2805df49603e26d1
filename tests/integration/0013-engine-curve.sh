#!/usr/bin/env bash
# CURVE: a graph whose hosts carry public keys runs every tcp edge and tap under CURVE. The
# pipeline works across its two hosts (here both on loopback); a peer with a key that is not one
# of the hosts' is refused and logged, a peer without CURVE gets nowhere and is logged, and a
# supervisor started without its key file refuses to start.
. "$(dirname "$0")/lib.sh"
$PY -c 'import zmq, sys; sys.exit(0 if zmq.has("curve") else 1)' || skip "libzmq without CURVE"
gotflow keygen "$work/front.key" >"$work/front.pub"
gotflow keygen "$work/back.key" >"$work/back.pub"
[ "$(stat -c %a "$work/front.key")" = 600 ] || fail "key file is not 0600"
base=$((20000 + RANDOM % 20000))
cat >"$work/p.yaml" <<YAML
name: curve
hosts:
  front: {address: 127.0.0.1, port_base: $base, curve_public: "$(cat "$work/front.pub")"}
  back: {address: 127.0.0.1, port_base: $((base + 100)), curve_public: "$(cat "$work/back.pub")"}
placement: {work: back}
stages:
  gateway: {kind: gateway, bind: "tcp://127.0.0.1:$((base + 50))"}
  work: {kind: test-transform, params: {mul: 7}}
  sink: {kind: sink}
YAML
set +e
gotflow run "$work/p.yaml" --host back >"$work/nokey.log" 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "started without a key file (exit $rc)"
grep -q "give this host's key file" "$work/nokey.log" || fail "no reason given: $(cat "$work/nokey.log")"

gotflow run "$work/p.yaml" --host back --key "$work/back.key" >"$work/back.log" 2>&1 &
back_pid=$!
gotflow run "$work/p.yaml" --host front --key "$work/front.key" >"$work/front.log" 2>&1 &
sup_pid=$!
gotflow status "$work/p.yaml" --host back --wait-ready --timeout 20 >/dev/null || fail "back not ready"
gotflow status "$work/p.yaml" --host front --wait-ready --timeout 20 >/dev/null || fail "front not ready"
requests 100 >"$work/req.jsonl"
# the tcp gateway admits a client with a host's key, and nobody else
set +e
GOTFLOW_KEY_FILE= gotflow submit "$work/p.yaml" --host front "$work/req.jsonl" --timeout 3 \
    >"$work/nokey.jsonl" 2>"$work/nokey.err"
set -e
[ ! -s "$work/nokey.jsonl" ] || fail "a client without a key was answered"
gotflow keygen "$work/stranger.key" >/dev/null
set +e
GOTFLOW_KEY_FILE=$work/stranger.key gotflow submit "$work/p.yaml" --host front "$work/req.jsonl" \
    --timeout 3 >"$work/stranger.jsonl" 2>&1
set -e
[ ! -s "$work/stranger.jsonl" ] || grep -q "not any host's" "$work/stranger.jsonl" ||
    fail "a client with a stranger's key was answered: $(head -3 "$work/stranger.jsonl")"
GOTFLOW_KEY_FILE=$work/front.key gotflow submit "$work/p.yaml" --host front "$work/req.jsonl" >"$work/out.jsonl"
[ "$(grep -c '"kind":"result"' "$work/out.jsonl")" = 100 ] || fail "not every request crossed over CURVE"
# a plain client (no CURVE at all) gets nowhere at the gateway either
$PY - "$((base + 50))" <<'PY'
import sys, zmq, msgpack
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.connect("tcp://127.0.0.1:%s" % sys.argv[1])
s.send(msgpack.packb({"id": "plain", "x": 1}), zmq.NOBLOCK)
assert s.poll(1500) == 0, "a client without CURVE got an answer"
s.close(linger=0)
PY
# a tap over tcp: with a host's key it sees frames, with none the CLI refuses to try
GOTFLOW_KEY_FILE=$work/front.key gotflow tap "$work/p.yaml" --host back work --count 5 --timeout 10 \
    >"$work/tap.jsonl" 2>"$work/tap.err" &
tap_pid=$!
sleep 0.5
requests 5 | GOTFLOW_KEY_FILE=$work/front.key gotflow submit "$work/p.yaml" --host front >/dev/null
wait $tap_pid
grep -q "5 frames, 0 dropped" "$work/tap.err" || fail "the tap with a key saw nothing: $(cat "$work/tap.err")"
set +e
GOTFLOW_KEY_FILE= gotflow tap "$work/p.yaml" --host back work --count 1 --timeout 2 >/dev/null 2>"$work/tap2.err"
rc=$?
set -e
[ $rc != 0 ] && grep -q "key file" "$work/tap2.err" || fail "a tap without a key was not refused"
cat >"$work/plainsub.py" <<'PY'
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)  # a plain subscriber on the work replica's tap, while frames flow
s.setsockopt(zmq.SUBSCRIBE, b"")
s.connect("tcp://127.0.0.1:%s" % sys.argv[1])
print("got a frame" if s.poll(3000) else "nothing", flush=True)
PY
$PY "$work/plainsub.py" "$((base + 101))" >"$work/plainsub.out" &
plain_pid=$!
sleep 0.5
requests 5 | GOTFLOW_KEY_FILE=$work/front.key gotflow submit "$work/p.yaml" --host front >/dev/null
wait $plain_pid
grep -q nothing "$work/plainsub.out" || fail "a plain subscriber got tap frames"

# a stranger with its own key, and a peer without CURVE, both try the back host's inlet
$PY - "$base" "$(cat "$work/back.pub")" <<'PY'
import sys, time, zmq, msgpack
port = int(sys.argv[1]) + 100  # the back host's first replica inlet
ctx = zmq.Context()
pub, sec = zmq.curve_keypair()
s = ctx.socket(zmq.DEALER)
s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, sys.argv[2].encode()
s.connect("tcp://127.0.0.1:%d" % port)
p = ctx.socket(zmq.DEALER)
p.connect("tcp://127.0.0.1:%d" % port)
for sock in (s, p):
    sock.send(msgpack.packb({"v": 1, "id": "intruder", "kind": "tokens", "x": 1}), zmq.NOBLOCK)
time.sleep(1.0)
for sock in (s, p):
    sock.close(linger=0)
PY
sleep 0.5
grep -q "refused a connection" "$GOTFLOW_RUN_ROOT/curve-back/work.0.log" ||
    fail "the stranger was not refused: $(tail -3 "$GOTFLOW_RUN_ROOT/curve-back/work.0.log")"
# the peer without CURVE never reaches the key check: the replica logs it from its socket's
# handshake events (at most once per 10 s per endpoint, with a count)
grep -q "refused 1 plaintext (non-CURVE) connection on 'tcp://127.0.0.1:$((base + 100))'" \
    "$GOTFLOW_RUN_ROOT/curve-back/work.0.log" ||
    fail "the plaintext peer was not logged: $(tail -3 "$GOTFLOW_RUN_ROOT/curve-back/work.0.log")"
[ "$(grep -c "plaintext (non-CURVE) connection.* on 'tcp://127.0.0.1:$((base + 100))'" \
    "$GOTFLOW_RUN_ROOT/curve-back/work.0.log")" = 1 ] ||
    fail "the stranger with a key was taken for a plaintext peer too"
grep -q "plaintext (non-CURVE) connection on 'tcp://127.0.0.1:$((base + 101))'" \
    "$GOTFLOW_RUN_ROOT/curve-back/work.0.log" || fail "the plain tap subscriber was not logged"
grep -q "plaintext (non-CURVE) connection on 'tcp://127.0.0.1:$((base + 50))'" \
    "$GOTFLOW_RUN_ROOT/curve-front/gateway.0.log" || fail "the plain client at the gateway was not logged"
gotflow status "$work/p.yaml" --host back --json | $PY -c '
import json, sys
w = json.load(sys.stdin)["replicas"][0]
assert w["received"] == 110 and w["bad_frames"] == 0, w'
kill -TERM "$sup_pid" "$back_pid"
wait "$sup_pid" || fail "front supervisor exit status $?"
wait "$back_pid" || fail "back supervisor exit status $?"
