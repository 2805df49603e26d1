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
