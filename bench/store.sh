#!/bin/sh
# make bench (store part): ferry's hashing and import against the tools people use, on the same
# files in the same run (page cache warm for all):
#   verify of one 1 GiB file          vs sha256sum, openssl dgst -sha256     (goal >= 0.95x openssl)
#   verify of 4 x 256 MiB files (-j)  vs openssl on them one after another    (goal >= 1.8x on 2 cores)
#   add of the 4 x 256 MiB folder     vs cp -r of it                          (goal >= 0.8x)
# Ratios are throughput ratios (baseline time / ferry time: above 1 means ferry is faster).
# Results: bench/results/store.txt.
set -eu
FERRY=${1:-build/ferry}
RUNS=${RUNS:-3}
work=${BENCH_WORK:-bench/work}/store
out=bench/results/store.txt
mkdir -p "$work" bench/results
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export FERRY_HOME="$work/store"

. "$(dirname "$0")/lib.sh"
openssl_each() { for f in "$@"; do openssl dgst -sha256 "$f"; done; }
fresh_add() {
	rm -rf "$FERRY_HOME"
	"$FERRY" -q init
	"$FERRY" -q --no-progress add bench/four "$work/four"
}
fresh_cp() {
	rm -rf "$work/copy"
	cp -r "$work/four" "$work/copy"
	sync -f "$work/copy/f0.dat"
}

echo "bench: writing 1 GiB + 4 x 256 MiB of random data in $work"
mkdir -p "$work/one" "$work/four"
head -c 1073741824 /dev/urandom >"$work/one/weights.dat"
for i in 0 1 2 3; do head -c 268435456 /dev/urandom >"$work/four/f$i.dat"; done
"$FERRY" -q init
"$FERRY" -q --no-progress add bench/one "$work/one"
"$FERRY" -q --no-progress add bench/four "$work/four"

one_sum=$(best_ms sha256sum "$work/one/weights.dat")
one_ssl=$(best_ms openssl dgst -sha256 "$work/one/weights.dat")
one_fy=$(best_ms "$FERRY" verify bench/one)
four_ssl=$(best_ms openssl_each "$work"/four/f*.dat)
four_fy=$(best_ms "$FERRY" verify -j 2 bench/four)
cp_ms=$(best_ms fresh_cp)
add_ms=$(best_ms fresh_add)

{
	echo "# ferry store throughput ($(date -u +%Y-%m-%d), $(nproc) cores, best of $RUNS; ratio = baseline ms / ferry ms)"
	printf "%-34s %10s %10s %8s\n" case baseline_ms ferry_ms ratio
	printf "%-34s %10s %10s %8s\n" "verify 1 GiB vs sha256sum" "$one_sum" "$one_fy" "$(ratio "$one_sum" "$one_fy")"
	printf "%-34s %10s %10s %8s\n" "verify 1 GiB vs openssl" "$one_ssl" "$one_fy" "$(ratio "$one_ssl" "$one_fy")"
	printf "%-34s %10s %10s %8s\n" "verify 4x256 MiB vs openssl x4" "$four_ssl" "$four_fy" "$(ratio "$four_ssl" "$four_fy")"
	printf "%-34s %10s %10s %8s\n" "add 4x256 MiB vs cp -r" "$cp_ms" "$add_ms" "$(ratio "$cp_ms" "$add_ms")"
	echo "# sha256 throughput: openssl $(awk -v t="$one_ssl" 'BEGIN {printf "%.0f", 1024 / (t / 1000)}') MiB/s, ferry verify $(awk -v t="$one_fy" 'BEGIN {printf "%.0f", 1024 / (t / 1000)}') MiB/s"
	grep -q sha_ni /proc/cpuinfo && echo "# CPU has SHA-NI" || echo "# CPU has no SHA-NI (OpenSSL uses its AVX2/SSSE3 SHA-256)"
} | tee "$out"
