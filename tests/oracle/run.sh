#!/usr/bin/env bash
# `make oracle`: regenerates every golden under tests/oracle/goldens/ with the reference
# implementations (HuggingFace tokenizers/transformers, PyTorch) from PyPI, in virtualenvs under
# .venv/ (not committed). CI never runs this; it checks the C code against the committed goldens.
#
# Each tests/oracle/gen_NAME.py is one generator; it writes its goldens and prints what it wrote.
# It runs in the virtualenv made from tests/oracle/requirements-NAME.txt, or from the file named
# by a line "# oracle-requirements: FILE" in the generator (generators that share a stack share a
# virtualenv). The reference libraries pin versions that cannot share one environment
# (tokenizers for the tokenizer goldens vs. the one transformers needs).
#
#   tests/oracle/run.sh [NAME...]   only these generators
set -euo pipefail
cd "$(dirname "$0")/../.."
make all
mkdir -p tests/oracle/goldens
gens=()
if [ $# -gt 0 ]; then
    for n in "$@"; do gens+=("tests/oracle/gen_$n.py"); done
else
    gens=(tests/oracle/gen_*.py)
fi
for g in "${gens[@]}"; do
    [ -f "$g" ] || { echo "no generator '$g'" >&2; exit 2; }
    name=$(basename "$g" .py)
    name=${name#gen_}
    req=$(sed -n 's/^# oracle-requirements: *//p' "$g" | head -n 1)
    req=tests/oracle/${req:-requirements-$name.txt}
    [ -f "$req" ] || { echo "$g: no requirements file '$req'" >&2; exit 2; }
    venv=${GOTFLOW_VENV_ROOT:-.venv}/$(basename "$req" .txt)
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --upgrade pip
    fi
    "$venv/bin/pip" install -q -r "$req"
    echo "== $g ($req)"
    "$venv/bin/python" "$g"
done
