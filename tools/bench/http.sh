#!/usr/bin/env bash
# tools/bench/http.sh [N] — the HTTP front under load, against the ZeroMQ protocol in the same run,
# on the demo model (pipelines/got-r1-cpu.yaml, greedy), with `gotflow serve` in front of it:
#   load:   N (default 100) concurrent POST /v1/images/generations, each on its own connection
#           from its own thread, every one answered exactly once (200, a picture, its own id);
#           interleaved with N concurrent requests of one DEALER each straight to the gateway
#           (docs/protocol.md), ROUNDS rounds (default 2) of each; medians and p99 of both;
#   paired: PAIRS rounds (default 30) of one HTTP and one ZeroMQ request sent at the same
#           instant: they ride in the same batches through the stages, so the difference of
#           their latencies is the front's own cost; its median is the front's added latency.
# Prints the load average at the end. Needs python3 with zmq and msgpack (python3-zmq,
# python3-msgpack; `make deps`).
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-100}
work=$(mktemp -d /tmp/gfbench.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run PATH=$PWD/build/bin:$PATH GOTFLOW_STAGE_PATH=$PWD/build/bin
py=${PYTHON:-/usr/bin/python3}
serve=
trap '[ -n "$serve" ] && kill -TERM $serve 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
gotflow serve pipelines/got-r1-cpu.yaml --listen 127.0.0.1:0 --max-connections $((n + 16)) \
    >"$work/serve.out" 2>"$work/serve.err" &
serve=$!
url=
for _ in $(seq 600); do
    url=$(grep -o 'http://[^ ]*' "$work/serve.out" 2>/dev/null || true)
    [ -n "$url" ] && break
    kill -0 $serve 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.1
done
gotflow status pipelines/got-r1-cpu.yaml --wait-ready >/dev/null
run_dir=$(gotflow status pipelines/got-r1-cpu.yaml --json | jq -r .run_dir)
"$py" - "$url" "ipc://$run_dir/gateway" "$n" "${ROUNDS:-2}" "${PAIRS:-30}" <<'PY'
import http.client, json, statistics, sys, threading, time, urllib.parse
import msgpack, zmq

url, gateway, n, rounds, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlparse(url)
prompt = "a red circle to the left of a blue square"
params = {"seed": 1, "text_temperature": 0, "image_temperature": 0}
body = json.dumps(dict(prompt=prompt, **params)).encode()
ctx = zmq.Context()
count = [0]
lock = threading.Lock()

def http_one(out, k, barrier=None):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    c.connect()
    if barrier:
        barrier.wait()
    t0 = time.perf_counter()
    c.request("POST", "/v1/images/generations", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    t = time.perf_counter() - t0
    c.close()
    j = json.loads(data)
    assert r.status == 200 and j["data"][0]["b64_json"], (r.status, data[:200])
    out[k] = (t, j["id"])

def zmq_one(out, k, barrier=None):
    with lock:
        count[0] += 1
        rid = "zb-%d" % count[0]
    s = ctx.socket(zmq.DEALER)
    s.connect(gateway)
    msg = msgpack.packb({"id": rid, "kind": "prompt", "text": prompt, "params": params})
    if barrier:
        barrier.wait()
    t0 = time.perf_counter()
    s.send(msg)
    a = msgpack.unpackb(s.recv(), raw=False)
    t = time.perf_counter() - t0
    assert a["kind"] == "result" and a["id"] == rid, a.get("kind")
    # nothing more comes for this id
    assert not s.poll(0), "a second answer for %s" % rid
    s.close(0)
    out[k] = (t, rid)

def load(fn):
    out = [None] * n
    ths = [threading.Thread(target=fn, args=(out, k)) for k in range(n)]
    t0 = time.perf_counter()
    for t in ths: t.start()
    for t in ths: t.join()
    wall = time.perf_counter() - t0
    assert all(out), "%d requests unanswered" % out.count(None)
    ids = [o[1] for o in out]
    assert len(set(ids)) == n, "an id answered twice"
    return sorted(o[0] for o in out), wall

def q(xs, p):
    return xs[min(len(xs) - 1, int(p * len(xs)))]

res = {"http": [], "zmq": []}
for r in range(rounds):
    for name, fn in (("http", http_one), ("zmq", zmq_one)) if r % 2 == 0 else (("zmq", zmq_one), ("http", http_one)):
        lat, wall = load(fn)
        res[name].append((lat, wall))
        print("round %d %-4s: %d concurrent requests, all answered once, %.1f s, %.1f req/s, p50 %.1f ms, p99 %.1f ms"
              % (r + 1, name, n, wall, n / wall, 1e3 * statistics.median(lat), 1e3 * q(lat, 0.99)))
for name in res:
    lat = sorted(x for l, _ in res[name] for x in l)
    print("load %-4s: %d requests, p50 %.1f ms, p99 %.1f ms" % (name, len(lat), 1e3 * statistics.median(lat), 1e3 * q(lat, 0.99)))
h = statistics.median(x for l, _ in res["http"] for x in l)
z = statistics.median(x for l, _ in res["zmq"] for x in l)
print("load: median HTTP - median ZeroMQ = %+.1f ms (under %d concurrent: queueing dominates)" % (1e3 * (h - z), n))

diffs, hs, zs = [], [], []
for i in range(pairs):
    out = [None, None]
    b = threading.Barrier(2)
    ths = [threading.Thread(target=http_one, args=(out, 0, b)), threading.Thread(target=zmq_one, args=(out, 1, b))]
    for t in ths: t.start()
    for t in ths: t.join()
    hs.append(out[0][0]); zs.append(out[1][0]); diffs.append(out[0][0] - out[1][0])
d = sorted(diffs)
print("paired: %d rounds, HTTP p50 %.1f ms, ZeroMQ p50 %.1f ms; added by the front: p50 %+.2f ms, p90 %+.2f ms"
      % (pairs, 1e3 * statistics.median(hs), 1e3 * statistics.median(zs), 1e3 * statistics.median(d), 1e3 * q(d, 0.9)))
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
