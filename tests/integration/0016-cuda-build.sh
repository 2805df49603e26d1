#!/usr/bin/env bash
# The CUDA backend as built: a shared object whose CUDA runtime and cuBLAS resolve through its
# own run path (no LD_LIBRARY_PATH), that no program links: every program starts as fast as a
# CPU-only build (linking cuBLAS costs ~150 ms at each start), and only a process that asks for
# cuda:N loads it. Skipped in a build without nvcc.
. "$(dirname "$0")/lib.sh"
so=$build/lib/libgotflow-cuda.so
[ -f "$so" ] || skip "this build has no CUDA backend (no nvcc at build time)"
readelf -d "$so" | grep -q 'NEEDED.*libcublas' || fail "'$so' does not need libcublas"
rp=$(readelf -d "$so" | sed -n 's/.*R\(UN\)\{0,1\}PATH.*\[\(.*\)\]/\2/p')
[ -n "$rp" ] && ls "$rp"/libcublas.so* >/dev/null 2>&1 ||
    fail "'$so' has no run path to the CUDA libraries (run path: '${rp:-none}')"
env -u LD_LIBRARY_PATH ldd "$so" | grep -E 'libcublas|libcudart' | grep -q 'not found' &&
    fail "CUDA libraries of '$so' not found: $(ldd "$so" | grep 'not found')"
# the entry points libgotflow looks up with dlsym (kernels/cuda/abi.h)
for sym in gf_cuda_backend_create gf_cuda_probe gf_cuda_measure gf_cuda_events; do
    nm -D --defined-only "$so" | grep -q " $sym\$" || fail "'$so' does not export '$sym'"
done
for b in "$build"/bin/* "$build"/test-bin/*; do
    ldd "$b" 2>/dev/null | grep -Eq 'libcudart|libcublas' && fail "'$b' links the CUDA libraries"
done
# a stage on cuda:N on a machine without that device stops at start with the reason
mkmodel --out "$work/ckpt" >/dev/null
if ! nvidia-smi -L >/dev/null 2>&1; then
    GOTFLOW_LOG=error gotflow bench decode --model "$work/ckpt" --device cuda:0 --tokens 2 \
        >"$work/bench.out" 2>"$work/bench.err" && fail "bench on cuda:0 succeeded without a GPU"
    grep -q "cuda:0: no CUDA device" "$work/bench.err" ||
        fail "unexpected error: $(cat "$work/bench.err")"
fi
echo "the CUDA backend links on its own and only loads on demand"
