#!/bin/sh
# make demo: the main job end to end on the bundled fixtures, as far as ferry goes today:
# inspect and validate real GGUF and safetensors models (a llama.cpp GGUF, an HF checkpoint, a
# sharded FP8 DeepSeek-V3-layout checkpoint) and show a damaged file being refused.
set -eu
FERRY=${1:-build/ferry}
DATA=tests/data/models
if [ -t 1 ]; then bold=$(printf '\033[1m'); plain=$(printf '\033[0m'); else bold= plain=; fi
step() { printf '\n%s== %s%s\n$ %s\n' "$bold" "$1" "$plain" "$2"; }

step "ferry's version" "ferry --version"
"$FERRY" --version

step "a GGUF made by llama.cpp (header, metadata, tensor table, totals)" \
	"ferry inspect $DATA/stories260K/stories260K.gguf"
"$FERRY" inspect "$DATA/stories260K/stories260K.gguf" | sed -n '1,12p;27,32p'
echo "    ..."
"$FERRY" inspect "$DATA/stories260K/stories260K.gguf" | tail -2

step "a Hugging Face checkpoint: config summary and the safetensors file" \
	"ferry inspect $DATA/qwen2-shakespeare"
"$FERRY" inspect "$DATA/qwen2-shakespeare" | sed -n '1,22p'
echo "    ..."
"$FERRY" inspect "$DATA/qwen2-shakespeare" | tail -2

step "a sharded FP8 checkpoint (DeepSeek-V3 layout): the index is checked against both shards" \
	"ferry inspect $DATA/deepseek-v3-tiny"
"$FERRY" inspect "$DATA/deepseek-v3-tiny" | grep -E "^  (index|files)|^[^ ].*safetensors$|^totals|^  [A-Z0-9_]+ " 

step "the same facts as JSON, for scripts" \
	"ferry inspect --json $DATA/stories260K/stories260K.gguf | head"
"$FERRY" inspect --json "$DATA/stories260K/stories260K.gguf" | head -12

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 5000 "$DATA/stories260K/stories260K.gguf" >"$tmp/truncated.gguf"
step "a damaged download is refused with one line and exit status 1" \
	"ferry inspect truncated.gguf"
if "$FERRY" inspect "$tmp/truncated.gguf"; then
	echo "demo: a truncated file was accepted" >&2
	exit 1
else
	echo "(exit status $?)"
fi
printf '\ndemo: done. Next: make test\n'
