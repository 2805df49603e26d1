#!/usr/bin/python3
"""A minimal gotflow client: sends requests to a running pipeline's gateway and prints the answers.

    python3 client.py ENDPOINT [JSON_REQUEST...]

ENDPOINT is the gateway's client endpoint: its `bind:` in the graph, or ipc://RUN_DIR/gateway.
Each JSON_REQUEST is one request map, e.g. '{"x": 5}' or '{"id": "r1", "x": 5}'. Without any,
one request {"x": 5} is sent. Each request is answered once: when the connection to the gateway
breaks and comes back (the gateway restarted), the unanswered requests are sent again under their
ids, which the gateway's journal makes safe. Needs pyzmq and msgpack (Debian: python3-zmq
python3-msgpack). See docs/protocol.md.
"""
import json
import sys
import uuid

import msgpack
import zmq
from zmq.utils.monitor import recv_monitor_message


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    endpoint = sys.argv[1]
    requests = [json.loads(a) for a in sys.argv[2:]] or [{"x": 5}]

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)  # DEALER: many requests in flight, answers in any order
    sock.setsockopt(zmq.LINGER, 0)
    monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
    sock.connect(endpoint)

    pending = {}
    for req in requests:
        req.setdefault("id", "py-" + uuid.uuid4().hex[:12])  # own ids match answers to requests
        pending[req["id"]] = msgpack.packb(req, use_bin_type=True)
        sock.send(pending[req["id"]])  # one single-part message per request

    status, broken = 0, False
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    while pending:
        ready = dict(poller.poll(30000))
        if not ready:
            print("no answer within 30 s for: %s" % ", ".join(sorted(pending)), file=sys.stderr)
            return 1
        if monitor in ready:
            event = recv_monitor_message(monitor)["event"]
            if event == zmq.EVENT_DISCONNECTED:
                broken = True
            elif event == zmq.EVENT_CONNECTED and broken:  # the gateway is back: ask again
                broken = False
                for body in pending.values():
                    sock.send(body)
        if sock not in ready:
            continue
        frame = msgpack.unpackb(sock.recv(), raw=False)
        if frame["id"] not in pending and frame["id"] != "-":
            continue  # answered already: a copy from before the break
        pending.pop(frame["id"], None)  # an error with id "-" is for a request the gateway refused
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
