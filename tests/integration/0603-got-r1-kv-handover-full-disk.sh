#!/usr/bin/env bash
# The chain's KV handover (docs/model.md) off the happy path: with the run directory's kv/ on a
# full file system, the reason stage cannot write a request's file, says so, leaves no partial
# file and sends kv_cache nil; imagegen computes the chain's KV itself, and the codes are the
# reference loop's all the same. Once there is room again, the next request is handed over, with
# the reference loop's codes too, and its file is gone after it.
. "$(dirname "$0")/lib.sh"
ckpt=$work/ckpt
mkmodel --out "$ckpt" --vq-ch 0 --layers 2 --hidden 128 --intermediate 256 >/dev/null
max_tokens=24 image_size=96 patch=16
cat >"$work/p.yaml" <<YAML
name: kv-full
model: $ckpt
stages:
  gateway: {kind: gateway}
  tokenize: {kind: tokenize}
  reason: {kind: reason, params: {temperature: 0, max_tokens: $max_tokens, threads: 1}}
  layout: {kind: layout}
  imagegen: {kind: imagegen, params: {temperature: 1, cfg_weight: 5, image_size: $image_size,
                                      patch_size: $patch, threads: 1}}
  sink: {kind: sink}
edges: [gateway -> tokenize -> reason -> layout -> imagegen -> sink]
YAML
start_pipeline "$work/p.yaml"
run_dir=$(ls -d "$GOTFLOW_RUN_ROOT"/*/ | head -n 1)
kv=${run_dir%/}/kv
[ -d "$kv" ] || fail "the reason stage made no kv/ in its run directory"
mount -t tmpfs -o size=4k gftest-kv "$kv" 2>/dev/null || skip "cannot mount a tmpfs here (not permitted)"
umount_kv() { umount "$kv" 2>/dev/null || umount -l "$kv" 2>/dev/null || true; cleanup; }
trap umount_kv EXIT
ask() { # id seed: one request, its answer appended to out.jsonl
    echo "{\"id\": \"$1\", \"text\": \"a red apple on a wooden table\", \"params\": {\"seed\": $2}}" |
        gotflow submit "$work/p.yaml" --max-bin -1 --timeout 60 >>"$work/out.jsonl" ||
        fail "request $1 was not answered"
}
ask full 11
grep -h "no KV handover" "$run_dir"/reason.*.log | grep -q "request 'full'" ||
    fail "the reason stage did not say that it could not hand 'full' over"
[ -z "$(ls -A "$kv")" ] || fail "files left on the full disk: $(ls -A "$kv")"
umount "$kv"
ask after 12
grep -h "positions of KV handed over" "$run_dir"/imagegen.*.log | grep -q "request 'after'" ||
    fail "'after' was not handed over once there was room"
[ -z "$(ls -A "$kv")" ] || fail "handover files left: $(ls -A "$kv")"
ref() { # seed: the reference loop, which re-prefills the chain
    "$build"/test-bin/ref-loop "$ckpt" "a red apple on a wooden table" "$max_tokens" \
        $(((image_size / patch) ** 2)) 1 5 "$1" 0 1
}
ref 11 >"$work/ref-full.json"
ref 12 >"$work/ref-after.json"
$PY - "$work" "$(dirname "$0")" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[2])
from answers import ids, load
work = sys.argv[1]
got = load(work + "/out.jsonl")
for rid in ("full", "after"):
    r, ref = got[rid], json.load(open("%s/ref-%s.json" % (work, rid)))
    assert r["kind"] == "result", r
    assert ids(r["reasoning_ids"]) == ref["reasoning_ids"], rid
    assert ids(r["codes"]) == ref["codes"][0]["image"], rid
assert got["full"].get("kv_cache") is None, got["full"].get("kv_cache")
assert got["after"]["kv_cache"].startswith("reason.0.after."), got["after"]["kv_cache"]
print("full kv/: computed, reference codes, no file left; with room: handed over, reference codes")
PY
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
