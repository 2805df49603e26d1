#!/usr/bin/env bash
# A real Slurm (Debian's slurmctld, slurmd, munge, started here) with two nodes, each a network
# namespace with its own address on a bridge; `gotflow deploy slurm` writes the job for the
# two-host GoT-R1 CPU graph with the demo model, sbatch runs it over both nodes. 50 requests are
# answered once each; then scancel under load drains both hosts (exit 0) and every request sent
# gets exactly one answer (a result, or EDRAINING for those that came after the drain began).
# The cluster: slurm.sh (skips with one line where it cannot start one).
. "$(dirname "$0")/lib.sh"
case "${GOTFLOW_BUILD:-build}" in
*asan*) skip "not under the sanitizers: the pipeline inside the Slurm job is too slow there for the test's limits" ;;
esac
. "$(dirname "$0")/slurm.sh"
slurm_start
cd "$top"
slurm_job pipelines/deploy-two-hosts.yaml "$w/j"
grep -q -- '--ntasks-per-node=1' "$w/j.sh" || fail "the script does not run one task per node"
[ "$(stat -c %a "$w/j/keys/a.key")" = 600 ] && [ "$(stat -c %a "$w/j")" = 700 ] || fail "the job's keys are not the owner's only"
grep -q "address: $net.1" "$w/j/graph.yaml" && grep -q "address: $net.2" "$w/j/graph.yaml" || fail "addresses not from the nodes"
export GOTFLOW_KEY_FILE=$w/j/keys/a.key
mkreq 50 s >"$w/req1.jsonl"
gotflow submit "$w/j/a" "$w/req1.jsonl" --window 50 --timeout 300 --max-bin 0 >"$w/out1.jsonl" || fail "submit failed"
$PY - "$w/out1.jsonl" <<'PY'
import json, sys, collections
c = collections.Counter()
for l in open(sys.argv[1]):
    r = json.loads(l); assert r["kind"] == "result", r; c[r["id"]] += 1
assert len(c) == 50 and max(c.values()) == 1, c
print("50 requests answered once each over two Slurm nodes")
PY
# scancel under load: both hosts drain
mkreq 60 d >"$w/req2.jsonl"
set +e
gotflow submit "$w/j/a" "$w/req2.jsonl" --window 60 --timeout 300 --max-bin 0 >"$w/out2.jsonl" 2>"$w/sub2.err" &
sub=$!
sleep 4
scancel "$job"
wait $sub
set -e
for t in $(seq 90); do [ -f "$w/j/a.exit" ] && [ -f "$w/j/b.exit" ] && break; sleep 1; done
[ "$(cat "$w/j/a.exit" 2>/dev/null)" = 0 ] && [ "$(cat "$w/j/b.exit" 2>/dev/null)" = 0 ] ||
    fail "a supervisor did not drain to exit 0: $(cat "$w/j.out")"
$PY - "$w/out2.jsonl" <<'PY'
import json, sys, collections
c, kinds = collections.Counter(), collections.Counter()
for l in open(sys.argv[1]):
    r = json.loads(l); c[r["id"]] += 1
    kinds["result" if r["kind"] == "result" else "draining"] += 1
    assert r["kind"] == "result" or "drain" in json.dumps(r).lower() or "stopping" in json.dumps(r), r
assert len(c) == 60 and max(c.values()) == 1, (len(c), c)
print("scancel under load: all 60 answered once:", dict(kinds))
PY
