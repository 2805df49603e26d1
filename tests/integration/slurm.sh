# slurm.sh — a real Slurm for the deploy tests (sourced after lib.sh): Debian's slurmctld and
# munge, and two slurmd, each in a network namespace with its own address on a bridge. Installs
# slurm-wlm and munge when missing; skips with one line where it cannot start them.
#
# slurm_start: sets $w (the cluster's directory, short: ipc paths live under it), $net (the
# bridge's /24: node i is $net.i), $tag, SLURM_CONF, and a teardown on exit that keeps the test's
# exit status.
slurm_start() {
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
    trap slurm_teardown EXIT
    ip link add "$br" type bridge 2>/dev/null ||
        skip "cannot make network namespaces and bridges here (needs privilege)"
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
    for t in $(seq 30); do
        [ "$(sinfo -h -N -t idle 2>/dev/null | wc -l)" = 2 ] && break
        sleep 1
    done
    [ "$(sinfo -h -N -t idle 2>/dev/null | wc -l)" = 2 ] ||
        skip "slurmd does not start here: $(tail -n 1 "$w/slurmd-gfn1.log" 2>/dev/null)"
}

slurm_teardown() {
    local rc=$? pids=""
    set +e
    for f in "$w/ctl.pid" "$w"/slurmd-gfn*.pid "$w/munge/pid"; do
        [ -f "$f" ] && pids="$pids $(cat "$f")"
    done
    for p in $pids; do kill "$p" 2>/dev/null; done
    sleep 2
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    for i in 1 2; do ip netns del gfs$tag-$i 2>/dev/null; done
    ip link del "$br" 2>/dev/null
    rm -rf "$w"
    cleanup
    exit $rc
}

# slurm_job GRAPH JOBDIR: writes the job with `gotflow deploy slurm`, submits it and waits until
# every host of the graph is ready; sets $job (its id). The job's output goes to JOBDIR.out.
slurm_job() {
    local graph=$1 dir=$2 h
    gotflow deploy slurm "$graph" --out "$dir.sh" --job-dir "$dir" --sbatch=--output="$dir.out"
    job=$(GOTFLOW=$build/bin/gotflow sbatch --parsable --export=ALL "$dir.sh")
    for t in $(seq 60); do [ -f "$dir/endpoint" ] && [ -d "$dir/b" ] && break; sleep 1; done
    for h in a b; do
        gotflow status "$dir/$h" --wait-ready --timeout 60 >/dev/null ||
            fail "host $h not ready: $(cat "$dir.out")"
    done
}

# mkreq N PREFIX: N GoT-R1 requests with ids PREFIXi and seeds i.
mkreq() {
    $PY -c "
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({'id': '%s%d' % (sys.argv[2], i), 'text': 'a red circle to the left of a blue square', 'params': {'seed': i}}))" "$@"
}
