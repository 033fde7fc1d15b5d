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
export FERRY_HOME="$tmp/store"
step "a store: import a checkpoint as a revision (content-addressed, git commit ids)" \
	"ferry init && ferry add demo/qwen2-shakespeare $DATA/qwen2-shakespeare -m 'import'"
"$FERRY" init
"$FERRY" --no-progress add demo/qwen2-shakespeare "$DATA/qwen2-shakespeare" -m "import"
"$FERRY" --no-progress add demo/stories "$DATA/llama-stories260K" -m "import"

step "what the store holds" "ferry ls && ferry show demo/qwen2-shakespeare | head -16"
"$FERRY" ls
"$FERRY" show demo/qwen2-shakespeare | head -16

step "convert the HF checkpoint to GGUF (the same tensors and vocabulary llama.cpp writes)" \
	"ferry convert llama-stories260K/ -o stories-f32.gguf --outtype f32"
mkdir -p "$tmp/gguf"
"$FERRY" convert "$DATA/llama-stories260K" -o "$tmp/gguf/stories-f32.gguf" --outtype f32

step "re-quantize it with llama.cpp's Q4_K_M rules (rows of 64 and 172 take fallbacks)" \
	"ferry add demo/stories-GGUF ./gguf && ferry quant demo/stories-GGUF --type Q4_K_M"
"$FERRY" --no-progress add demo/stories-GGUF "$tmp/gguf" -m "import" >/dev/null
"$FERRY" --no-progress quant demo/stories-GGUF --type Q4_K_M
"$FERRY" ls demo/stories-GGUF

step "run it with ferry's reference kernels (greedy)" \
	"ferry run demo/stories-GGUF:stories-Q4_K_M.gguf --temp 0 -n 48"
"$FERRY" run demo/stories-GGUF:stories-Q4_K_M.gguf --temp 0 -n 48 -t 2

step "the publish gate: the quantized file against the F32 revision it was derived from" \
	"ferry smoke demo/stories-GGUF:stories-Q4_K_M.gguf"
"$FERRY" smoke demo/stories-GGUF:stories-Q4_K_M.gguf -t 2

step "sign it, then verify every byte, the structure of every file and the signature" \
	"ferry key generate && ferry sign demo/qwen2-shakespeare && ferry verify demo/qwen2-shakespeare"
"$FERRY" key generate
"$FERRY" sign demo/qwen2-shakespeare
"$FERRY" verify demo/qwen2-shakespeare

step "materialize it elsewhere, then check the whole store" \
	"ferry checkout demo/qwen2-shakespeare ./out && ferry fsck"
"$FERRY" checkout demo/qwen2-shakespeare "$tmp/out"
"$FERRY" fsck

step "serve the store to unmodified hub clients (HF_ENDPOINT)" \
	"ferry serve --listen 127.0.0.1:0 & curl \$HF_ENDPOINT/api/models/demo/qwen2-shakespeare; curl -I .../resolve/main/model.safetensors"
"$FERRY" serve --listen 127.0.0.1:0 --port-file "$tmp/port" 2>/dev/null &
srv=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
endpoint="http://127.0.0.1:$(cat "$tmp/port")"
echo "HF_ENDPOINT=$endpoint"
curl -s "$endpoint/api/models/demo/qwen2-shakespeare" | head -c 300
printf '...\n'
curl -sI "$endpoint/demo/qwen2-shakespeare/resolve/main/model.safetensors" | tr -d '\r' | grep -iE "^(HTTP|etag|x-repo-commit|x-linked|content-length)"
kill $srv
wait $srv 2>/dev/null || true

obj=$(find "$FERRY_HOME/objects" -type f | head -1)
chmod u+w "$obj"
printf 'X' | dd of="$obj" bs=1 seek=3 conv=notrunc 2>/dev/null
step "a byte flipped on disk is caught and named by verify and fsck" \
	"ferry verify demo/qwen2-shakespeare demo/stories; ferry fsck"
"$FERRY" verify demo/qwen2-shakespeare demo/stories 2>&1 | grep -v warning || true
"$FERRY" fsck 2>&1 || true

printf '\ndemo: done. Next: make test\n'
