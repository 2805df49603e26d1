#!/usr/bin/env bash
# tools/bench/http.sh [N] — the HTTP front under load, against the ZeroMQ protocol in the same run,
# on the demo model (pipelines/got-r1-cpu.yaml, greedy), with `gotflow serve` in front of it:
#   load:   N (default 100) concurrent POST /v1/images/generations, each on its own keep-alive
#           connection from its own thread, every one answered exactly once (200, a picture, its
#           own id); interleaved with N concurrent requests of one DEALER each straight to the
#           gateway (docs/protocol.md), ROUNDS rounds (default 2) of each;
#   paired: PAIRS rounds (default 30) of one HTTP and one ZeroMQ request sent at the same
#           instant, on one kept connection each.
# Both sides use the same kind of client: connected before the clock starts, the request sent in
# one write, the clock stopped at the answer's last byte, decoding after it. Besides latency, each
# request's time outside the pipeline (latency minus the sink's `timings.total`, which runs from
# the gateway taking the request to the sink sending the result) is reported: a stage works the
# frames of a batch one after the other, so where a request sits in a batch moves its latency by
# whole picture decodes, which says nothing of the front; outside the pipeline, HTTP minus ZeroMQ
# is the front's own cost (its hops, parse and answer building, and HTTP over TCP against ZMTP
# over IPC).
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
import json, re, socket, statistics, sys, threading, time, urllib.parse
import msgpack, zmq

url, gateway, n, rounds, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlparse(url)
prompt = "a red circle to the left of a blue square"
params = {"seed": 1, "text_temperature": 0, "image_temperature": 0}
body = json.dumps(dict(prompt=prompt, **params)).encode()
ctx = zmq.Context()
count = [0]
lock = threading.Lock()

# Each request: (latency, time spent inside the pipeline, id). The pipeline's part is the sink's
# `timings.total` (from the gateway taking the request to the sink sending its result), so
# latency - pipeline = what lies outside it: the client, the transport, the gateway's two hops
# and, over HTTP, the front. Where a request sits in a batch (a stage works the frames of a batch
# one after the other) moves its latency by whole picture decodes, but not this difference.
# The clock stops when the whole answer is in; decoding it (json.loads, msgpack) is not counted
# on either side.

