#!/usr/bin/env bash
# The CUDA backend on one GPU, in one go (≤ 6 minutes on one H100, the build included):
#
#   1. build the backend and the check programs (make gpu: nvcc, a C compiler and jansson)
#   2. make a tiny checkpoint and a 1B-shaped bf16 one (mkmodel)
#   3. check ops: every op on CUDA against the CPU backend, fresh random inputs, f32 mode within
#      1e-5 and bf16 mode within 1e-2
#   4. check loop: the GoT-R1 reference loop greedy on the CPU and on CUDA (f32): every token
#      identical; the VQ decode of its codes
#   5. check time: HBM copy and bf16 GEMM ceilings, then decode at batch 1, 16 CFG pairs,
#      prefill, VQ decode and one image end to end, each against its ceiling
#   6. if time is left: check ops again under compute-sanitizer (memcheck)
#
# A failing step does not stop the later ones. The whole log goes to $OUT/gpu.log (OUT defaults
# to build/gpu-out); the last line is the summary. Exit status 0 when every check passed.
# If jansson's headers are missing on the GPU machine, run tests/gpu/fetch-deps.sh where a
# package registry is reachable and bring .gpu-deps/ along.
set -u
cd "$(dirname "$0")/../.."
top=$(pwd)
OUT=${OUT:-$top/build/gpu-out}
mkdir -p "$OUT"
log=$OUT/gpu.log
BUDGET=${GPU_CHECK_BUDGET:-345} # seconds for everything, the build included
start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - start))); }
cap() { local l; l=$(left); [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }
declare -A result
step() { # step NAME CAP COMMAND...: runs COMMAND under timeout min(CAP, time left)
    local name=$1 c rc t0
    c=$(cap "$2")
    shift 2
    if [ "$c" -le 5 ]; then
        echo "== $name: skipped, the time budget is spent"
        result[$name]=skipped
        return
    fi
    echo "== $name (at most ${c}s)"
    t0=$(date +%s)
    timeout "$c" "$@"
    rc=$?
    case $rc in
    0) result[$name]=ok ;;
    124 | 137) result[$name]="timed out" ;;
    *) result[$name]="FAILED ($rc)" ;;
    esac
    echo "== $name: ${result[$name]} in $(($(date +%s) - t0))s"
}

run_all() {
    command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
    echo "== gotflow GPU check, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem \
        --format=csv,noheader 2>&1 | sed 's/^/   /'
    nvcc --version | tail -n 2 | sed 's/^/   /'

    # jansson: installed, or unpacked from .gpu-deps/ (tests/gpu/fetch-deps.sh)
    if ! echo '#include <jansson.h>' | cc -E -x c - >/dev/null 2>&1; then
        if ls .gpu-deps/*.deb >/dev/null 2>&1; then
            deps=/tmp/gotflow-gpu-deps
            for d in .gpu-deps/*.deb; do dpkg -x "$d" "$deps"; done
            inc=$deps/usr/include lib=$(dirname "$(find "$deps" -name 'libjansson.so*' | head -n 1)")
            export C_INCLUDE_PATH=$inc${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}
            export LIBRARY_PATH=$lib${LIBRARY_PATH:+:$LIBRARY_PATH}
            export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
            echo "   jansson from .gpu-deps ($lib)"
        else
            echo "   jansson.h is missing: the build will fail (see tests/gpu/fetch-deps.sh)"
        fi
    fi

    jobs=$(nproc 2>/dev/null || echo 16)
    [ "$jobs" -gt 16 ] && jobs=16
    # warnings do not stop a check build (another compiler version may warn where ours does not)
    step build 200 make -j"$jobs" NO_PROTO=1 WARN="-Wall -Wextra -Wno-unused-parameter" gpu
    tmp=$(mktemp -d /tmp/gotflow-gpu.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    step models 60 bash -c "build/gpu/mkmodel --out '$tmp/tiny' --vq-ch 32 >/dev/null &&
        build/gpu/mkmodel --out '$tmp/1b' --size 1b --dtype bf16 --vq-ch 128 >/dev/null"
    step ops 60 build/gpu/check ops "${GPU_CHECK_SEED:-$(date +%s)}"
    step loop 90 build/gpu/check loop "$tmp/tiny"
    step time 150 build/gpu/check time "$tmp/1b"
    if command -v compute-sanitizer >/dev/null && [ "$(left)" -gt 40 ]; then
        step memcheck 120 compute-sanitizer --tool memcheck --error-exitcode 9 \
            build/gpu/check ops 12345
    fi

    summary="gpu check:"
    bad=0
    for s in build models ops loop time memcheck; do
        [ -n "${result[$s]:-}" ] || continue
        summary="$summary $s ${result[$s]};"
        [ "${result[$s]}" = ok ] || bad=1
    done
    echo "$summary total $(($(date +%s) - start))s; log $log"
    return $bad
}

# tee: the whole log under $OUT, the same lines on the terminal (the summary last)
run_all 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
