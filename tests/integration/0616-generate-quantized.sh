#!/usr/bin/env bash
# gotflow generate --precision q8_0 on a bf16 mkmodel checkpoint: the pipeline it starts
# quantizes the language model of reason and imagegen at load (their logs say so), the picture
# is written, and the checkpoint's files are left as published. A bad --precision is a usage
# error; a graph that asks for q8_0 on a GPU stage is refused at start.
. "$(dirname "$0")/lib.sh"
mkmodel --out "$work/ckpt" --vq-ch 32 --dtype bf16 >/dev/null
sum=$(sha256sum "$work/ckpt/model.safetensors")
cd "$top"
gotflow generate "a red apple" --model "$work/ckpt" --out "$work/out" --id q --seed 5 \
    --max-tokens 8 --precision q8_0 >"$work/stdout" 2>"$work/stderr" ||
    fail "generate failed: $(tail -5 "$work/stderr")"
[ -s "$work/out/q/image_0.png" ] || fail "no picture"
for s in reason imagegen; do
    grep -q "stage '$s' replica 0: language model weights quantized to q8_0 at load" \
        "$GOTFLOW_RUN_ROOT"/*/$s.0.log || fail "$s did not quantize"
done
[ "$sum" = "$(sha256sum "$work/ckpt/model.safetensors")" ] || fail "the checkpoint changed"
rc=0
gotflow generate "x" --model "$work/ckpt" --precision q5_1 2>"$work/err" || rc=$?
[ "$rc" = 2 ] && grep -q "precision 'q5_1' is not bf16, f32, q8_0 or q4_0" "$work/err" ||
    fail "bad --precision: rc $rc, $(cat "$work/err")"
rc=0
gotflow bench decode --model "$work/ckpt" --device cuda:0 --precision q4_0 2>"$work/err" || rc=$?
[ "$rc" = 2 ] && grep -q "q4_0 is for the CPU" "$work/err" ||
    fail "q4_0 on cuda:0: rc $rc, $(cat "$work/err")"
echo "generate --precision q8_0 quantized reason and imagegen at load; bad names refused"
