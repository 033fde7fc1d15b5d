#!/bin/sh
# Folds what long fuzzing runs found (build/fuzz/corpus-<name>/) into the committed seeds: the
# inputs that add coverage beyond tests/fuzz/<name>/ (libFuzzer's -merge=1, which keeps the
# smallest such set) go into tests/fuzz/<name>/found/, which libFuzzer reads with the named
# seeds. The next run, on any machine, starts from the coverage this one reached.
# Usage: sh tests/fuzz/merge.sh BIN...   Prints per target the inputs added.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export ASAN_OPTIONS="detect_leaks=0"
for bin in "$@"; do
	short=$(basename "$bin")
	short=${short#fuzz_}
	grown=build/fuzz/corpus-$short
	[ -d "$grown" ] || continue
	base=$(mktemp -d build/fuzz/merge-XXXXXX)
	find "$here/$short" -type f -exec cp {} "$base/" \;
	ls "$base" >"$base.before"
	"$bin" -merge=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 "$base" "$grown" \
		>"build/fuzz/merge-$short.log" 2>&1
	mkdir -p "$here/$short/found"
	added=0
	for f in "$base"/*; do
		if ! grep -qxF "$(basename "$f")" "$base.before"; then
			cp "$f" "$here/$short/found/"
			added=$((added + 1))
		fi
	done
	rm -rf "$base" "$base.before"
	echo "fuzz merge: $short: $added inputs added ($(ls "$here/$short/found" | wc -l) in found/," \
		"$(du -sh "$here/$short" | cut -f1) in all)"
done
