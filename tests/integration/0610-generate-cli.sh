#!/usr/bin/env bash
# gotflow generate end to end on the pipeline that exists today (pipelines/layout.yaml: the
# request's text is parsed as a reasoning chain): it starts the pipeline, writes reasoning.txt,
# layout.json, layout.png and meta.json, says which files it could not write, stops the
# pipeline it started, and uses a running one when there is one.
. "$(dirname "$0")/lib.sh"
chain=$(cat "$top/tests/data/reasoning-1B.txt")
cd "$top"
gotflow generate "$chain" --pipeline pipelines/layout.yaml --out "$work/out" --id first \
    --seed 11 --cfg-weight 4.5 --parallel 2 >"$work/gen.txt" 2>&1 || fail "generate failed: $(cat "$work/gen.txt")"
d=$work/out/first
for f in reasoning.txt layout.json layout.png meta.json; do
    [ -s "$d/$f" ] || fail "no $f"
done
grep -q "not written: image_0.png" "$work/gen.txt" || fail "missing images not reported"
cmp -s "$d/reasoning.txt" "$top/tests/data/reasoning-1B.txt" || fail "reasoning.txt differs"
$PY - "$d" <<'PY'
import json, sys
d = sys.argv[1]
meta = json.load(open(d + "/meta.json"))
assert meta["id"] == "first" and meta["params"]["seed"] == 11, meta
assert meta["params"]["cfg_weight"] == 4.5 and meta["params"]["parallel"] == 2, meta
assert "layout" in meta["timings_ms"] and meta["gotflow_version"], meta
lay = json.load(open(d + "/layout.json"))
assert [o["phrase"] for o in lay["objects"]][:2] == ["vibrant red tulip bouquet", "yellow vase"], lay
assert open(d + "/layout.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
PY
sleep 0.5
gotflow status pipelines/layout.yaml >/dev/null 2>&1 && fail "the pipeline it started is still running"

# a running pipeline is used, and left running
gotflow run pipelines/layout.yaml >"$work/sup.log" 2>&1 &
sup_pid=$!
gotflow status pipelines/layout.yaml --wait-ready --timeout 20 >/dev/null
gotflow generate "$chain" --pipeline pipelines/layout.yaml --out "$work/out" --id second --json \
    >"$work/gen2.json" || fail "generate on a running pipeline failed"
jq -e '.dir and (.files | index("layout.json"))' "$work/gen2.json" >/dev/null || fail "bad --json: $(cat "$work/gen2.json")"
grep -q "starting pipeline" "$work/gen2.json" && fail "started a second pipeline"
gotflow status pipelines/layout.yaml >/dev/null || fail "the running pipeline was stopped"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"

# a full disk: what cannot be written is named with its path and the cause, exit status 1, and
# no partial or temporary file is left (each file is written whole and renamed into place)
disk=$work/disk
mkdir -p "$disk"
if mount -t tmpfs -o size=8k gftest-gen "$disk" 2>/dev/null; then
    set +e
    gotflow generate "$chain" --pipeline pipelines/layout.yaml --out "$disk" --id full \
        >"$work/full.txt" 2>&1
    rc=$?
    set -e
    cat "$work/full.txt"
    umount_ok() { umount "$disk" 2>/dev/null || umount -l "$disk"; }
    [ $rc = 1 ] || { umount_ok; fail "exit status $rc on a full disk: $(cat "$work/full.txt")"; }
    grep -q "cannot write '$disk/full/.*': No space left on device" "$work/full.txt" ||
        { umount_ok; fail "the failure is not named: $(cat "$work/full.txt")"; }
    bad=$(find "$disk" -type f \( -name '*.tmp-*' -o -empty \) | head -3)
    umount_ok
    [ -z "$bad" ] || fail "partial or temporary files left: $bad"
fi
