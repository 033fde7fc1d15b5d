#!/bin/sh
# make bench: times `ferry inspect` on synthetic models of the same shape (10,000 tensors, a
# 150,000-token vocabulary in the GGUF) at two data sizes: about 5 MB (the baseline, run in the
# same invocation) and about 2.1 GB. Opening reads the header only (mmap), so the ratio
# big/baseline should stay near 1.0 whatever the data size. Reports the median of RUNS runs of
# validation alone (-q) and of the full listing (--json), peak RSS, and writes the results to
# bench/results/inspect.txt.
set -eu
FERRY=${1:-build/ferry}
MKBIG=${MKBIG:-build/mkbig}
RUNS=${RUNS:-7}
N=${BENCH_TENSORS:-10000}
BIG_ROWS=${BENCH_BIG_ROWS:-420}   # 256 x 420 F16 = 215,040 bytes a tensor: 2.15 GB in all
work=${BENCH_WORK:-bench/work}
out=bench/results/inspect.txt
mkdir -p "$work" bench/results
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/lib.sh"

# median_ms CMD...: the median wall time of RUNS runs, in milliseconds (3 decimals)
median_ms() {
	i=0
	: >"$work/times"
	while [ $i -lt "$RUNS" ]; do
		t0=$(now_ns)
		"$@" >/dev/null
		t1=$(now_ns)
		echo $(((t1 - t0) / 1000)) >>"$work/times"
		i=$((i + 1))
	done
	sort -n "$work/times" | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1000}'
}

rss_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

echo "bench: generating synthetic models ($N tensors each) in $work"
for fmt in gguf safetensors; do
	"$MKBIG" $fmt "$work/small.$fmt" "$N" 1
	"$MKBIG" $fmt "$work/big.$fmt" "$N" "$BIG_ROWS"
done

{
	echo "# ferry inspect: header-only cost (median of $RUNS runs; $(date -u +%Y-%m-%d), $(nproc) cores)"
	printf "%-12s %-8s %14s %12s %12s %10s %10s\n" format mode file_bytes base_ms big_ms ratio rss_kb
	for fmt in gguf safetensors; do
		sb=$(stat -c %s "$work/small.$fmt")
		bb=$(stat -c %s "$work/big.$fmt")
		for mode in validate list; do
			if [ $mode = validate ]; then set -- -q inspect; else set -- --json inspect; fi
			base=$(median_ms "$FERRY" "$@" "$work/small.$fmt")
			big=$(median_ms "$FERRY" "$@" "$work/big.$fmt")
			rss=$(rss_kb "$FERRY" "$@" "$work/big.$fmt")
			ratio=$(awk -v a="$big" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
			printf "%-12s %-8s %14s %12s %12s %10s %10s\n" $fmt $mode "$bb" "$base" "$big" "$ratio" "$rss"
		done
		echo "# $fmt baseline file: $sb bytes"
	done
} | tee "$out"
echo "bench: results in $out"
