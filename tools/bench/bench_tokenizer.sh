#!/usr/bin/env bash
# Encode throughput of gotflow's tokenizer against HuggingFace `tokenizers`, same corpus, same run,
# one thread each. Needs `make` and the oracle venv (`make oracle`, or GOTFLOW_VENV=...).
#
#   tools/bench/bench_tokenizer.sh [TOKENIZER_JSON [CORPUS_JSONL [PASSES]]]
set -euo pipefail
cd "$(dirname "$0")/../.."
tok=${1:-tests/data/deepseek-llm/tokenizer.json}
corpus=${2:-tests/oracle/goldens/tokenizer/got-r1.jsonl}
passes=${3:-5}
py=${GOTFLOW_VENV:-.venv/requirements-tokenizer}/bin/python
make -s build/bench/bench_tokenizer
c_out=$(build/bench/bench_tokenizer "$tok" "$corpus" "$passes")
hf_out=$(RAYON_NUM_THREADS=1 "$py" tools/bench/bench_tokenizer_hf.py "$tok" "$corpus" "$passes")
echo "$c_out"
echo "$hf_out"
c=$(echo "$c_out" | sed -n 's/^tokenizer encode: \([0-9.]*\) MB\/s.*/\1/p')
hf=$(echo "$hf_out" | sed -n 's/^hf encode: \([0-9.]*\) MB\/s.*/\1/p')
c_ids=$(echo "$c_out" | sed -n 's/.* \([0-9]*\) ids.*/\1/p')
hf_ids=$(echo "$hf_out" | sed -n 's/.* \([0-9]*\) ids.*/\1/p')
[ "$c_ids" = "$hf_ids" ] || echo "warning: id counts differ ($c_ids vs $hf_ids)"
awk -v c="$c" -v h="$hf" 'BEGIN { printf "ratio gotflow/hf: %.2fx\n", c / h }'
