"""answers.py — reading `gotflow submit --max-bin -1` answers in the integration tests."""
import base64
import json
import struct


def load(path):
    """The answers of a JSON-lines file, by request id."""
    return {json.loads(line)["id"]: json.loads(line) for line in open(path)}


def ids(t):
    """An int32 tensor of an answer ({"data": {"$bin": base64}}) as a list."""
    b = base64.b64decode(t["data"]["$bin"])
    return list(struct.unpack("<%di" % (len(b) // 4), b))
