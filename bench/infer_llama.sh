#!/bin/sh
# make bench (engine part): ferry's reference engine against llama.cpp v0.5.0 (the release
# node-llama-cpp@3.22.1 carries; scripts/llama/build.sh builds it CPU-only, cached), in the same
# run on the same GGUF files:
#   - llama-bench against infer_speed: prompt processing (one batch of PP tokens) and generation
#     (TG tokens one at a time), tokens/s, 1 and 2 threads, for F16, BF16, Q8_0, Q4_K_M and IQ4_XS
#     of generated llamas (~0.5B: 16 layers 1536 wide; ~1B: 20 layers 2048 wide; random weights).
#     ferry is measured with activations rounded to 8-bit blocks (q8, `ferry run`'s default, as
#     llama.cpp computes) and never rounded (f32, what the gate measures with);
#   - `ferry smoke` of the ~0.5B Q4_K_M against its F16 against llama-perplexity's KL-divergence
#     workflow (--kl-divergence-base on the F16, then --kl-divergence on the Q4_K_M) on the same
#     text, 2 windows of 512 tokens, 2 threads.
# Ratios are ferry / llama.cpp (higher is better for ferry). Results: bench/results/infer_llama.txt.
# INFER_LLAMA_SIZES (default "0.5B 1B"), INFER_LLAMA_TYPES, INFER_LLAMA_THREADS ("1 2"),
# INFER_LLAMA_PP (128), INFER_LLAMA_TG (32) narrow or widen the table.
set -eu
FERRY=${1:-build/ferry}
MKMODEL=${MKMODEL:-build/mkmodel}
SPEED=${INFER_SPEED:-build/infer_speed}
SIZES=${INFER_LLAMA_SIZES:-0.5B 1B}
TYPES=${INFER_LLAMA_TYPES:-F16 BF16 Q8_0 Q4_K_M IQ4_XS}
THREADS=${INFER_LLAMA_THREADS:-1 2}
PP=${INFER_LLAMA_PP:-128}
TG=${INFER_LLAMA_TG:-32}
work=${BENCH_WORK:-bench/work}/infer_llama
out=bench/results/infer_llama.txt
mkdir -p "$work" bench/results
trap 'rm -rf "$work"' EXIT

llama=$(sh "$(dirname "$0")/../scripts/llama/build.sh" llama-bench llama-perplexity | tail -n 1)/bin
. "$(dirname "$0")/lib.sh"

# lb MODEL THREADS: llama-bench's prompt and generation tokens/s ("PP TG")
lb() {
	"$llama/llama-bench" -m "$1" -t "$2" -p "$PP" -n "$TG" -r 2 -o csv 2>/dev/null |
		awk -F, 'NR > 1 {gsub(/"/, "", $(NF - 1)); v = v " " $(NF - 1)} END {print v}'
}
# fs MODEL THREADS MODE: infer_speed's best of two ("PP TG")
fs() {
	a=$("$SPEED" "$1" "$2" "$PP" "$TG" "$3")
	b=$("$SPEED" "$1" "$2" "$PP" "$TG" "$3")
	echo "$a
$b" | awk '{if ($2 > p) p = $2; if ($4 > g) g = $4} END {print p, g}'
}

cpu=$(grep -m 1 'model name' /proc/cpuinfo | sed 's/.*: //')
flags=$(grep -m 1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
	grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|avx_vnni|sha_ni)$' |
	tr '\n' ' ')
{
	echo "# ferry engine vs llama.cpp v0.5.0 ($(date -u +%Y-%m-%d); $cpu, $(nproc) cores; $flags)"
	echo "# tokens/s: pp = a $PP-token prompt, tg = $TG generated tokens; ratio = ferry / llama.cpp"
	printf "%-14s %3s %9s %9s %9s %6s %6s %9s %9s %9s %6s %6s\n" model thr \
		"pp-llama" "pp-q8" "pp-f32" "q8/l" "f32/l" "tg-llama" "tg-q8" "tg-f32" "q8/l" "f32/l"
} | tee "$out"

for size in $SIZES; do
	case $size in
	0.5B) shape="16 1536 4096" ;;
	1B) shape="20 2048 5632" ;;
	*) echo "infer_llama.sh: unknown size $size" >&2 && exit 2 ;;
	esac
	# shellcheck disable=SC2086
	"$MKMODEL" llama "$work/$size-F16.gguf" $shape 32000 f16
	for t in $TYPES; do
		f=$work/$size-$t.gguf
		[ "$t" = F16 ] || "$FERRY" -q quant "$work/$size-F16.gguf" --type "$t" -o "$f"
		for j in $THREADS; do
			set -- $(lb "$f" "$j")
			lpp=$1 ltg=$2
			set -- $(fs "$f" "$j" q8)
			qpp=$1 qtg=$2
			set -- $(fs "$f" "$j" f32)
			fpp=$1 ftg=$2
			printf "%-14s %3s %9.1f %9.1f %9.1f %6s %6s %9.1f %9.1f %9.1f %6s %6s\n" \
				"$size $t" "$j" "$lpp" "$qpp" "$fpp" "$(ratio "$qpp" "$lpp")" \
				"$(ratio "$fpp" "$lpp")" "$ltg" "$qtg" "$ftg" "$(ratio "$qtg" "$ltg")" \
				"$(ratio "$ftg" "$ltg")" | tee -a "$out"
		done
	done
done

# the gate against llama-perplexity's KL workflow on the ~0.5B pair
size=$(echo "$SIZES" | awk '{print $1}')
if [ -f "$work/$size-Q4_K_M.gguf" ]; then
	cat docs/DESIGN.md docs/INFER.md docs/QUANT.md >"$work/text.txt"
	t0=$(now_ns)
	"$llama/llama-perplexity" -m "$work/$size-F16.gguf" -f "$work/text.txt" -c 512 --chunks 2 \
		-t 2 --kl-divergence-base "$work/base.kld" >"$work/lp1.txt" 2>&1
	"$llama/llama-perplexity" -m "$work/$size-Q4_K_M.gguf" -f "$work/text.txt" -c 512 --chunks 2 \
		-t 2 --kl-divergence-base "$work/base.kld" --kl-divergence >"$work/lp2.txt" 2>&1
	lms=$(ms_since "$t0")
	t0=$(now_ns)
	"$FERRY" smoke "$work/$size-Q4_K_M.gguf" --ref "$work/$size-F16.gguf" --text "$work/text.txt" \
		-c 512 --max-tokens 1024 -n 0 -t 2 >"$work/smoke.txt" 2>&1 || true
	fms=$(ms_since "$t0")
	{
		echo "# smoke $size Q4_K_M vs F16, 2 x 512 tokens, 2 threads: ferry $fms ms," \
			"llama-perplexity (base + KL) $lms ms: ratio $(ratio "$lms" "$fms")"
		echo "#   ferry: $(grep -E '^KL' "$work/smoke.txt")"
		echo "#   llama: $(grep -E 'Mean +KLD' "$work/lp2.txt" | tr -s ' ')"
	} | tee -a "$out"
fi
