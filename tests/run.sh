#!/usr/bin/env bash
# Runs every suite and ends with one line "N passed, N failed".
#
#   unit        build/tests/unit/test_*      (cmocka; each test case counts)
#   oracle      build/tests/oracle/test_*    (cmocka against committed goldens)
#   integration tests/integration/NNNN-*.sh  (real processes and sockets; exit 77 = skipped)
#
# tests/run.sh [PATTERN]   runs only the tests whose file name contains PATTERN.
# GOTFLOW_BUILD=DIR          tests the build in DIR (default build; `make asan` uses build/asan).
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
pattern=${1:-}
pass=0 fail=0 skip=0
failed=()
build=${GOTFLOW_BUILD:-build}
export GOTFLOW_BUILD=$build
log_dir=$top/$build/test-logs
mkdir -p "$log_dir"
export GOTFLOW_BIN=$top/$build/bin
export GOTFLOW_STAGE_PATH=$top/$build/bin:$top/$build/test-bin
export PATH=$top/$build/bin:$PATH

run_cmocka() {
    local bin=$1 name out
    name=$(basename "$bin")
    out=$log_dir/$name.log
    CMOCKA_MESSAGE_OUTPUT=TAP "$bin" >"$out" 2>&1
    local rc=$? p f
    p=$(grep -c '^ok ' "$out")
    f=$(grep -c '^not ok ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)) fail=$((fail + f))
    printf '%-44s %3d passed %3d failed\n' "$name" "$p" "$f"
    [ "$f" -gt 0 ] && failed+=("$name (see $out)")
}

for suite in unit oracle; do
    for bin in "$build"/tests/$suite/test_*; do
        [ -x "$bin" ] || continue
        case $(basename "$bin") in *"$pattern"*) ;; *) continue ;; esac
        run_cmocka "$bin"
    done
done

for t in tests/integration/[0-9]*.sh; do
    [ -f "$t" ] || continue
    case $(basename "$t") in *"$pattern"*) ;; *) continue ;; esac
    name=$(basename "$t" .sh)
    out=$log_dir/$name.log
    start=$(date +%s)
    timeout 900 bash "$t" >"$out" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1)); printf '%-44s ok (%ds)\n' "$name" "$secs"
    elif [ $rc -eq 77 ]; then
        skip=$((skip + 1)); printf '%-44s skipped: %s\n' "$name" "$(tail -n 1 "$out")"
    else
        fail=$((fail + 1)); failed+=("$name (see $out)")
        printf '%-44s FAILED (%ds)\n' "$name" "$secs"; tail -n 20 "$out" | sed 's/^/    /'
    fi
done

for f in "${failed[@]}"; do echo "failed: $f"; done
[ $skip -gt 0 ] && echo "$skip skipped"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
