#!/usr/bin/env bash
# Downloads the Debian packages of the one library `make gpu` needs besides nvcc (jansson) into
# .gpu-deps/, for a GPU machine that cannot reach a package registry and lacks them: carry
# .gpu-deps along with the tree there, and tests/gpu/run.sh unpacks them when it must.
set -eu
cd "$(dirname "$0")/../.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download libjansson4 libjansson-dev
ls -l
