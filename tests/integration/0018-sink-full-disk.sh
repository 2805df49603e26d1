#!/usr/bin/env bash
# Nothing is reported that was not done: the sink writes each result to its `out:` folder
# (temporary file, fsync, rename, fsync of the folder) before it answers. On a full file system
# every answer is either a result whose file holds exactly that result, or an error naming the
# path and the cause; no empty, partial or temporary file is left, the sink counts each failure
# in its errors, and once space is freed it answers again. On a read-only file system, the
# same, and a folder that cannot be created is reported the same way.
. "$(dirname "$0")/lib.sh"
mnt=$work/disk
mkdir -p "$mnt"
mount -t tmpfs -o size=64k gftest-sink "$mnt" 2>/dev/null || skip "cannot mount a tmpfs here (not permitted)"
umount_disk() { umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true; cleanup; }
trap umount_disk EXIT
out=$mnt/results
cat >"$work/p.yaml" <<YAML
name: sinkdisk
stages:
  a: {kind: test-transform, params: {add: 1}}
  sink: {kind: sink, out: "$out"}
YAML
start_pipeline "$work/p.yaml"
pad=$($PY -c 'print("p" * 6000)')

# submit PREFIX N: N requests with ids PREFIX0.. and a 6 kB payload; answers in $work/PREFIX.jsonl
submit() {
    $PY - "$1" "$2" "$pad" >"$work/$1.req" <<'PY'
import json, sys
for i in range(int(sys.argv[2])):
    print(json.dumps({"id": "%s%d" % (sys.argv[1], i), "x": i, "pad": sys.argv[3]}))
PY
    set +e
    gotflow submit "$work/p.yaml" "$work/$1.req" --timeout 20 >"$work/$1.jsonl"
    set -e
    [ "$(wc -l <"$work/$1.jsonl")" = "$2" ] || fail "$1: $(wc -l <"$work/$1.jsonl") answers for $2 requests"
}

# check PREFIX WANT_RESULTS ERRNO_TEXT: every answer of PREFIX is a result whose file holds exactly
# it, or an error naming its path (or the folder) and ERRNO_TEXT; WANT_RESULTS: all, some or none.
# Prints the number of error answers.
check() {
    $PY - "$work/$1.jsonl" "$out" "$2" "$3" <<'PY'
import json, os, sys
answers, out, want, cause = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
results = errors = 0
for line in open(answers):
    a = json.loads(line)
    path = os.path.join(out, a["id"] + ".json")
    if a["kind"] == "result":
        results += 1
        assert a["x"] == int(a["id"].lstrip("abcdefghijklmnopqrstuvwxyz")) + 1, a["x"]
        with open(path) as f:
            on_disk = json.load(f)
        assert on_disk == a, "%s holds something other than its result" % path
    else:
        assert a["kind"] == "error", a
        errors += 1
        assert a["stage"] == "sink", a
        assert cause in a["message"], a["message"]
        assert path in a["message"] or ("'%s'" % out) in a["message"], a["message"]
        assert not os.path.exists(path), "%s exists but its request got an error" % path
if want == "all":
    assert errors == 0, "%d errors" % errors
elif want == "none":
    assert results == 0, "%d results" % results
else:
    assert results > 0 and errors > 0, (results, errors)
if os.path.isdir(out):
    for name in os.listdir(out):
        p = os.path.join(out, name)
        assert name.endswith(".json") and ".tmp" not in name, "stray file %s" % p
        assert os.path.getsize(p) > 0, "empty file %s" % p
        json.load(open(p))  # complete
print(errors)
PY
}

# sink_errors: the sink's errors counter, once the heartbeats have caught up with WANT
sink_errors() {
    local n
    for _ in $(seq 50); do
        n=$(status_json "$work/p.yaml" | $PY -c '
import json, sys
print(sum(r["errors"] for r in json.load(sys.stdin)["replicas"] if r["stage"] == "sink"))')
        [ "$n" = "$1" ] && break
        sleep 0.2
    done
    echo "$n"
}

# 1. a full disk: some results fit, the rest are refused with ENOSPC
submit f 30
e1=$(check f some "No space left on device") || fail "full disk: answers do not match the files"
grep -q '"code":"ENOSPC"' "$work/f.jsonl" || fail "no ENOSPC code: $(grep -m1 error "$work/f.jsonl")"
[ "$(sink_errors "$e1")" = "$e1" ] || fail "sink errors counter $(sink_errors "$e1") != $e1 error answers"
echo "full disk: $((30 - e1)) results, $e1 errors"

# 2. space freed: it kept serving
rm -f "$out"/*.json
submit g 5
check g all "-" >/dev/null || fail "after freeing space, not every request got its result"

# 3. read-only: nothing can be written, nothing is reported as written
mount -o remount,ro "$mnt"
submit r 3
e3=$(check r none "Read-only file system") || fail "read-only: answers do not match"
grep -q '"code":"EROFS"' "$work/r.jsonl" || fail "no EROFS code"

# 4. the folder itself cannot be made
mount -o remount,rw "$mnt"
rm -rf "$out"
mount -o remount,ro "$mnt"
submit m 2
e4=$(check m none "Read-only file system") || fail "missing folder: answers do not match"
grep -q "cannot create '$out'" "$work/m.jsonl" || fail "the folder is not named: $(head -1 "$work/m.jsonl")"
total=$((e1 + e3 + e4))
[ "$(sink_errors "$total")" = "$total" ] || fail "sink errors counter != $total"
grep -q "No space left on device" "$GOTFLOW_RUN_ROOT/sinkdisk/sink.0.log" || fail "the failure is not logged"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"
