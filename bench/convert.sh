#!/bin/sh
# make bench (convert part): `ferry convert` on a generated llama-shaped HF checkpoint (dim 2048,
# ffn 5632, vocab 32000, CONVERT_LAYERS layers, default 22: about 2.5 GB of F16 safetensors, made
# by mkmodel and `ferry convert --to safetensors`). Times HF -> GGUF f16, bf16 and q8_0 and
# GGUF -> HF against `cp` of the same bytes in the same run (ratio = cp time / ferry time: 1.0 is
# as fast as copying; the goal for f16 -> f16 is >= 0.5), and the peak RSS of each (goal: below
# 300 MB whatever the model's size). Results: bench/results/convert.txt.
set -eu
FERRY=${1:-build/ferry}
MKMODEL=${MKMODEL:-build/mkmodel}
LAYERS=${CONVERT_LAYERS:-22}
work=${BENCH_WORK:-bench/work}/convert
out=bench/results/convert.txt
mkdir -p "$work" bench/results
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/lib.sh"

echo "bench: generating a llama-shaped F16 checkpoint ($LAYERS layers) in $work"
"$MKMODEL" llama "$work/gen.gguf" "$LAYERS" 2048 5632 32000 f16
"$FERRY" -q convert "$work/gen.gguf" -o "$work/hf" --outtype f16
rm -f "$work/gen.gguf"
size=$(du -cb "$work/hf"/* | tail -n 1 | cut -f1)
cp_ms=$(cp_ms "$work/hf")
row() { conv_row 22 "$@"; }

{
	echo "# ferry convert ($(date -u +%Y-%m-%d), $(nproc) cores; $(awk -v b="$size" 'BEGIN {printf "%.2f", b / 1e9}') GB F16 checkpoint, $LAYERS layers; cp -r of it: $cp_ms ms)"
	printf "%-22s %9s %8s %10s %9s\n" conversion ms "GB/s" peak_MiB "cp/ferry"
	for t in f16 bf16 q8_0; do
		t0=$(now_ns)
		/usr/bin/time -f "%M" -o "$work/rss" "$FERRY" -q convert "$work/hf" -o "$work/out.gguf" --outtype $t
		sync
		row "HF -> GGUF $t" "$(ms_since "$t0")" "$(tail -n 1 "$work/rss")"
		[ $t = f16 ] && mv "$work/out.gguf" "$work/f16.gguf"
		rm -f "$work/out.gguf"
	done
	t0=$(now_ns)
	/usr/bin/time -f "%M" -o "$work/rss" "$FERRY" -q convert "$work/f16.gguf" -o "$work/back" --outtype f16
	sync
	row "GGUF f16 -> HF f16" "$(ms_since "$t0")" "$(tail -n 1 "$work/rss")"
} | tee "$out"
