#!/usr/bin/env bash
# One supervisor per run directory: a second `gotflow run` of a running pipeline is refused with
# exit status 1 and leaves the running one alone (its supervisor.pid stays; status and --stop
# still reach it); a third is refused the same way; once it has stopped, the pipeline starts again.
. "$(dirname "$0")/lib.sh"
cat >"$work/p.yaml" <<'YAML'
name: one-supervisor
stages:
  gateway: {kind: gateway}
  a: {kind: test-transform, params: {add: 1}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
run_dir=$GOTFLOW_RUN_ROOT/one-supervisor
first=$(cat "$run_dir/supervisor.pid")
[ "$first" = "$sup_pid" ] || fail "supervisor.pid says $first, the supervisor is $sup_pid"
for attempt in second third; do
    set +e
    gotflow run "$work/p.yaml" >"$work/$attempt.log" 2>&1
    rc=$?
    set -e
    [ $rc = 1 ] || fail "the $attempt run: exit $rc, wanted 1: $(cat "$work/$attempt.log")"
    grep -q "is already running in '$run_dir' (supervisor pid $first)" "$work/$attempt.log" ||
        fail "the $attempt run does not say why: $(cat "$work/$attempt.log")"
    [ "$(cat "$run_dir/supervisor.pid" 2>/dev/null)" = "$first" ] ||
        fail "the $attempt run touched supervisor.pid"
    gotflow status "$work/p.yaml" >/dev/null || fail "status lost the pipeline after the $attempt run"
done
echo '{"id": "r1", "x": 1}' | gotflow submit "$work/p.yaml" | grep -q '"x":2' ||
    fail "the pipeline does not serve after the refused runs"
gotflow status "$work/p.yaml" --stop >/dev/null || fail "--stop failed"
set +e
wait "$sup_pid"
rc=$?
set -e
[ $rc = 0 ] || fail "the supervisor stopped with $rc"
[ ! -e "$run_dir/supervisor.pid" ] || fail "supervisor.pid left behind by the supervisor that wrote it"
start_pipeline "$work/p.yaml"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "the restarted pipeline stopped with $stop_rc"
