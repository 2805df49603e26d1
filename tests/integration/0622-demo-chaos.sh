#!/usr/bin/env bash
# The real GoT-R1 CPU pipeline with the shipped demo model and default delivery settings (2
# replicas of reason, imagegen and vq) while tools/bench/chaos.sh kills a random process every
# second, then every 0.3 s: every stage, the gateway, the sink and the supervisor. Every request is
# answered once, with the chain and PNG bytes of the fault-free run, and none times out. (The wall
# times it prints are for docs/performance.md; a test does not judge them.)
. "$(dirname "$0")/lib.sh"
[ -f "$top/models/got-r1-demo/config.json" ] || skip "models/got-r1-demo is not here"
# under the sanitizers every process starts and runs several times slower: fewer requests, and
# only the one-a-second kills
n=100 intervals="1 0.3"
case "${GOTFLOW_BUILD:-build}" in *asan*) n=10 intervals=1 ;; esac
# shellcheck disable=SC2086
"$top/tools/bench/chaos.sh" $n $intervals 2>&1 | tee "$work/chaos.out"
[ "${PIPESTATUS[0]}" = 0 ] || fail "chaos.sh failed"
$PY - "$work/chaos.out" "$n" "$intervals" <<'PY'
import re, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"(kill-\S+)\s+sent (\d+)\s+once (\d+)\s+twice (\d+)\s+unanswered (\d+)\s+"
                 r"wrong (\d+)\s+timeouts (\d+)\s+errors (\d+)\s+kills (\d+)", line)
    if m:
        runs[m.group(1)] = [int(x) for x in m.groups()[1:]]
n = int(sys.argv[2])
assert set(runs) == {"kill-" + i for i in sys.argv[3].split()}, runs
for name, (sent, once, twice, unanswered, wrong, timeouts, errors, kills) in runs.items():
    assert once == sent == n, (name, once)
    assert twice == unanswered == wrong == timeouts == errors == 0, (name, runs[name])
    assert kills >= 3, "%s: only %d kills, too short to judge" % (name, kills)
PY
