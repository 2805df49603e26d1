#!/usr/bin/env python3
"""edge_seeds.py — writes the seed inputs of fuzz_edge and fuzz_control (small, committed).

    tests/fuzz/edge_seeds.py          (re)writes tests/fuzz/corpus/fuzz_{edge,control}/

fuzz_edge input: a capacity byte, then records [op][peer][len][body] (see fuzz_edge.c).
"""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def rec(op, peer, body=b""):
    return bytes([op, peer, len(body)]) + body


def hello(inst, sent, flags=0, epoch=0):  # the 21 bytes after 0xC1 'H'
    return struct.pack("<QQBI", inst, sent, flags, epoch)


def grant(inst, granted, epoch=0):  # the 20 bytes after 0xC1 'C'
    return struct.pack("<QQI", inst, granted, epoch)


def raw_hello(inst, sent, flags=0, epoch=0):
    return b"\xc1H" + hello(inst, sent, flags, epoch)


edge = {
    # the measured freeze: sent near 2^31, then sent 0, from one peer
    "freeze": bytes([8]) + rec(1, 1, hello(99, 2**31 - 1)) + rec(4, 0) + rec(1, 1, hello(99, 0))
    + rec(4, 0),
    # an honest exchange: hello with demand, grants, frames, keepalive, release, demand again
    "honest": bytes([8]) + rec(0, 2, raw_hello(7, 0, 1)) + rec(4, 0) + rec(2, 2) * 3 + rec(3, 0, b"\x02")
    + rec(0, 2, raw_hello(7, 3)) + rec(4, 0) + rec(0, 2, raw_hello(7, 3, 2, 0)) + rec(4, 0)
    + rec(0, 2, raw_hello(7, 3, 1, 1)) + rec(4, 0),
    # an outlet: grants of two instances, sending, a release epoch, an absurd grant
    "outlet": bytes([4]) + rec(6, 0, grant(5, 8)) + rec(7, 0) + rec(6, 0, grant(5, 16, 1))
    + rec(7, 0) + rec(6, 0, grant(6, 3)) + rec(6, 0, grant(6, 2**63)) + rec(5, 0, b"\xc1C\x00")
    + rec(6, 1, grant(0, 10)),
    # wrong lengths, letters and flags; a wrapping total; a wild epoch
    "nonsense": bytes([3]) + rec(0, 3, b"\xc1") + rec(0, 3, b"\xc1H" + b"\xff" * 30)
    + rec(0, 3, b"\xc1C" + b"\x00" * 20) + rec(1, 3, hello(1, 2**64 - 1, 3, 2**32 - 1))
    + rec(1, 3, hello(1, 5, 0x80)) + rec(4, 3, b"\x10\x00") + rec(1, 3, hello(2, 2**53, 2, 7))
    + rec(4, 3),
    # more peers than the ledger holds, each with a hello, then time enough to forget them
    "many-peers": bytes([63]) + b"".join(rec(9, p, hello(p, p * 1000, 1)) for p in range(256))
    + b"".join(rec(1, p, hello(p, 0, 1)) for p in range(8)) + rec(4, 0) + rec(4, 0, b"\x10\x00"),
}


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + varint(payload)


def envelope(num, inner):
    return field(num, 2, inner)


control = {
    "hello": envelope(1, field(1, 2, b"double") + field(2, 0, 1) + field(3, 0, 4242)
                      + field(4, 2, b"0.1") + field(5, 2, b"test-transform") + field(6, 0, 1)),
    "ready": envelope(2, field(1, 0, 8) + field(2, 0, 4)),
    "heartbeat": envelope(3, field(1, 0, 17) + field(2, 2, b"ready") + field(3, 2, b"r1")
                          + field(3, 2, b"r2") + field(4, 0, 2) + field(8, 0, 8)
                          + field(10, 2, field(1, 0, 100) + field(7, 0, 3))
                          + field(11, 2, varint(5) + varint(0) + varint(9))),
    "lost": envelope(7, field(1, 2, b"double.0") + field(2, 2, b"r7")),
    "fault": envelope(6, field(1, 2, b"init") + field(2, 2, b"cannot open 'x'") + field(3, 0, 2**64 - 3)),
}

for name, seeds in (("fuzz_edge", edge), ("fuzz_control", control)):
    d = os.path.join(here, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k + ".bin"), "wb") as f:
            f.write(v)
