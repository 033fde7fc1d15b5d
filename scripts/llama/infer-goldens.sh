#!/bin/sh
# Refreshes the golden outputs of the flagship fixtures (tests/data/models/NAME/golden/): each
# fixture converted by llama.cpp v0.5.0's convert_hf_to_gguf.py (scripts/llama/convert.sh,
# --outtype f32, FP8 dequantized first by scripts/fixtures/dequant_fp8.py) and run by llama.cpp's
# engine (scripts/llama/logits.c) on golden/prompt.txt: the prompt's ids, 32 greedy tokens, the
# logits at the first 16 positions and the last. The conversion's digest goes to
# tests/data/golden/convert/NAME-f32.digest. A conversion that keeps quantized types whatever
# --outtype (DeepSeek-V4: Q8_0, MXFP4, BF16) is run widened to F32 (scripts/llama/widen.py):
# llama.cpp's kernels would round the activations to the weights' dot types, ferry's do not.
#   scripts/llama/infer-goldens.sh [NAME...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ $# -gt 0 ] || set -- glm4-tiny glm4moe-tiny minimax-m2-tiny deepseek-v3-tiny kimi-k2-tiny deepseek-v32-tiny \
	kimi-k25-tiny glm47-flash-tiny deepseek-v4-tiny qwen3-next-tiny qwen35-tiny qwen35moe-tiny \
	minimax-m1-tiny kimi-linear-tiny
build=$("$here/build.sh" llama ggml | tail -1)
src=$(dirname "$build")/src-v0.5.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -c "$here/logits.c" -I"$src/include" -I"$src/ggml/include" -o "$work/logits.o"
c++ -o "$work/logits" "$work/logits.o" "$build/src/libllama.a" "$build/ggml/src/libggml.a" \
	"$build/ggml/src/libggml-cpu.a" "$build/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl
for name in "$@"; do
	m=$root/tests/data/models/$name
	# the pre-tokenizer each fixture's tokenizer.json imitates (see shims/run.py); the fixtures
	# whose golden/ another reference made (deepseek-v3-tiny: PyTorch, MOE-FIXTURES.md) get the
	# conversion's digest only
	run=yes
	lazy=
	kv=
	widen=no
	case $name in
	# GLM-4.7-Flash: llama.cpp's converter writes no expert_gating_func and its engine picks
	# sigmoid by the real model's 47 layers and 154,880 tokens; the fixture's routing is the
	# model's (sigmoid), given to llama.cpp's engine as --override-kv would
	glm47-flash-*) pre=glm4 kv=deepseek2.expert_gating_func=2 ;;
	glm4*) pre=glm4 ;;
	minimax-m2-* | minimax-m1-*) pre=minimax-m2 ;;
	deepseek-v32-*) pre=deepseek-v3 ;;
	deepseek-v4-*) pre=deepseek-v3 widen=yes ;;
	qwen3-next-*) pre=qwen2 ;;
	qwen35-* | qwen35moe-*) pre=qwen2 ;;
	deepseek-v3-*) pre=deepseek-v3 run=no ;;
	kimi-k25-*) pre=kimi-k2 lazy=--no-lazy ;; # torch 1.13's lazy tensors fail on int4 unpacking
	kimi-k2* | kimi-linear-*) pre=kimi-k2 ;;
	*) pre= ;;
	esac
	# the converter reads the fixture with its FP8 weights dequantized to F32 (value x block
	# scale, what both converters compute; Debian's torch 1.13 has no float8 dtype)
	rm -rf "$work/$name"
	/usr/bin/python3 "$root/scripts/fixtures/dequant_fp8.py" "$m" "$work/$name"
	FERRY_TOKPRE=$pre "$here/convert.sh" "$work/$name" "$work/$name.gguf" --outtype f32 $lazy \
		>"$work/log" 2>&1 || { tail -5 "$work/log" >&2; exit 1; }
	node "$root/tests/cli/gguf_digest.mjs" "$work/$name.gguf" \
		>"$root/tests/data/golden/convert/$name-f32.digest"
	[ "$run" = yes ] || { echo "$name: the conversion's digest"; continue; }
	run_on=$work/$name.gguf
	if [ "$widen" = yes ]; then
		PYTHONPATH=$src/gguf-py /usr/bin/python3 "$here/widen.py" "$run_on" "$work/$name-f32.gguf"
		run_on=$work/$name-f32.gguf
	fi
	LOGITS_KV=$kv "$work/logits" "$run_on" "$m/golden/prompt.txt" 32 "$m/golden"
	echo "$name: $(wc -c <"$m/golden/prompt_ids.json") bytes of ids, goldens in $m/golden"
done
