#!/bin/sh
# make demo: the main job end to end on the bundled fixtures: inspect real GGUF and safetensors
# models, then upstream hub -> clone -> verify -> convert -> quant -> smoke -> publish -> serve as
# the mirror -> install at a site -> run, and a damaged object being caught. (Bundles for the air
# gap are not built yet: docs/PUBLISH.md.)
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
head -c 5000 "$DATA/stories260K/stories260K.gguf" >"$tmp/truncated.gguf"
step "a damaged download is refused with one line and exit status 1" \
	"ferry inspect truncated.gguf"
if "$FERRY" inspect "$tmp/truncated.gguf"; then
	echo "demo: a truncated file was accepted" >&2
	exit 1
else
	echo "(exit status $?)"
fi
# start_serve STORE [OPTIONS]: a `ferry serve` on a free port; sets $srv and $endpoint
start_serve() {
	st=$1
	shift
	rm -f "$tmp/port"
	FERRY_HOME="$st" "$FERRY" serve --listen 127.0.0.1:0 --port-file "$tmp/port" --refresh-ms 100 "$@" 2>/dev/null &
	srv=$!
	i=0
	while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	endpoint="http://127.0.0.1:$(cat "$tmp/port")"
}
trap 'kill $up_srv $srv 2>/dev/null; rm -rf "$tmp"' EXIT

step "an upstream hub: a ferry store holding the fixture checkpoint, served with the HF API" \
	"ferry add demo/stories llama-stories260K/ && ferry serve --all"
FERRY_HOME="$tmp/upstream" "$FERRY" -q init
FERRY_HOME="$tmp/upstream" "$FERRY" --no-progress add demo/stories "$DATA/llama-stories260K" -m "import"
start_serve "$tmp/upstream" --all
up_srv=$srv
upstream=$endpoint
echo "upstream hub at $upstream"

export FERRY_HOME="$tmp/mirror"
step "the mirror clones it: every file checked against the hub's listing before it is stored" \
	"HF_ENDPOINT=$upstream ferry clone demo/stories"
"$FERRY" -q init
HF_ENDPOINT=$upstream "$FERRY" --no-progress clone demo/stories

step "verify: every byte re-hashed, every file's structure checked" "ferry verify demo/stories"
"$FERRY" verify demo/stories 2>&1 | grep -v warning

step "convert the revision to GGUF (a new revision, its lineage recorded)" \
	"ferry convert demo/stories --outtype f32"
"$FERRY" --no-progress convert demo/stories --outtype f32

step "re-quantize with llama.cpp's Q4_K_M rules (rows of 64 and 172 take fallbacks)" \
	"ferry quant demo/stories-GGUF --type Q4_K_M"
"$FERRY" --no-progress quant demo/stories-GGUF --type Q4_K_M 2>/dev/null
"$FERRY" ls demo/stories-GGUF

step "the smoke gate: the Q4_K_M file against the F32 revision it was derived from" \
	"ferry smoke demo/stories-GGUF:stories-Q4_K_M.gguf"
"$FERRY" smoke demo/stories-GGUF:stories-Q4_K_M.gguf -t 2

step "publish: the gates' results are reused, the signed index gets a new version" \
	"ferry key generate && ferry publish demo/stories-GGUF && ferry publish --list"
"$FERRY" key generate
"$FERRY" publish demo/stories-GGUF
"$FERRY" publish --list

step "serve the mirror: only published revisions are visible, with the signed index" \
	"ferry serve & curl \$HF_ENDPOINT/api/models/demo/stories-GGUF (published), .../demo/stories (not)"
start_serve "$tmp/mirror"
mirror=$endpoint
echo "HF_ENDPOINT=$mirror"
printf 'demo/stories-GGUF: HTTP %s\n' "$(curl -s -o /dev/null -w '%{http_code}' "$mirror/api/models/demo/stories-GGUF")"
printf 'demo/stories:      HTTP %s (not published)\n' "$(curl -s -o /dev/null -w '%{http_code}' "$mirror/api/models/demo/stories")"
curl -sI "$mirror/demo/stories-GGUF/resolve/main/stories-Q4_K_M.gguf" | tr -d '\r' | grep -iE "^(HTTP|etag|x-repo-commit|content-length)"

export FERRY_HOME="$tmp/site"
step "a site trusts the mirror's key and installs the quantization into the HF cache" \
	"ferry key trust mirror.pub && ferry install demo/stories-GGUF:Q4_K_M --from \$HF_ENDPOINT"
"$FERRY" -q init
"$FERRY" key trust "$tmp/mirror/keys/signing.pub"
"$FERRY" --no-progress install demo/stories-GGUF:Q4_K_M --from "$mirror" --cache-dir "$tmp/hf-cache"
(cd "$tmp/hf-cache" && find models--demo--stories-GGUF | sort | sed 's/^/  /')

step "run a prompt on the installed file (ferry's reference kernels, greedy)" \
	"ferry run ~/.cache/huggingface/hub/models--demo--stories-GGUF/snapshots/*/stories-Q4_K_M.gguf"
"$FERRY" run "$tmp"/hf-cache/models--demo--stories-GGUF/snapshots/*/stories-Q4_K_M.gguf -p "Once upon a time" --temp 0 -n 40 -t 2

export FERRY_HOME="$tmp/mirror"
step "across the air gap: a signed bundle of everything published" \
	"ferry bundle create --all -o week47.ferry"
"$FERRY" --no-progress bundle create --all -o "$tmp/week47.ferry"

export FERRY_HOME="$tmp/airgap"
step "on the other side: a fresh store checks every byte, then commits; then verify there" \
	"ferry key trust mirror.pub && ferry bundle import week47.ferry && ferry verify demo/stories-GGUF"
"$FERRY" -q init
"$FERRY" key trust "$tmp/mirror/keys/signing.pub"
"$FERRY" --no-progress bundle import "$tmp/week47.ferry"
"$FERRY" verify demo/stories-GGUF 2>&1 | grep -v warning

export FERRY_HOME="$tmp/mirror"
obj=$(find "$FERRY_HOME/objects" -type f | head -1)
chmod u+w "$obj"
printf 'X' | dd of="$obj" bs=1 seek=3 conv=notrunc 2>/dev/null
step "a byte flipped on disk is caught and named by verify and fsck" \
	"ferry verify demo/stories demo/stories-GGUF; ferry fsck"
"$FERRY" verify demo/stories demo/stories-GGUF 2>&1 | grep -v warning || true
"$FERRY" fsck 2>&1 || true

printf '\ndemo: done. Next: make test\n'
