#!/usr/bin/env bash
# `make oracle`: regenerates every golden under tests/oracle/goldens/ with the reference
# implementations (HuggingFace tokenizers/transformers, PyTorch) from PyPI, in a virtualenv
# at .venv/ (not committed). CI never runs this; it checks the C code against the committed goldens.
#
# Each tests/oracle/gen_*.py is one generator; it writes its goldens and prints what it wrote.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${GOTFLOW_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
fi
"$venv/bin/pip" install -q -r tests/oracle/requirements.txt
make all
mkdir -p tests/oracle/goldens
for g in tests/oracle/gen_*.py; do
    [ -f "$g" ] || continue
    echo "== $g"
    "$venv/bin/python" "$g"
done
