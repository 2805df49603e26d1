#!/usr/bin/env bash
# The CUDA backend on one GPU, in one go (<= 300 s on one H200, the build included, so that one
# targeted rerun still fits in a short loan of the machine):
#
#   preflight  nvcc, libcublas beside it, jansson (installed or from .gpu-deps/), nvidia-smi and
#              a device: seconds, and a clear line for what is missing
#   build      make gpu (-Xptxas -v: registers, spills and shared memory of every kernel go to
#              $OUT/ptxas.txt); then `check probe` loads libgotflow-cuda.so and opens cuda:0
#   models     a tiny checkpoint and a 1B-shaped bf16 one (mkmodel)
#   ops        every op, CUDA against the CPU backend, one process per (mode, op group)
#   loop       the reference loop greedy on the CPU and on CUDA, with and without CUDA graphs;
#              the VQ decode
#   time       ceilings and timings of the 1B-shaped checkpoint, per-op micro-timings
#   racecheck  compute-sanitizer --tool racecheck on the shared-memory ops (if present)
#   memcheck   compute-sanitizer --tool memcheck on the ops (if present and time is left)
#
# Usage: tests/gpu/run.sh [PHASE[:SEL...]]...   e.g. `run.sh ops:bf16:attention time:decode`;
# no argument runs every phase. A selector is passed to build/gpu/check (`check list` names the
# groups and sections). preflight, build and models always run (models only when needed).
#
# Output under $OUT (default build/gpu-out): gpu.log (everything), ptxas.txt, summary.txt (the
# phase results, then every FAIL line of the log, then the summary line). A failing phase does
# not stop the later ones; the exit status is 0 only when every phase passed.
#
# Without a GPU, GOTFLOW_CHECK_BACKEND=cpu (or ref) runs the same phases with a CPU backend
# standing in for CUDA (no device preflight, no compute-sanitizer, the tiny checkpoint timed):
# the harness checking itself. GPU_CHECK_BUILD=0 skips the build (programs already under
# $GOTFLOW_BUILD, default build); GPU_CHECK_BUDGET (300) is the time budget in seconds;
# GPU_CHECK_SEED the seed of the ops' random inputs.
set -u
cd "$(dirname "$0")/../.."
top=$(pwd)
OUT=${OUT:-$top/build/gpu-out}
mkdir -p "$OUT"
log=$OUT/gpu.log
BUDGET=${GPU_CHECK_BUDGET:-300}
BUILD=${GOTFLOW_BUILD:-build}
bin=$top/$BUILD/gpu
stand_in=${GOTFLOW_CHECK_BACKEND:-}
start=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - start))); }
cap() { local l; l=$(left); [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }
declare -A result
phases=()

step() { # step NAME CAP COMMAND...: runs COMMAND under timeout min(CAP, time left); a shell
    # function (preflight, build: their settings must stay) runs as it is, with the limit in $cap_s
    local name=$1 c rc t0
    c=$(cap "$2")
    shift 2
    phases+=("$name")
    if [ "$c" -le 5 ]; then
        echo "== $name: skipped, the time budget is spent"
        result[$name]=skipped
        return
    fi
    echo "== $name (at most ${c}s, $(($(date +%s) - start))s elapsed)"
    t0=$(date +%s)
    if declare -F "$1" >/dev/null; then
        cap_s=$c "$@"
    else
        timeout -k 5 "$c" "$@"
    fi
    rc=$?
    case $rc in
    0) result[$name]=ok ;;
    124 | 137) result[$name]="FAIL timed out" ;;
    *) result[$name]="FAIL ($rc)" ;;
    esac
    echo "== $name: ${result[$name]} in $(($(date +%s) - t0))s"
}

