# lib.sh — helpers for the integration tests: real supervisor, real processes, real sockets.
# Each test gets its own run root, so tests never see each other's pipelines.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$top/${GOTFLOW_BUILD:-build}
# the system tools the tests start (ip, munged, slurmd) live in sbin, which a bare PATH lacks
export PATH=$build/bin:$PATH:/usr/local/sbin:/usr/sbin:/sbin
export GOTFLOW_STAGE_PATH=$build/bin:$build/test-bin
work=$(mktemp -d /tmp/gftest.XXXXXX)
export GOTFLOW_RUN_ROOT=$work/run
sup_pid=
# Debian's interpreter, which has python3-zmq and python3-msgpack (make deps installs them)
PY=/usr/bin/python3

cleanup() {
    if [ -n "$sup_pid" ] && kill -0 "$sup_pid" 2>/dev/null; then
        kill -9 "$sup_pid" 2>/dev/null || true
    fi
    pkill -9 -f "$work" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "$*"; exit 77; }

# start_pipeline GRAPH: starts `gotflow run` in the background and waits until every replica is
# ready; sets sup_pid.
start_pipeline() {
    gotflow run "$1" >"$work/supervisor.log" 2>&1 &
    sup_pid=$!
    if ! gotflow status "$1" --wait-ready --timeout 20 >/dev/null; then
        cat "$work/supervisor.log" >&2
        fail "pipeline '$1' did not become ready"
    fi
}

# stop_pipeline: SIGTERM, wait, and return the supervisor's exit status in $stop_rc.
stop_pipeline() {
    # the exit status lands in $stop_rc (and in $work/stop_rc for a stop run in the background)
    kill -TERM "$sup_pid"
    set +e
    wait "$sup_pid"
    stop_rc=$?
    echo $stop_rc >"$work/stop_rc"
    set -e
}

# status_json GRAPH: the supervisor's status answer.
status_json() { gotflow status "$1" --json; }

# requests N [EXTRA_JSON]: N JSON request lines with ids r0.. and x = i.
requests() {
    python3 -c "
import sys
extra = sys.argv[2] if len(sys.argv) > 2 else ''
for i in range(int(sys.argv[1])):
    print('{\"id\":\"r%d\",\"x\":%d%s}' % (i, i, extra))" "$@"
}

# no_orphans RUN_DIR: every replica pid recorded there is gone.
no_orphans() {
    local left=0
    for f in "$1"/*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        if kill -0 "$p" 2>/dev/null && ! grep -q zombie /proc/"$p"/status 2>/dev/null; then
            echo "process $p ($(basename "$f" .pid)) still running" >&2
            left=1
        fi
    done
    return $left
}