class HttpClient:
    """One keep-alive connection, as bare as the ZeroMQ side: the request is sent in one write,
    the answer read to its last byte (headers up to Content-Length) and only then decoded."""
    def __init__(self):
        self.s = socket.create_connection((u.hostname, u.port))
        self.req = (b"POST /v1/images/generations HTTP/1.1\r\nHost: %s:%d\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % (u.hostname.encode(), u.port, len(body))) + body

    def ask(self):
        self.s.sendall(self.req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(65536)
            assert chunk, "the connection closed"
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        assert m, head[:200]
        want = int(m.group(1))
        parts, have = [rest], len(rest)
        while have < want:
            chunk = self.s.recv(max(65536, want - have))
            assert chunk, "the connection closed"
            parts.append(chunk)
            have += len(chunk)
        return head, b"".join(parts)

class ZmqClient:
    """One DEALER to the gateway, connected before it is timed."""
    def __init__(self):
        self.s = ctx.socket(zmq.DEALER)
        self.s.connect(gateway)

    def ask(self, rid):
        self.s.send(msgpack.packb({"id": rid, "kind": "prompt", "text": prompt, "params": params}))
        return self.s.recv()

def http_one(out, k, client, barrier=None):
    if barrier:
        barrier.wait()
    t0 = time.perf_counter()
    head, data = client.ask()
    t = time.perf_counter() - t0
    j = json.loads(data)
    assert head.startswith(b"HTTP/1.1 200") and j["data"][0]["b64_json"], (head[:100], data[:200])
    out[k] = (t, j["metadata"]["timings_ms"]["total"] / 1e3, j["id"])

def zmq_one(out, k, client, barrier=None):
    with lock:
        count[0] += 1
        rid = "zb-%d" % count[0]
    if barrier:
        barrier.wait()
    t0 = time.perf_counter()
    raw = client.ask(rid)
    t = time.perf_counter() - t0
    a = msgpack.unpackb(raw, raw=False)
    assert a["kind"] == "result" and a["id"] == rid, a.get("kind")
    # nothing more comes for this id
    assert not client.s.poll(0), "a second answer for %s" % rid
    out[k] = (t, a["timings"]["total"] / 1e3, rid)

def load(fn, kind):
    out = [None] * n
    clients = [kind() for _ in range(n)]
    time.sleep(0.5)  # every connection made before the clock starts, on both sides
    ths = [threading.Thread(target=fn, args=(out, k, clients[k])) for k in range(n)]
    t0 = time.perf_counter()
    for t in ths: t.start()
    for t in ths: t.join()
    wall = time.perf_counter() - t0
    assert all(out), "%d requests unanswered" % out.count(None)
    ids = [o[2] for o in out]
    assert len(set(ids)) == n, "an id answered twice"
    return out, wall

def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]

def ms(x):
    return 1e3 * x

res = {"http": [], "zmq": []}
for r in range(rounds):
    sides = (("http", http_one, HttpClient), ("zmq", zmq_one, ZmqClient))
    for name, fn, kind in sides if r % 2 == 0 else sides[::-1]:
        out, wall = load(fn, kind)
        res[name] += out
        lat = [o[0] for o in out]
        outside = [o[0] - o[1] for o in out]
        print("round %d %-4s: %d concurrent requests, all answered once, %.1f s, %.1f req/s, p50 %.1f ms, p99 %.1f ms; outside the pipeline p50 %.2f ms, p90 %.2f ms"
              % (r + 1, name, n, wall, n / wall, ms(statistics.median(lat)), ms(q(lat, 0.99)),
                 ms(statistics.median(outside)), ms(q(outside, 0.9))))
for name in res:
    lat = [o[0] for o in res[name]]
    outside = [o[0] - o[1] for o in res[name]]
    print("load %-4s: %d requests, p50 %.1f ms, p99 %.1f ms; outside the pipeline p50 %.2f ms, p90 %.2f ms"
          % (name, len(lat), ms(statistics.median(lat)), ms(q(lat, 0.99)), ms(statistics.median(outside)), ms(q(outside, 0.9))))
oh = [o[0] - o[1] for o in res["http"]]
oz = [o[0] - o[1] for o in res["zmq"]]
print("load: added by the front (outside the pipeline, HTTP - ZeroMQ): p50 %+.2f ms, p90 %+.2f ms"
      % (ms(statistics.median(oh) - statistics.median(oz)), ms(q(oh, 0.9) - q(oz, 0.9))))

diffs, raw, hs, zs = [], [], [], []
hc, zc = HttpClient(), ZmqClient()
warm = [None, None]
http_one(warm, 0, hc)  # one answer on each first: the connections are up and kept
zmq_one(warm, 1, zc)
for i in range(pairs):
    out = [None, None]
    b = threading.Barrier(2)
    ths = [threading.Thread(target=http_one, args=(out, 0, hc, b)), threading.Thread(target=zmq_one, args=(out, 1, zc, b))]
    for t in ths: t.start()
    for t in ths: t.join()
    hs.append(out[0][0]); zs.append(out[1][0]); raw.append(out[0][0] - out[1][0])
    diffs.append((out[0][0] - out[0][1]) - (out[1][0] - out[1][1]))
print("paired: %d rounds, HTTP p50 %.1f ms, ZeroMQ p50 %.1f ms (difference p50 %+.2f ms, p90 %+.2f ms, batch order included); added by the front (outside the pipeline): p50 %+.2f ms, p90 %+.2f ms"
      % (pairs, ms(statistics.median(hs)), ms(statistics.median(zs)), ms(statistics.median(raw)), ms(q(raw, 0.9)),
         ms(statistics.median(diffs)), ms(q(diffs, 0.9))))
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
