#!/bin/sh
# Interoperability with the npm package @huggingface/gguf: GGUF files written by ferry (synthetic
# files with every KV type and many tensor types and alignments, and a fixture rewritten through
# ferry's writer) and the GGUF fixtures written by llama.cpp/gguf-py must read the same in both.
# Files quantized by `ferry quant` (stories260K with fallbacks, a synthetic llama with K-quants)
# are read too. Environment: FERRY, MKGGUF, MKMODEL. Ends with "N passed, N failed".
set -u
FERRY=${FERRY:?set FERRY}
MKGGUF=${MKGGUF:-build/mkgguf}
MKMODEL=${MKMODEL:-build/mkmodel}
DATA=${FERRY_TEST_DATA:-tests/data}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-node-XXXXXX)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0

if ! "$MKGGUF" "$work" "$DATA/models/stories260K/stories260K.gguf"; then
	echo "node: mkgguf failed" >&2
	fail=1
fi
"$MKMODEL" llama "$work/synth.f16" 4 256 512 300 f16 || fail=1
for t in Q8_0 Q4_K_M IQ4_NL Q3_K_L; do
	"$FERRY" quant -q "$DATA/models/stories260K/stories260K.gguf" --type $t \
		-o "$work/stories-$t.gguf" 2>/dev/null || fail=1
	"$FERRY" quant -q "$work/synth.f16" --type $t -o "$work/synth-$t.gguf" 2>/dev/null || fail=1
done
"$FERRY" convert -q "$DATA/models/llama-stories260K" -o "$work/converted-f16.gguf" || fail=1
"$FERRY" convert -q "$DATA/models/qwen3-tiny" -o "$work/converted-qwen3.gguf" || fail=1
for f in "$work"/*.gguf $(find "$DATA/models" -name '*.gguf' | sort); do
	if "$FERRY" inspect --json --full "$f" >"$work/ferry.json" &&
		node "$here/compare.mjs" "$f" "$work/ferry.json"; then
		pass=$((pass + 1))
	else
		echo "FAIL: $f" >&2
		fail=$((fail + 1))
	fi
done
if cmp -s "$work/rewritten.gguf" "$DATA/models/stories260K/stories260K.gguf"; then
	pass=$((pass + 1))
else
	echo "FAIL: rewritten stories260K.gguf is not byte-identical" >&2
	fail=$((fail + 1))
fi
echo "node: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
