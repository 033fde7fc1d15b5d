#!/bin/sh
# Integration tests: drive the real ferry binary (and its ASan/UBSan build) the way a user does.
# Environment: FERRY (required), FERRY_SAN (optional, sanitizer build), MKCORPUS (corpus writer).
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -u

FERRY=${FERRY:?set FERRY to the ferry binary}
FERRY_SAN=${FERRY_SAN:-}
MKCORPUS=${MKCORPUS:-build/mkcorpus}
DATA=${FERRY_TEST_DATA:-tests/data}
work=$(mktemp -d /tmp/ferry-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

# --- the command line --------------------------------------------------------------------
run "$FERRY" --version
expect_rc 0 "--version"
expect_out "ferry " "--version prints the version"
run "$FERRY" help
expect_rc 0 "help"
expect_out "inspect" "help lists inspect"
expect_out "--store DIR" "help lists global options"
run "$FERRY" help inspect
expect_rc 0 "help inspect"
cp "$work/out" "$work/help1"
run "$FERRY" inspect --help
expect_rc 0 "inspect --help"
if cmp -s "$work/out" "$work/help1"; then ok; else bad "help inspect and inspect --help differ"; fi
expect_out "usage: ferry inspect" "inspect --help shows usage"
run "$FERRY" inspekt x
expect_rc 2 "misspelled verb"
expect_err "inspect" "did-you-mean suggestion"
run "$FERRY" frobnicate
expect_rc 2 "unknown verb"
expect_err "'frobnicate' is not a ferry verb" "unknown verb message"
run "$FERRY"
expect_rc 2 "no verb"
run "$FERRY" --bogus inspect x
expect_rc 2 "unknown global option"
run "$FERRY" inspect --bogus x
expect_rc 2 "unknown verb option"
expect_err "unknown option '--bogus'" "unknown option message"
run "$FERRY" inspect
expect_rc 2 "missing argument"
run "$FERRY" inspect a b
expect_rc 2 "extra argument"
run "$FERRY" help nosuchverb
expect_rc 2 "help for an unknown verb"
run "$FERRY" --store "$work/store" -v --no-progress inspect "$DATA/models/stories260K/stories260K.gguf"
expect_rc 0 "global options before the verb"

# --- inspect on every fixture ------------------------------------------------------------
gguf="$DATA/models/stories260K/stories260K.gguf"
run "$FERRY" inspect "$gguf"
expect_rc 0 "inspect gguf"
expect_out "format: GGUF v3" "gguf header facts"
expect_out "blk.4.ffn_norm.weight" "gguf tensor table"
expect_out "[string x 512]" "array preview"
expect_out "totals: 48 tensors" "totals"
# bytes after the last tensor: llama.cpp loads such a file, ferry too (verify warns, --strict fails)
cp "$gguf" "$work/trail.gguf"
printf 'ferry' >>"$work/trail.gguf"
run "$FERRY" inspect "$work/trail.gguf"
expect_rc 0 "inspect a GGUF file with trailing bytes"
expect_out "trailing: 5 bytes after the last tensor" "inspect says so"
run "$FERRY" run "$work/trail.gguf" -p "Once" -n 2 --temp 0
expect_rc 0 "run a GGUF file with trailing bytes"
run "$FERRY" verify "$work/trail.gguf"
expect_rc 0 "verify accepts trailing bytes"
expect_err "5 bytes after the last tensor" "verify warns about them"
run "$FERRY" verify --strict "$work/trail.gguf"
expect_rc 1 "verify --strict refuses trailing bytes"
run "$FERRY" verify --strict "$gguf"
expect_rc 0 "verify --strict on a clean file"
run "$FERRY" inspect "$gguf" --json
expect_rc 0 "inspect --json after the verb"
json_valid "$work/out" "inspect --json"
run "$FERRY" --json inspect "$gguf"
json_valid "$work/out" "--json before the verb"
run "$FERRY" -q inspect "$gguf"
expect_rc 0 "inspect -q"
if [ -s "$work/out" ]; then bad "-q printed something"; else ok; fi
run "$FERRY" inspect "$DATA/models/deepseek-v3-tiny"
expect_rc 0 "inspect a sharded checkpoint"
expect_out "DeepseekV3ForCausalLM" "config summary"
expect_out "model-00002-of-000002.safetensors" "every shard"
expect_out "F8_E4M3" "FP8 weights"

for bin in "$FERRY" $FERRY_SAN; do
	for f in $(find "$DATA/models" -name '*.gguf' -o -name '*.safetensors' | sort); do
		run "$bin" inspect "$f"
		expect_rc 0 "$(basename "$bin") inspect $f"
		run "$bin" inspect --json --full "$f"
		expect_rc 0 "$(basename "$bin") inspect --json --full $f"
	done
	for d in "$DATA"/models/*/; do
		run "$bin" -q inspect "$d"
		case "$d" in
		*tokenizer/) expect_rc 1 "tokenizer-only directory $d"
			expect_err "no safetensors or GGUF files" "$d" ;;
		*) expect_rc 0 "$(basename "$bin") inspect $d" ;;
		esac
	done
done

# --- bad input: one line on stderr naming the file, exit 1, nothing else --------------------
run "$FERRY" inspect "$work/missing.gguf"
expect_rc 1 "missing file"
expect_err "cannot open '$work/missing.gguf'" "missing file message"
printf 'hello world, not a model' >"$work/text.bin"
run "$FERRY" inspect "$work/text.bin"
expect_rc 1 "unrecognised file"
expect_err "not a safetensors or GGUF file" "unrecognised file message"
mkdir "$work/shards"
cp "$DATA/models/qwen3-moe-tiny/model-00001-of-00002.safetensors" "$work/shards/"
cp "$DATA/models/qwen3-moe-tiny/model.safetensors.index.json" "$work/shards/"
run "$FERRY" inspect "$work/shards"
expect_rc 1 "checkpoint with a missing shard"
expect_err "model-00002-of-00002.safetensors" "missing shard named"

mkdir "$work/corpus"
if ! "$MKCORPUS" "$work/corpus" 2>/dev/null; then
	bad "mkcorpus failed"
fi
for bin in "$FERRY" $FERRY_SAN; do
	tab=$(printf '\t')
	while IFS="$tab" read -r file expect; do
		run "$bin" inspect "$file"
		if [ "$expect" = VALID ]; then
			expect_rc 0 "$(basename "$bin") $file (valid)"
			continue
		fi
		lines=$(wc -l <"$work/err")
		if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$file" "$work/err" &&
			grep -qF -- "$expect" "$work/err" && [ ! -s "$work/out" ]; then
			ok
		else
			bad "$(basename "$bin") $file: exit $rc, $lines lines, wanted '$expect': $(head -c 400 "$work/err")"
		fi
	done <"$work/corpus/MANIFEST"
done

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
