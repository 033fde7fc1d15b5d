#!/bin/sh
# make bench (llama.cpp part of quant): ferry against the llama.cpp release it must match (v0.5.0,
# built by scripts/llama/build.sh into ~/.cache/ferry/llama, cached), in the same run on the same
# generated ~0.6B llama-shaped F16 GGUF (mkmodel: 20 layers, dim 1536, ffn 4096, vocab 32000):
#   - an importance matrix over tests/data/calibration/calibration.txt (chunks of 128 tokens, the
#     first 4): ferry imatrix against llama-imatrix;
#   - IQ4_XS, IQ3_XXS and IQ2_XXS with that matrix: ferry quant against llama-quantize (time and
#     peak RSS; the outputs compared tensor for tensor);
#   - split at 200M and merged back: ferry quant --type F16 --split-max-size / on the first shard
#     against llama-gguf-split --split / --merge.
# Ratios are llama.cpp's time over ferry's (> 1: ferry faster). 2 threads for both. The CPU's
# flags are printed with the figures. Results: bench/results/quant_llama.txt.
set -eu
FERRY=$(cd "$(dirname "${1:-build/ferry}")" && pwd)/$(basename "${1:-build/ferry}")
MKMODEL=${MKMODEL:-build/mkmodel}
LAYERS=${QUANT_LLAMA_LAYERS:-20}
root=$(pwd)
work=$root/${BENCH_WORK:-bench/work}/quant_llama
out=$root/bench/results/quant_llama.txt
mkdir -p "$work" bench/results
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

echo "bench: building llama.cpp v0.5.0 (cached) and generating a $LAYERS-layer llama in $work"
build=$(scripts/llama/build.sh llama-quantize llama-gguf-split llama-imatrix | tail -1)
L=$build/bin
"$MKMODEL" llama "$work/m.gguf" "$LAYERS" 1536 4096 32000 f16
size=$(wc -c <"$work/m.gguf")
cal=$root/tests/data/calibration

# timed NAME CMD...: runs CMD with /usr/bin/time; sets $ms and $rss_mib
timed() {
	_t0=$(now_ns)
	/usr/bin/time -f "%M" -o "$work/rss" "$@" >"$work/log" 2>&1 || {
		tail -5 "$work/log" >&2
		exit 1
	}
	ms=$(ms_since "$_t0")
	rss_mib=$(awk '{k = $1} END {printf "%.0f", k / 1024}' "$work/rss")
}
row() { # row WHAT LLAMA_MS LLAMA_RSS FERRY_MS FERRY_RSS NOTE
	printf "%-22s %10s %9s %10s %9s %7s  %s\n" "$1" "$2" "$3" "$4" "$5" "$(ratio "$2" "$4")" "$6"
}
same() { # same A B: identical keys (less ferry.*) and tensor bytes
	if cmp -s "$1" "$2"; then echo identical; elif node tests/cli/gguf_digest.mjs "$1" |
		cmp -s - "$(node tests/cli/gguf_digest.mjs "$2" >"$work/d2" && echo "$work/d2")"; then
		echo "identical tensors and keys"
	else
		echo "DIFFERENT"
	fi
}

{
	echo "# ferry vs llama.cpp v0.5.0 ($(date -u +%Y-%m-%d), $(nproc) cores, 2 threads;" \
		"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
	echo "# CPU flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
		grep -E '^(avx2|fma|avx512f|avx512bw|avx512vl|sha_ni|f16c)$' | tr '\n' ' ')"
	echo "# input: $(awk -v b="$size" 'BEGIN {printf "%.2f", b / 1e9}') GB F16 ($LAYERS layers," \
		"dim 1536, ffn 4096, vocab 32000); ratio = llama.cpp ms / ferry ms"
	printf "%-22s %10s %9s %10s %9s %7s  %s\n" what llama_ms llama_MiB ferry_ms ferry_MiB ratio note
	timed sh -c "cd '$cal' && '$L/llama-imatrix' -m '$work/m.gguf' -f calibration.txt -c 128 \
		--chunks 4 -t 2 --no-ppl -o '$work/l.imatrix.gguf'"
	lms=$ms lrss=$rss_mib
	timed sh -c "cd '$cal' && '$FERRY' -q imatrix '$work/m.gguf' -f calibration.txt -c 128 \
		--chunks 4 -t 2 --no-ppl -o '$work/f.imatrix.gguf'"
	row "imatrix 4x128 tokens" "$lms" "$lrss" "$ms" "$rss_mib" \
		"$(node tests/cli/imatrix_cmp.mjs "$work/f.imatrix.gguf" "$work/l.imatrix.gguf" 1e-2 2>&1 | tail -1)"
	for t in IQ4_XS IQ3_XXS IQ2_XXS; do
		timed "$L/llama-quantize" --imatrix "$work/l.imatrix.gguf" "$work/m.gguf" "$work/l.gguf" "$t" 2
		lms=$ms lrss=$rss_mib
		timed "$FERRY" -q quant "$work/m.gguf" --type "$t" --imatrix "$work/l.imatrix.gguf" -t 2 \
			-o "$work/f.gguf"
		note=$(node tests/cli/gguf_digest.mjs "$work/l.gguf" | grep -v '^kv quantize.imatrix.file' >"$work/dl";
			node tests/cli/gguf_digest.mjs "$work/f.gguf" | grep -v '^kv quantize.imatrix.file' |
			cmp -s - "$work/dl" && echo "identical tensors and keys" || echo DIFFERENT)
		row "$t (imatrix)" "$lms" "$lrss" "$ms" "$rss_mib" "$note"
		rm -f "$work/l.gguf" "$work/f.gguf"
	done
	# split and merge keep the input's tensor order, quant writes llama.cpp's: both tools split
	# the model as llama-quantize would write it (F16 in, F16 out), so their shards can agree
	"$FERRY" -q quant "$work/m.gguf" --type F16 -o "$work/n.gguf"
	timed "$L/llama-gguf-split" --split --split-max-size 200M "$work/n.gguf" "$work/ls"
	lms=$ms lrss=$rss_mib
	timed "$FERRY" -q quant "$work/n.gguf" --type F16 --split-max-size 200M -o "$work/fs.gguf"
	n=$(ls "$work"/ls-*-of-*.gguf | wc -l)
	ok=identical
	for f in "$work"/ls-*-of-*.gguf; do
		g="$work/fs-${f##*/ls-}"
		node tests/cli/gguf_digest.mjs "$f" >"$work/d1"
		node tests/cli/gguf_digest.mjs "$g" |
			cmp -s - "$work/d1" || ok=DIFFERENT
	done
	row "split 200M ($n shards)" "$lms" "$lrss" "$ms" "$rss_mib" "shards' tensors and keys $ok"
	first=$(ls "$work"/ls-*-of-*.gguf | head -1)
	timed "$L/llama-gguf-split" --merge "$first" "$work/lm.gguf"
	lms=$ms lrss=$rss_mib
	timed "$FERRY" -q quant "$first" --type F16 -o "$work/fm.gguf"
	row "merge" "$lms" "$lrss" "$ms" "$rss_mib" "(quant --type F16 of the first shard)"
} | tee "$out"
