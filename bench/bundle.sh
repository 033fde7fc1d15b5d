#!/bin/sh
# make bench (bundle part): ferry bundle create and import against the standard tools on the same
# files in the same run (page cache warm for all):
#   bundle create --all          vs tar -I 'zstd -T0' -cf of the same objects (both zstd level 3)
#   bundle import (fresh store)  vs tar -I zstd -xf, then sha256sum of every extracted file
# The model is a synthetic llama GGUF in F16 (bench/mkmodel: normal weights, compressible as
# real F16 weights are). Ratios are baseline ms / ferry ms (above 1: ferry is faster).
# Results: bench/results/bundle.txt.
set -eu
FERRY=${1:-build/ferry}
MKMODEL=${MKMODEL:-build/mkmodel}
RUNS=${RUNS:-3}
LAYERS=${LAYERS:-4}
work=${BENCH_WORK:-bench/work}/bundle
out=bench/results/bundle.txt
mkdir -p "$work/model" bench/results
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export FERRY_HOME="$work/store"

. "$(dirname "$0")/lib.sh"
mibs() { awk -v b="$1" -v t="$2" 'BEGIN {printf "%.0f", b / 1048576 / (t / 1000)}'; }

echo "bench: a $LAYERS-layer F16 model in $work"
"$MKMODEL" llama "$work/model/model-F16.gguf" "$LAYERS" 2048 5632 32000 f16
"$FERRY" -q init
"$FERRY" -q key generate
"$FERRY" -q --no-progress add bench/model "$work/model"
"$FERRY" -q publish bench/model --force --reason "benchmark fixture" >/dev/null
bytes=$(du -bc "$work/store/objects" | tail -1 | cut -f1)

tar_create() { tar -C "$work/store/objects" -I 'zstd -T0' -cf "$work/base.tar.zst" sha256; }
fy_create() { "$FERRY" --no-progress bundle create --all -o "$work/b.ferry"; }
tar_extract() {
	rm -rf "$work/x" && mkdir "$work/x"
	tar -C "$work/x" -I zstd -xf "$work/base.tar.zst"
	find "$work/x" -type f -exec sha256sum {} +
}
fy_import() {
	rm -rf "$work/site"
	FERRY_HOME="$work/site" "$FERRY" -q init
	FERRY_HOME="$work/site" "$FERRY" -q key trust "$work/store/keys/signing.pub"
	FERRY_HOME="$work/site" "$FERRY" --no-progress bundle import "$work/b.ferry"
}

c_tar=$(best_ms tar_create)
c_fy=$(best_ms fy_create)
x_tar=$(best_ms tar_extract)
x_fy=$(best_ms fy_import)
fy_import >/dev/null && FERRY_HOME="$work/site" "$FERRY" -q fsck

{
	echo "# ferry bundle throughput ($(date -u +%Y-%m-%d), $(nproc) cores, best of $RUNS, $(awk -v b="$bytes" 'BEGIN {printf "%.0f", b / 1048576}') MiB of objects; ratio = baseline ms / ferry ms)"
	printf "%-44s %10s %10s %8s\n" case baseline_ms ferry_ms ratio
	printf "%-44s %10s %10s %8s\n" "create vs tar -I 'zstd -T0' -c" "$c_tar" "$c_fy" "$(ratio "$c_tar" "$c_fy")"
	printf "%-44s %10s %10s %8s\n" "import vs tar -I zstd -x + sha256sum" "$x_tar" "$x_fy" "$(ratio "$x_tar" "$x_fy")"
	echo "# create: tar+zstd $(mibs "$bytes" "$c_tar") MiB/s, ferry $(mibs "$bytes" "$c_fy") MiB/s; import: tar+sha256sum $(mibs "$bytes" "$x_tar") MiB/s, ferry $(mibs "$bytes" "$x_fy") MiB/s"
	echo "# sizes: tar.zst $(stat -c %s "$work/base.tar.zst") bytes, bundle $(stat -c %s "$work/b.ferry") bytes"
} | tee "$out"
