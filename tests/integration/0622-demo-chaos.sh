#!/usr/bin/env bash
# The real GoT-R1 CPU pipeline with the shipped demo model and default delivery settings (2
# replicas of reason, imagegen and vq) while tools/bench/chaos.sh kills a random process every
# second, then every 0.3 s: every stage, the gateway, the sink and the supervisor. Every request is
# answered once, with the chain and PNG bytes of the fault-free run, and none times out. (The wall
# times it prints are for docs/performance.md; a test does not judge them.)
. "$(dirname "$0")/lib.sh"
[ -f "$top/models/got-r1-demo/config.json" ] || skip "models/got-r1-demo is not here"
"$top/tools/bench/chaos.sh" 30 1 0.3 >"$work/chaos.out" 2>&1 || {
    cat "$work/chaos.out"
    fail "chaos.sh failed"
}
cat "$work/chaos.out"
$PY - "$work/chaos.out" <<'PY'
import re, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"(kill-\S+)\s+sent (\d+)\s+once (\d+)\s+twice (\d+)\s+unanswered (\d+)\s+"
                 r"wrong (\d+)\s+timeouts (\d+)\s+errors (\d+)\s+kills (\d+)", line)
    if m:
        runs[m.group(1)] = [int(x) for x in m.groups()[1:]]
assert set(runs) == {"kill-1", "kill-0.3"}, runs
for name, (sent, once, twice, unanswered, wrong, timeouts, errors, kills) in runs.items():
    assert once == sent == 30, (name, once)
    assert twice == unanswered == wrong == timeouts == errors == 0, (name, runs[name])
    assert kills >= 3, "%s: only %d kills, too short to judge" % (name, kills)
PY
