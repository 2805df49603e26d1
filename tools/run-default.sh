#!/usr/bin/env bash
# `make run`: starts the default pipeline, sends it the example request, prints the answer and
# where it was written, and stops the pipeline (SIGTERM: drain, then stop in order).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/build/bin:$PATH
pipeline=${PIPELINE:-pipelines/layout.yaml}
chain=${CHAIN:-tests/data/reasoning-1B.txt}
gotflow check "$pipeline"
gotflow run "$pipeline" &
sup=$!
trap 'kill -TERM $sup 2>/dev/null || true; wait $sup 2>/dev/null || true' EXIT
gotflow status "$pipeline" --wait-ready --timeout 30 >/dev/null
gotflow status "$pipeline"
echo
echo "request: the reasoning chain in $chain"
jq -Rsc '{id: "example", kind: "reasoning", text: .}' "$chain" >out.request.json
gotflow submit "$pipeline" out.request.json --max-bin 0 >out.answer.json
rm -f out.request.json
jq '{id, kind, objects, issues, timings}' out.answer.json
rm -f out.answer.json
echo
echo "the whole result: out/example.json"
