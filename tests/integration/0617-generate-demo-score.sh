#!/usr/bin/env bash
# On the demo model the vq stage scores each picture from its pixels and carries `scores` (one
# per picture) in the answer; gotflow generate writes the carried score of image 0 into
# meta.json. With the vq stage's `score: 0` the answer carries none and generate scores the PNG
# itself: the same request gives the same picture and the same score either way.
. "$(dirname "$0")/lib.sh"
demo=$top/models/got-r1-demo
[ -f "$demo/model.safetensors" ] || skip "no demo model in models/got-r1-demo"
cd "$top"
prompt="a red circle to the left of a blue square"
graph() { # graph NAME [VQ_PARAMS]: the CPU graph on the demo model
    sed -e "s|^model:.*|model: \"$demo\"|" -e "s|^name:.*|name: $1|" pipelines/got-r1-cpu.yaml \
        >"$work/$1.yaml"
    [ -z "${2:-}" ] || sed -i "s|vq: {kind: vq, batch: 4}|vq: {kind: vq, batch: 4, params: {$2}}|" "$work/$1.yaml"
}
run() { # run GRAPH ID: generate 2 pictures, and the same request through submit (the answer)
    gotflow generate "$prompt" --pipeline "$work/$1.yaml" --out "$work/out" --id "$2" --seed 5 \
        --parallel 2 --json >"$work/$2.json" 2>"$work/$2.err" ||
        fail "generate $2 failed: $(tail -3 "$work/$2.err")"
    echo "{\"id\": \"$2-answer\", \"text\": \"$prompt\", \"params\": {\"seed\": 5, \"parallel_size\": 2}}" |
        gotflow submit "$work/$1.yaml" --max-bin 0 >"$work/$2.jsonl" || fail "submit $2 failed"
}
graph carried
start_pipeline "$work/carried.yaml"
run carried carried
stop_pipeline
graph png "score: 0"
start_pipeline "$work/png.yaml"
run png png
stop_pipeline
$PY - "$work" <<'PY'
import json, sys
w = sys.argv[1]
meta = {k: json.load(open("%s/out/%s/meta.json" % (w, k))) for k in ("carried", "png")}
ans = {k: json.loads(open("%s/%s.jsonl" % (w, k)).readline()) for k in ("carried", "png")}
for k in ("carried", "png"):
    assert ans[k]["kind"] == "result", ans[k]
    assert open("%s/out/carried/image_0.png" % w, "rb").read() == \
        open("%s/out/%s/image_0.png" % (w, k), "rb").read(), "the pictures differ"
scores = ans["carried"].get("scores")
assert isinstance(scores, list) and len(scores) == 2, "no 'scores' for 2 pictures: %r" % scores
assert all(s and {"objects", "prompt_objects", "relations", "mean_iou"} <= set(s) for s in scores)
assert scores[0]["objects"] and any(o["found"] for o in scores[0]["objects"]), scores[0]
assert "scores" not in ans["png"], "score: 0 still carried scores"
assert meta["carried"]["score"] == scores[0], "meta.json's score is not the carried one"
assert meta["png"]["score"] == meta["carried"]["score"], \
    "scored from the PNG: %s\ncarried: %s" % (meta["png"]["score"], meta["carried"]["score"])
print("carried score == meta.json score == the score of the PNG; mean IoU %.3f, %d objects"
      % (scores[0]["mean_iou"], len(scores[0]["objects"])))
PY
