#!/bin/sh
# make bench (infer part): ferry's reference engine as llama-bench measures one: prompt
# processing (a 512-token batch) and generation (128 tokens) in tokens/s with 1 and 2 threads, on
# qwen2-shakespeare (F32, Q8_0, Q4_K_M) and on a generated llama-shaped ~1B-parameter model in
# Q4_K_M (random weights: memory-bound figures), then the wall time of `ferry smoke` on that
# Q4_K_M against its F16 source. The baseline, measured in the same run: reading the model file
# from the page cache (cat); "x cat" is the generation's weight-read rate (file bytes x tokens/s)
# over cat's rate. Results: bench/results/infer.txt.
set -eu
FERRY=${1:-build/ferry}
MKMODEL=${MKMODEL:-build/mkmodel}
SPEED=${INFER_SPEED:-build/infer_speed}
LAYERS=${INFER_LAYERS:-20}
DATA=${FERRY_TEST_DATA:-tests/data}
work=${BENCH_WORK:-bench/work}/infer
out=bench/results/infer.txt
mkdir -p "$work" bench/results
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/lib.sh"
# cat_rate FILE: GB/s of reading FILE from the page cache (second read)
cat_rate() {
	cat "$1" >/dev/null
	t0=$(now_ns)
	cat "$1" >/dev/null
	awk -v b="$(wc -c <"$1")" -v t="$(($(now_ns) - t0))" 'BEGIN {printf "%.2f", b / t}'
}
row() { # row NAME FILE THREADS CAT_GBPS
	res=$($SPEED "$2" "$3" 512 128)
	pp=$(echo "$res" | awk '{print $2}')
	tg=$(echo "$res" | awk '{print $4}')
	size=$(wc -c <"$2")
	printf "%-26s %7s %10s %10s %9s %8s\n" "$1" "$3" "$pp" "$tg" \
		"$(awk -v b="$size" -v r="$tg" 'BEGIN {printf "%.2f", b * r / 1e9}')" \
		"$(awk -v b="$size" -v r="$tg" -v c="$4" 'BEGIN {printf "%.3f", b * r / 1e9 / c}')"
}

echo "bench: converting and quantizing qwen2-shakespeare; generating a $LAYERS-layer llama in $work"
"$FERRY" -q convert "$DATA/models/qwen2-shakespeare" -o "$work/q2-F32.gguf" --outtype f32
for t in Q8_0 Q4_K_M; do "$FERRY" -q quant "$work/q2-F32.gguf" --type $t -o "$work/q2-$t.gguf"; done
"$MKMODEL" llama "$work/big-F16.gguf" "$LAYERS" 2048 5632 32000 f16
"$FERRY" -q quant "$work/big-F16.gguf" --type Q4_K_M -o "$work/big-Q4_K_M.gguf"
params=$("$FERRY" inspect --json "$work/big-F16.gguf" |
	node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const d=JSON.parse(s);
console.log((d.tensors.reduce((a,t)=>a+t.shape.reduce((x,y)=>x*y,1),0)/1e9).toFixed(2))})')

{
	echo "# ferry infer ($(date -u +%Y-%m-%d), $(nproc) cores, kernels: $($SPEED "$work/q2-Q8_0.gguf" 1 1 1 | awk '{print $6}'))"
	echo "# pp: 512-token prompt, tg: 128 generated tokens (tokens/s); GB/s: file bytes x tg"
	printf "%-26s %7s %10s %10s %9s %8s\n" model threads pp tg "GB/s" "x cat"
	for t in F32 Q8_0 Q4_K_M; do
		c=$(cat_rate "$work/q2-$t.gguf")
		for j in 1 2; do row "qwen2-shakespeare $t" "$work/q2-$t.gguf" $j $c; done
	done
	c=$(cat_rate "$work/big-Q4_K_M.gguf")
	for j in 1 2; do row "llama ${params}B Q4_K_M" "$work/big-Q4_K_M.gguf" $j $c; done
	echo "# cat of the ${params}B Q4_K_M file from the page cache: $c GB/s"
	t0=$(now_ns)
	/usr/bin/time -f "%M" -o "$work/rss" "$FERRY" smoke "$work/big-Q4_K_M.gguf" \
		--ref "$work/big-F16.gguf" --max-tokens 512 --sample 8 >"$work/smoke.txt" 2>&1 || true
	ms=$((($(now_ns) - t0) / 1000000))
	echo "# ferry smoke ${params}B Q4_K_M vs its F16 (512 tokens, windows of 256, 2 threads):" \
		"$ms ms, peak RSS $(awk -v k="$(tail -n 1 "$work/rss")" 'BEGIN {printf "%.0f", k / 1024}') MiB;" \
		"$(grep -E "^(KL|gate)" "$work/smoke.txt" | tr '\n' ' ')"
} | tee "$out"
