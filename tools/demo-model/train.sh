#!/usr/bin/env bash
# Retrains the demo model from scratch: tools/demo-model/train.sh OUT_DIR [--quick] [--seed N]
#
# Makes the virtualenv .venv/demo-model from tools/demo-model/requirements.txt (PyPI) when it is
# missing, builds mkmodel, then runs train.py: data from a fixed seed, tokenizer, VQ autoencoder,
# language model, export to OUT_DIR (config.json, model.safetensors, tokenizer files, train.log).
# The full run is sized for 2 hours on 2 cores; --quick runs every step on tiny data in a few
# minutes. docs/demo-model.md says what it makes and how it is checked.
set -euo pipefail
[ $# -ge 1 ] && [ "${1#-}" = "$1" ] || { echo "usage: $0 OUT_DIR [--quick] [--seed N]" >&2; exit 2; }
out=$1
shift
cd "$(dirname "$0")/../.."
venv=${GOTFLOW_VENV_ROOT:-.venv}/demo-model
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, tokenizers, safetensors, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r tools/demo-model/requirements.txt
fi
make -s build/bin/mkmodel
exec "$venv/bin/python" tools/demo-model/train.py --out "$out" "$@"
