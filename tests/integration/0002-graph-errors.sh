#!/usr/bin/env bash
# Every class of graph error is reported as FILE:LINE:COLUMN: MESSAGE by `gotflow check`, and
# `gotflow run` refuses the file with exit status 2 without starting anything.
. "$(dirname "$0")/lib.sh"
n=0
for f in "$top"/tests/graphs/bad-*.yaml; do
    expect=$(head -n 1 "$f" | sed -n 's/^# expect: //p')
    [ -n "$expect" ] || fail "$f has no '# expect:' line"
    pos=${expect%% *}
    msg=${expect#* }
    set +e
    out=$(gotflow check "$f" 2>&1)
    rc=$?
    set -e
    [ $rc = 1 ] || fail "gotflow check $f: exit $rc, wanted 1"
    echo "$out" | grep -qF "$f:$pos: $msg" || fail "gotflow check $f: no '$f:$pos: $msg' in:
$out"
    set +e
    gotflow run "$f" --run-dir "$work/never" >"$work/run.out" 2>&1
    rc=$?
    set -e
    [ $rc = 2 ] || fail "gotflow run $f: exit $rc, wanted 2"
    grep -qF "$f:$pos: $msg" "$work/run.out" || fail "gotflow run $f did not report '$pos: $msg'"
    [ ! -e "$work/never" ] || fail "gotflow run $f made a run directory"
    n=$((n + 1))
done
echo "$n bad graphs rejected with the right position"
gotflow check "$top"/tests/graphs/long-form.yaml "$top"/tests/graphs/short-form.yaml \
    "$top"/tests/graphs/plaintext-hosts.yaml

# Files built to exhaust the YAML reader are refused at once, at the node that passes the bound,
# and nothing is started. A million flow sequences deep (2 MB, under the 4 MiB file cap):
python3 -c 'import sys; n = 1000000; sys.stdout.write("stages: " + "[" * n + "]" * n + "\n")' \
    >"$work/deep.yaml"
# "billion laughs": nine levels of ten aliases each would stand for 10^9 nodes
{
    echo "stages: [reason]"
    echo "l0: &l0 [a, a, a, a, a, a, a, a, a, a]"
    for i in 1 2 3 4 5 6 7 8 9; do
        p="*l$((i - 1))"
        echo "l$i: &l$i [$p, $p, $p, $p, $p, $p, $p, $p, $p, $p]"
    done
} >"$work/laughs.yaml"
for case in "deep.yaml 1:72: nesting deeper than 64" \
    "laughs.yaml 6:45: more than 100000 YAML nodes"; do
    f="$work/${case%% *}"
    want="$f:${case#* }"
    set +e
    out=$(timeout 5 gotflow check "$f" 2>&1)
    rc=$?
    set -e
    [ $rc = 1 ] || fail "gotflow check $f: exit $rc, wanted 1 (124: still reading after 5 s)"
    echo "$out" | grep -qF "$want" || fail "gotflow check $f: no '$want' in:
$out"
    set +e
    timeout 5 gotflow run "$f" --run-dir "$work/never" >"$work/run.out" 2>&1
    rc=$?
    set -e
    [ $rc = 2 ] || fail "gotflow run $f: exit $rc, wanted 2"
    grep -qF "$want" "$work/run.out" || fail "gotflow run $f did not report '$want'"
    [ ! -e "$work/never" ] || fail "gotflow run $f made a run directory"
done
echo "a 1,000,000-deep file and a billion-laughs file refused at once"
