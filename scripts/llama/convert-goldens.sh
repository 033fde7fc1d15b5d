#!/bin/sh
# Refreshes tests/data/golden/convert: llama.cpp v0.5.0's convert_hf_to_gguf.py (through
# scripts/llama/convert.sh) on the fixtures it can run on with Debian's packages, each output
# recorded as its digest (tests/cli/gguf_digest.mjs). tests/cli/convert.sh compares ferry's
# conversions with them.
set -eu
out=${1:-tests/data/golden/convert}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for c in "llama-stories260K f32"; do
	set -- $c
	"$here/convert.sh" "$root/tests/data/models/$1" "$work/o.gguf" --outtype "$2" \
		>"$work/log" 2>&1 || { tail -5 "$work/log" >&2; exit 1; }
	node "$root/tests/cli/gguf_digest.mjs" "$work/o.gguf" >"$out/$1-$2.digest"
done
echo "$out: $(ls "$out" | grep -c digest) digests"
