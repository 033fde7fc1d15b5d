#!/bin/sh
# make bench (quant part): `ferry quant` on a generated llama-shaped F16 GGUF (10 layers, dim 2048,
# ffn 5632, vocab 32000: about 1.2 GB) to Q8_0, Q4_K_M and Q6_K with 1 and 2 threads: input
# GB/s, peak RSS, and the time as a ratio to sha256sum of the same file in the same run (ferry
# hashes its input for ferry.source.sha256, so 1.0 would be "as fast as hashing alone").
# Results: bench/results/quant.txt.
set -eu
FERRY=${1:-build/ferry}
MKMODEL=${MKMODEL:-build/mkmodel}
LAYERS=${QUANT_LAYERS:-10}
work=${BENCH_WORK:-bench/work}/quant
out=bench/results/quant.txt
mkdir -p "$work" bench/results
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/lib.sh"
echo "bench: generating a llama-shaped F16 model ($LAYERS layers) in $work"
"$MKMODEL" llama "$work/model-f16.gguf" "$LAYERS" 2048 5632 32000 f16
size=$(wc -c <"$work/model-f16.gguf")
t0=$(now_ns)
sha256sum "$work/model-f16.gguf" >/dev/null
sum_ms=$((($(now_ns) - t0) / 1000000))

{
	echo "# ferry quant ($(date -u +%Y-%m-%d), $(nproc) cores; input $(awk -v b="$size" 'BEGIN {printf "%.2f", b / 1e9}') GB F16; sha256sum of it: $sum_ms ms)"
	printf "%-8s %7s %9s %9s %10s %12s\n" type threads ms "GB/s" peak_MiB "x sha256sum"
	for t in Q8_0 Q4_K_M Q6_K; do
		for j in 1 2; do
			t0=$(now_ns)
			/usr/bin/time -f "%M" -o "$work/rss" "$FERRY" -q quant "$work/model-f16.gguf" \
				--type "$t" -t "$j" -o "$work/out.gguf"
			ms=$((($(now_ns) - t0) / 1000000))
			rss=$(tail -n 1 "$work/rss")
			printf "%-8s %7s %9s %9s %10s %12s\n" "$t" "$j" "$ms" \
				"$(awk -v b="$size" -v t="$ms" 'BEGIN {printf "%.3f", b / 1e9 / (t / 1000)}')" \
				"$(awk -v k="$rss" 'BEGIN {printf "%.0f", k / 1024}')" \
				"$(awk -v a="$ms" -v b="$sum_ms" 'BEGIN {printf "%.2f", a / b}')"
		done
	done
} | tee "$out"
