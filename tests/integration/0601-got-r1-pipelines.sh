#!/usr/bin/env bash
# The shipped GoT-R1 graphs: each passes `gotflow check`; the CPU default runs as shipped (only
# its model and output folder pointed elsewhere) on a tiny checkpoint and answers a caption with
# a chain ending in <begin_of_image>, a 24x24 grid of image codes and a 384x384 picture; a GPU graph
# refuses to start its model stages with a message saying why: a build without the CUDA backend
# says so, a build with it on a machine without a GPU says there is no CUDA device.
. "$(dirname "$0")/lib.sh"
for f in "$top"/pipelines/got-r1*.yaml; do
    gotflow check "$f" >/dev/null || fail "'$f' does not pass gotflow check"
done
mkmodel --out "$work/ckpt" --vq-ch 32 >/dev/null
sed -e "s|^model: .*|model: $work/ckpt|" -e "s|out: out|out: $work/out|" \
    "$top/pipelines/got-r1-cpu.yaml" >"$work/cpu.yaml"
start_pipeline "$work/cpu.yaml"
echo '{"id": "x", "text": "a red apple on a table", "params": {"seed": 5, "max_tokens": 40}}' |
    gotflow submit "$work/cpu.yaml" --timeout 300 >"$work/out.jsonl" || fail "no result"
jq -e '.kind == "result" and .from == "image" and .grid == [24, 24] and .image_size == [384, 384]
       and (.png | length) == 1 and .codes.shape == [1, 576] and (.text | endswith("<begin_of_image>"))
       and .reasoning_ids.shape[0] <= 41' "$work/out.jsonl" >/dev/null ||
    fail "unexpected result: $(head -c 600 "$work/out.jsonl")"
stop_pipeline
[ "$stop_rc" = 0 ] || fail "supervisor exit status $stop_rc"

if [ -f "$build/lib/libgotflow-cuda.so" ]; then
    expect="no CUDA device"
else
    expect="only the CPU backend"
fi
if [ "$expect" = "only the CPU backend" ] || ! nvidia-smi -L >/dev/null 2>&1; then
    sed -e "s|^model: .*|model: $work/ckpt|" -e "s|out: out|out: $work/out|" \
        -e "s|^name: .*|name: got-r1-gpu|" "$top/pipelines/got-r1.yaml" >"$work/gpu.yaml"
    gotflow run "$work/gpu.yaml" >"$work/gpu.log" 2>&1 &
    sup_pid=$!
    for _ in $(seq 100); do
        grep -q "$expect" "$work/gpu.log" "$GOTFLOW_RUN_ROOT"/*/reason.0.log \
            2>/dev/null && break
        sleep 0.1
    done
    grep -q "$expect" "$work/gpu.log" "$GOTFLOW_RUN_ROOT"/*/reason.0.log 2>/dev/null ||
        fail "the GPU graph did not say '$expect'"
    kill -TERM "$sup_pid" 2>/dev/null || true
    wait "$sup_pid" 2>/dev/null || true
fi
echo "pipelines check; the CPU default answers; the GPU graph refuses without a GPU"
