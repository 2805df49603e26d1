#!/usr/bin/env bash
# A real Slurm (Debian's slurmctld, slurmd, munge, started here) with two nodes, each a network
# namespace with its own address on a bridge; `gotflow deploy slurm` writes the job for the
# two-host GoT-R1 CPU graph with the demo model, sbatch runs it over both nodes. 50 requests are
# answered once each; then scancel under load drains both hosts (exit 0) and every request sent
# gets exactly one answer (a result, or EDRAINING for those that came after the drain began).
# Installs slurm-wlm and munge when missing; skips with one line where it cannot start them.
. "$(dirname "$0")/lib.sh"
[ -f "$top/models/got-r1-demo/config.json" ] || skip "models/got-r1-demo is not here"
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends \
        $(cat "$top/tools/deploy/slurm-test-packages") >"$work/apt.log" 2>&1 ||
        skip "cannot install slurm-wlm and munge (apt-get)"
fi
tag=$((RANDOM % 900 + 100))
net=10.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)) br=gfbr$tag
w=/tmp/gfsl$tag
mkdir -p "$w"
teardown() {
    local rc=$? pids=""
    set +e
    for f in "$w/ctl.pid" "$w"/slurmd-gfn*.pid "$w/munge/pid"; do [ -f "$f" ] && pids="$pids $(cat "$f")"; done
    for p in $pids; do kill "$p" 2>/dev/null; done
    sleep 2
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    for i in 1 2; do ip netns del gfs$tag-$i 2>/dev/null; done
    ip link del "$br" 2>/dev/null
    rm -rf "$w"
    cleanup
    exit $rc
}
trap teardown EXIT
ip link add "$br" type bridge 2>/dev/null || skip "cannot make network namespaces and bridges here (needs privilege)"
ip addr add "$net.254/24" dev "$br" && ip link set "$br" up
for i in 1 2; do
    ip netns add gfs$tag-$i
    ip link add gfv$tag$i type veth peer name gfp$tag$i
    ip link set gfp$tag$i netns gfs$tag-$i
    ip link set gfv$tag$i master "$br" && ip link set gfv$tag$i up
    ip -n gfs$tag-$i addr add "$net.$i/24" dev gfp$tag$i
    ip -n gfs$tag-$i link set gfp$tag$i up && ip -n gfs$tag-$i link set lo up
done
mkdir -p "$w/munge" "$w/spool/gfn1" "$w/spool/gfn2" "$w/state" && chmod 700 "$w/munge"
head -c 1024 /dev/urandom >"$w/munge/key" && chmod 600 "$w/munge/key"
munged --socket="$w/munge/sock" --key-file="$w/munge/key" --pid-file="$w/munge/pid" \
    --log-file="$w/munge/log" --seed-file="$w/munge/seed" -f || skip "munged does not start here"
cat >"$w/slurm.conf" <<C
ClusterName=gftest
SlurmctldHost=$(hostname -s)($net.254)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$w/munge/sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/linear
StateSaveLocation=$w/state
SlurmdSpoolDir=$w/spool/%n
SlurmctldPidFile=$w/ctl.pid
SlurmdPidFile=$w/slurmd-%n.pid
SlurmctldLogFile=$w/ctl.log
SlurmdLogFile=$w/slurmd-%n.log
SlurmctldPort=$((16000 + tag * 2))
SlurmdPort=$((16001 + tag * 2))
KillWait=60
ReturnToService=2
MailProg=/bin/true
MpiDefault=none
NodeName=gfn1 NodeAddr=$net.1 NodeHostname=gfn1 CPUs=2 State=UNKNOWN
NodeName=gfn2 NodeAddr=$net.2 NodeHostname=gfn2 CPUs=2 State=UNKNOWN
PartitionName=gf Nodes=gfn1,gfn2 Default=YES MaxTime=INFINITE State=UP
C
printf 'CgroupPlugin=cgroup/v1\nIgnoreSystemd=yes\nCgroupAutomount=no\n' >"$w/cgroup.conf"
export SLURM_CONF=$w/slurm.conf
slurmctld -i || skip "slurmctld does not start here: $(tail -n 1 "$w/ctl.log" 2>/dev/null)"
for i in 1 2; do ip netns exec gfs$tag-$i env SLURM_CONF="$SLURM_CONF" slurmd -N gfn$i; done
for t in $(seq 30); do sinfo -h -o %t 2>/dev/null | grep -q idle && [ "$(sinfo -h -N -t idle | wc -l)" = 2 ] && break; sleep 1; done
[ "$(sinfo -h -N -t idle 2>/dev/null | wc -l)" = 2 ] || skip "slurmd does not start here: $(tail -n 1 "$w/slurmd-gfn1.log" 2>/dev/null)"

cd "$top"
gotflow deploy slurm pipelines/deploy-two-hosts.yaml --out "$w/job.sh" --job-dir "$w/j" --sbatch=--output="$w/job.out"
grep -q -- '--ntasks-per-node=1' "$w/job.sh" || fail "the script does not run one task per node"
job=$(GOTFLOW=$build/bin/gotflow sbatch --parsable --export=ALL "$w/job.sh")
for t in $(seq 60); do [ -f "$w/j/endpoint" ] && [ -d "$w/j/b" ] && break; sleep 1; done
gotflow status "$w/j/a" --wait-ready --timeout 60 >/dev/null || fail "host a not ready: $(cat "$w/job.out")"
gotflow status "$w/j/b" --wait-ready --timeout 60 >/dev/null || fail "host b not ready: $(cat "$w/job.out")"
[ "$(stat -c %a "$w/j/keys/a.key")" = 600 ] && [ "$(stat -c %a "$w/j")" = 700 ] || fail "the job's keys are not the owner's only"
grep -q "address: $net.1" "$w/j/graph.yaml" && grep -q "address: $net.2" "$w/j/graph.yaml" || fail "addresses not from the nodes"
export GOTFLOW_KEY_FILE=$w/j/keys/a.key
mkreq() { $PY -c "
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({'id': '%s%d' % (sys.argv[2], i), 'text': 'a red circle to the left of a blue square', 'params': {'seed': i}}))" "$@"; }
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
    fail "a supervisor did not drain to exit 0: $(cat "$w/job.out")"
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
