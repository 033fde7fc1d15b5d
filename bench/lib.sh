# Shared helpers of the benchmark scripts (sourced): timing and ratios.
now_ns() { date +%s%N; }
# ms_since T0_NS: milliseconds since now_ns gave T0_NS
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
# best_ms CMD...: the fastest of $RUNS runs (default 3), in milliseconds
best_ms() {
	best=0
	i=0
	while [ $i -lt "${RUNS:-3}" ]; do
		t0=$(now_ns)
		"$@" >/dev/null 2>&1
		t=$((($(now_ns) - t0) / 1000000))
		if [ $best -eq 0 ] || [ $t -lt $best ]; then best=$t; fi
		i=$((i + 1))
	done
	echo $best
}
# ratio A B: A / B with two decimals (0 when B is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
# cp_ms DIR: milliseconds of `cp -r DIR` (synced before and after; the copy is removed): the
# baseline a conversion of DIR is compared with
cp_ms() {
	sync
	_t0=$(now_ns)
	cp -r "$1" "$1-copy"
	sync
	ms_since "$_t0"
	rm -rf "$1-copy"
}
# conv_row WIDTH LABEL MS RSS_KB: a conversion's row: ms, GB/s of $size bytes, peak MiB, and
# $cp_ms / MS
conv_row() {
	printf "%-${1}s %9s %8s %10s %9s\n" "$2" "$3" \
		"$(awk -v b="$size" -v t="$3" 'BEGIN {printf "%.3f", b / 1e9 / (t / 1000)}')" \
		"$(awk -v k="$4" 'BEGIN {printf "%.0f", k / 1024}')" "$(ratio "$cp_ms" "$3")"
}
