#!/usr/bin/env bash
# The official `openai` Python client (PyPI, in a virtualenv under build/) generates through
# `gotflow serve` on the demo model: b64_json and streaming. The PNG bytes, the reasoning chain
# and the layout score (carried by the vq stage) equal what `gotflow generate` writes for the
# same seed and parameters; the stream carries the chain as written, each layout object,
# image-token progress, the picture, then the final object.
. "$(dirname "$0")/lib.sh"
cd "$top"
venv=$build/venv-test
if ! "$venv/bin/python" -c 'import openai' 2>/dev/null; then
    python3 -m venv "$venv" >/dev/null 2>&1 || skip "cannot make a virtualenv (python3-venv)"
    timeout 300 "$venv/bin/pip" install -q openai >"$work/pip.log" 2>&1 ||
        skip "pip cannot install openai from PyPI: $(tail -1 "$work/pip.log")"
fi
gotflow serve pipelines/got-r1-cpu.yaml --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 300); do
    url=$(grep -o 'http://[^ ]*' "$work/serve.out" 2>/dev/null || true)
    [ -n "$url" ] && break
    kill -0 $serve_pid 2>/dev/null || fail "serve exited: $(cat "$work/serve.err")"
    sleep 0.1
done
[ -n "$url" ] || fail "serve printed no URL"
prompt="a red circle to the left of a blue square"
gotflow generate "$prompt" --seed 7 --cfg-weight 3 --out "$work/out" --id ref --json >"$work/ref.json" ||
    fail "gotflow generate failed"
"$venv/bin/python" - "$url" "$prompt" "$work/out/ref" <<'PY'
import base64, json, sys
from openai import OpenAI

url, prompt, ref = sys.argv[1:]
png = open(ref + "/image_0.png", "rb").read()
chain = open(ref + "/reasoning.txt").read()
client = OpenAI(base_url=url + "v1", api_key="unused-on-loopback")

r = client.images.generate(prompt=prompt, response_format="b64_json",
                           extra_body={"seed": 7, "cfg_weight": 3})
assert len(r.data) == 1, r
assert base64.b64decode(r.data[0].b64_json) == png, "b64_json: not gotflow generate's PNG"
extra = r.model_extra or {}
assert extra.get("reasoning") == chain, "the response's reasoning is not the chain"
assert extra["layout"]["objects"], "no layout objects"
assert extra["metadata"]["params"]["seed"] == 7 and extra["metadata"]["params"]["cfg_weight"] == 3
meta = json.load(open(ref + "/meta.json"))
assert extra["metadata"]["score"] == meta["score"], "the response's score is not meta.json's"
print("b64_json: the same PNG and chain as gotflow generate")

models = client.models.list()
assert [m.id for m in models.data] == ["got-r1-demo"], models

events = list(client.images.generate(prompt=prompt, stream=True,
                                     extra_body={"seed": 7, "cfg_weight": 3}))
types = [e.type for e in events]
text = "".join(e.delta for e in events if e.type == "reasoning.delta")
assert text == chain, "the streamed chain is not the chain: %r" % text
objs = [(e.phrase, e.box) for e in events if e.type == "layout.object"]
assert objs == [(o["phrase"], o["box"]) for o in extra["layout"]["objects"]], objs
assert "image_generation.progress" in types, types
done = [e for e in events if e.type == "image_generation.completed"]
assert len(done) == 1 and base64.b64decode(done[0].b64_json) == png, "streamed picture differs"
assert types[-1] == "response.completed", types[-5:]
# order: the chain and its objects before the progress, the picture before the final object
assert types.index("layout.object") < types.index("image_generation.progress") \
    < types.index("image_generation.completed")
print("stream: %d events, %d chain deltas, %d objects, the same PNG" %
      (len(events), types.count("reasoning.delta"), len(objs)))
PY
# curl -N sees the same stream as it comes
curl -sN "${url}v1/images/generations" -d "{\"prompt\": \"$prompt\", \"seed\": 7, \"stream\": true}" >"$work/sse.txt"
grep -q '^data: {"type":"reasoning.delta"' "$work/sse.txt" || fail "curl: no reasoning events"
[ "$(tail -n 2 "$work/sse.txt" | head -1)" = "data: [DONE]" ] || fail "curl: the stream does not end with [DONE]"
kill -TERM $serve_pid
wait $serve_pid || fail "serve exited $? on SIGTERM"
echo "openai client: b64_json and streaming equal gotflow generate"
