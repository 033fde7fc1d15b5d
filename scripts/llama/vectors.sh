#!/bin/sh
# Refreshes the quantization test vectors in DIR (tests/data/testvectors/quant) from llama.cpp
# v0.5.0's libggml-base (scripts/llama/build.sh builds it), then their SHA256SUMS.
set -eu
dir=${1:?usage: scripts/llama/vectors.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
build=$("$here/build.sh" ggml-base | tail -1)
src=$(dirname "$build")/src-v0.5.0
cc -O2 -std=c11 -I"$src/ggml/include" "$here/quantvec.c" "$build/ggml/src/libggml-base.a" \
	-lm -lpthread -lstdc++ -fopenmp -o "$build/quantvec"
"$build/quantvec" "$dir"
(cd "$dir" && sha256sum input.f32 imatrix.f32 f16.bin bf16.bin ./*.q ./*.f32 | sed 's| \./| |' |
	sort -k2 -u >SHA256SUMS)