# the phases asked for: all, or those named (with their selectors)
want() { # want PHASE: 0 when asked; sets sel to its selector words
    local a
    sel=()
    [ ${#args[@]} -eq 0 ] && return 0
    for a in "${args[@]}"; do
        if [ "${a%%:*}" = "$1" ]; then
            IFS=: read -r -a sel <<<"${a#*:}"
            [ "$a" = "$1" ] && sel=()
            return 0
        fi
    done
    return 1
}

preflight() {
    local bad=0 cuda_home lib
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
            echo "   FAIL jansson.h is missing and there is no .gpu-deps/ (run tests/gpu/fetch-deps.sh" \
                "where a package registry is reachable and bring .gpu-deps/ along)"
            bad=1
        fi
    fi
    [ -n "$stand_in" ] && { echo "   a CPU stand-in ($stand_in): no device checked"; return $bad; }
    if ! command -v nvcc >/dev/null; then
        echo "   FAIL nvcc not found (PATH, /usr/local/cuda/bin)"
        return 1
    fi
    nvcc --version | tail -n 2 | sed 's/^/   /'
    cuda_home=$(nvcc --dryrun -c -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p')
    cuda_home=$(realpath "${cuda_home:-$(dirname "$(realpath "$(command -v nvcc)")")/..}")
    lib=
    for d in "$cuda_home/lib64" "$cuda_home/targets/x86_64-linux/lib" /usr/local/cuda/lib64; do
        [ -e "$d/libcublas.so" ] && { lib=$d; break; }
    done
    if [ -n "$lib" ]; then
        echo "   libcublas in $lib"
    else
        echo "   FAIL no libcublas.so beside nvcc (under $cuda_home): make gpu cannot build the backend"
        bad=1
    fi
    if ! command -v nvidia-smi >/dev/null; then
        echo "   FAIL nvidia-smi not found: no NVIDIA driver here"
        bad=1
    elif ! nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem \
        --format=csv,noheader 2>&1 | sed 's/^/   /' | grep .; then
        echo "   FAIL nvidia-smi lists no device"
        bad=1
    fi
    return $bad
}

build() {
    local jobs
    jobs=$(nproc 2>/dev/null || echo 16)
    [ "$jobs" -gt 16 ] && jobs=16
    if [ -n "$stand_in" ]; then
        timeout -k 5 "$cap_s" make -j"$jobs" BUILD="$BUILD" "$BUILD/gpu/check" "$BUILD/gpu/mkmodel"
        return
    fi
    # warnings do not stop a check build (another compiler version may warn where ours does not)
    timeout -k 5 "$cap_s" make -j"$jobs" BUILD="$BUILD" NO_PROTO=1 WARN="-Wall -Wextra -Wno-unused-parameter" \
        NVCCFLAGS="-O3 -g -Xptxas -v" gpu 2>&1 | tee "$OUT/build.log" |
        grep -Ev '^ptxas info|^ +[0-9]+ bytes stack frame'
    local rc=${PIPESTATUS[0]}
    grep -E '^ptxas (info|warning)|bytes stack frame' "$OUT/build.log" >"$OUT/ptxas.txt"
    [ -s "$OUT/ptxas.txt" ] || echo "(no CUDA object was compiled: rm -rf $BUILD/cuobj for a" \
        "ptxas report)" >"$OUT/ptxas.txt"
    echo "   ptxas report: $(grep -c 'Compiling entry' "$OUT/ptxas.txt") kernels compiled," \
        "$(grep -Ec ' [1-9][0-9]* bytes spill' "$OUT/ptxas.txt") with spills -> $OUT/ptxas.txt"
    [ "$rc" -eq 0 ] || return "$rc"
    [ -f "$BUILD/lib/libgotflow-cuda.so" ] || { echo "   FAIL $BUILD/lib/libgotflow-cuda.so was not built"; return 1; }
    timeout 30 "$bin/check" probe
}

run_all() {
    command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
    echo "== gotflow GPU check, $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null)"
    step preflight 20 preflight
    [ "${result[preflight]}" = ok ] || { echo "== the preflight failed: nothing else runs"; finish; return 1; }
    if [ "${GPU_CHECK_BUILD:-1}" != 0 ]; then
        step build 170 build
        [ "${result[build]}" = ok ] || { echo "== the build failed: nothing else runs"; finish; return 1; }
    fi
    tmp=$(mktemp -d /tmp/gotflow-gpu.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    big=$tmp/1b
    if [ -n "$stand_in" ]; then # the 1B-shaped model is hours on a CPU
        big=$tmp/tiny
        export GF_CHECK_POSITIONS=${GF_CHECK_POSITIONS:-200}
    fi
    if want loop || want time; then
        step models 40 bash -c "'$bin/mkmodel' --out '$tmp/tiny' --vq-ch 32 >/dev/null &&
            { [ -n '$stand_in' ] || '$bin/mkmodel' --out '$tmp/1b' --size 1b --dtype bf16 \
                --vq-ch 128 >/dev/null; }"
    fi
    seed=${GPU_CHECK_SEED:-$(date +%s)}
    # a hung section is killed after this long (seconds), so that the phase goes on with the next
    st=${GF_CHECK_TIMEOUT:-$([ -n "$stand_in" ] && echo 150 || echo 30)}
    want ops && step ops 80 env GF_CHECK_TIMEOUT="$st" "$bin/check" ops "$seed" "${sel[@]}"
    want loop && step loop 60 env GF_CHECK_TIMEOUT="$st" "$bin/check" loop "$tmp/tiny" "${sel[@]}"
    want time && step time 100 env GF_CHECK_TIMEOUT=$((2 * st)) "$bin/check" time "$big" "${sel[@]}"
    if [ -z "$stand_in" ] && command -v compute-sanitizer >/dev/null; then
        # in-process runs (GF_CHECK_CHILD=1) of the groups whose kernels share memory in a block
        want racecheck && step racecheck 40 bash -c "for g in ${sel[*]:-rows attention attention-edges vq sample}; do
            GF_CHECK_CHILD=1 compute-sanitizer --tool racecheck --error-exitcode 9 \
                '$bin/check' ops 12345 bf16 \$g || exit 9; done"
        if want memcheck && [ "$(left)" -gt 40 ]; then
            step memcheck 60 bash -c "for g in ${sel[*]:-linear gemv-shapes attention-long vq sample weights staging}; do
                GF_CHECK_CHILD=1 compute-sanitizer --tool memcheck --error-exitcode 9 \
                    '$bin/check' ops 12345 bf16 \$g || exit 9; done"
        fi
    fi
    finish
}

finish() { # the summary line, last in the log; 1 when a phase did not pass
    local summary="gpu check:" bad=0 s
    for s in "${phases[@]}"; do
        summary="$summary $s ${result[$s]};"
        [ "${result[$s]}" = ok ] || bad=1
    done
    echo "$summary total $(($(date +%s) - start))s; log $log"
    return $bad
}

args=("$@")
# tee: the whole log under $OUT, the same lines on the terminal (the summary last)
run_all 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
{
    grep '^== .*: \(ok\|FAIL\|skipped\)' "$log"
    echo "-- FAIL lines:"
    grep 'FAIL' "$log" | grep -v -e '^== ' -e '^gpu check: ' || echo "(none)"
    tail -n 1 "$log"
} >"$OUT/summary.txt"
exit "$rc"
