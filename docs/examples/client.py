#!/usr/bin/python3
"""A minimal gotflow client: sends requests to a running pipeline's gateway and prints the answers.

    python3 client.py ENDPOINT [JSON_REQUEST...]

ENDPOINT is the gateway's client endpoint: its `bind:` in the graph, or ipc://RUN_DIR/gateway.
Each JSON_REQUEST is one request map, e.g. '{"x": 5}' or '{"id": "r1", "x": 5}'. Without any,
one request {"x": 5} is sent. Needs pyzmq and msgpack (Debian: python3-zmq python3-msgpack).
See docs/protocol.md.
"""
import json
import sys
import uuid

import msgpack
import zmq


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    endpoint = sys.argv[1]
    requests = [json.loads(a) for a in sys.argv[2:]] or [{"x": 5}]

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)  # DEALER: many requests in flight, answers in any order
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)

    pending = set()
    for req in requests:
        req.setdefault("id", "py-" + uuid.uuid4().hex[:12])  # own ids match answers to requests
        pending.add(req["id"])
        sock.send(msgpack.packb(req, use_bin_type=True))  # one single-part message per request

    status = 0
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    while pending:
        if not poller.poll(30000):
            print("no answer within 30 s for: %s" % ", ".join(sorted(pending)), file=sys.stderr)
            return 1
        frame = msgpack.unpackb(sock.recv(), raw=False)
        pending.discard(frame["id"])  # an error with id "-" is for a request the gateway refused
        if frame["kind"] == "error":  # before reading its id; see docs/protocol.md
            status = 1
            print("error %s from %s for %s: %s" % (frame["code"], frame["stage"], frame["id"],
                                                   frame["message"]), file=sys.stderr)
            if frame["id"] == "-":
                return status
        else:
            # tensors, PNGs and other bin values arrive as bytes, at any depth; print their size
            print(json.dumps(frame, default=lambda v: "<%d bytes>" % len(v)))
    return status


if __name__ == "__main__":
    sys.exit(main())
