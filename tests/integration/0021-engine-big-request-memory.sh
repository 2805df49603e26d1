#!/usr/bin/env bash
# One 30 MB request through a pipeline of test-transform stages: afterwards every process it
# passed through gives the memory back (resident size near where it started), instead of holding
# two or three copies of the frame for ever.
. "$(dirname "$0")/lib.sh"
case "${GOTFLOW_BUILD:-build}" in
*asan*) skip "AddressSanitizer's allocator keeps freed memory in quarantine: resident sizes say nothing" ;;
esac
cat >"$work/p.yaml" <<'YAML'
name: big
supervisor: {heartbeat_ms: 100}
stages:
  gateway: {kind: gateway}
  a: {kind: test-transform, params: {add: 1}}
  b: {kind: test-transform, params: {mul: 2}}
  sink: {kind: sink}
YAML
start_pipeline "$work/p.yaml"
run_dir=$GOTFLOW_RUN_ROOT/big
rss() { awk '/^VmRSS/ {print $2}' /proc/"$(cat "$run_dir/$1.pid")"/status; }
reps="gateway.0 a.0 b.0 sink.0"
declare -A base
for r in $reps; do base[$r]=$(rss $r); done
$PY -c "import sys; sys.stdout.write('{\"id\": \"big\", \"x\": 1, \"blob\": \"' + 'y' * (30 << 20) + '\"}\n')" >"$work/big.jsonl"
gotflow submit "$work/p.yaml" "$work/big.jsonl" --timeout 30 >"$work/out.jsonl" || { tail -5 "$run_dir"/*.log "$work/supervisor.log"; fail "submit"; }
grep -q '"id":"big"' "$work/out.jsonl" || fail "no answer to the big request"
sleep 1 # a few heartbeats: the stages trim when nothing is held
worst=0
for r in $reps; do
    grew=$((($(rss $r) - ${base[$r]}) / 1024))
    echo "$r: ${base[$r]} kB at the start, grew by $grew MB"
    [ $grew -gt $worst ] && worst=$grew
done
[ $worst -lt 30 ] || fail "a process holds $worst MB more after one 30 MB request"
stop_pipeline
