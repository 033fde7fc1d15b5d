#!/bin/sh
# Runs llama.cpp v0.5.0's convert_hf_to_gguf.py (the pinned release, scripts/llama/build.sh) with
# Debian's python3-torch, python3-numpy, python3-sentencepiece and python3-tqdm (installed when
# missing) and the shims beside this script:
#   [FERRY_TOKPRE=NAME] scripts/llama/convert.sh HF_DIR OUT.gguf [converter options, e.g. --outtype f32]
# FERRY_TOKPRE names the BPE pre-tokenizer of a fixture the converter cannot recognise (shims/run.py).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${FERRY_LLAMA_CACHE:-$HOME/.cache/ferry/llama}
src=$cache/src-v0.5.0
[ -d "$src" ] || "$here/build.sh" ggml-base >/dev/null
sh "$here/../deps.sh" python3-torch python3-numpy python3-sentencepiece python3-tqdm >&2
in=$1
out=$2
shift 2
PYTHONPATH="$here/shims:$src/gguf-py" /usr/bin/python3 "$here/shims/run.py" \
	"$src/convert_hf_to_gguf.py" "$in" \
	--outfile "$out" "$@"
