#!/bin/sh
# Integration tests of `ferry quant` with the real binary (and its sanitizer build): the tensor
# bytes of quantized files against llama.cpp's reference test vectors, mixtures on synthetic
# models, fallbacks on stories260K, thread-count invariance, bad input, store mode with lineage.
# Environment: FERRY, FERRY_SAN (optional), MKMODEL. Ends with "N passed, N failed".
set -u

FERRY=${FERRY:?set FERRY}
FERRY_SAN=${FERRY_SAN:-}
MKMODEL=${MKMODEL:-build/mkmodel}
DATA=${FERRY_TEST_DATA:-tests/data}
VEC=$DATA/testvectors/quant
STORIES=$DATA/models/stories260K/stories260K.gguf
export SOURCE_DATE_EPOCH=1700000000

work=$(mktemp -d /tmp/ferry-quant-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

# --- tensor bytes against the reference quantizers -----------------------------------------
# A one-tensor model holding the 48 x 512 test-vector rows; --pure gives every row the type.
"$MKMODEL" rows "$work/vec.gguf" "$VEC/input.f32" 48 512 || bad "mkmodel rows"
# tail -c: the tensor is the file's last bytes (every size here is a multiple of 32). --pure
# gives every row the mixture's base type (MXFP4_MOE: MXFP4 on a 2-d tensor is the Q8_0 rule,
# so MXFP4 is tried through the goldens below).
for pair in Q4_0:q4_0 Q4_1:q4_1 Q5_0:q5_0 Q5_1:q5_1 Q8_0:q8_0 Q2_K:q2_k Q3_K_S:q3_k \
	Q4_K_S:q4_k Q5_K_S:q5_k Q6_K:q6_k IQ4_NL:iq4_nl IQ4_XS:iq4_xs TQ1_0:tq1_0 TQ2_0:tq2_0 \
	Q1_0:q1_0 Q2_0:q2_0; do
	t=${pair%%:*}
	f=${pair#*:}
	run "$FERRY" quant "$work/vec.gguf" --type "$t" --pure -o "$work/vec-$t.gguf"
	expect_rc 0 "quant --pure $t"
	size=$(wc -c <"$VEC/$f.q")
	if tail -c "$size" "$work/vec-$t.gguf" | cmp -s - "$VEC/$f.q"; then ok; else
		bad "$t: tensor bytes differ from llama-quantize's ($f.q)"
	fi
done
# F16 and BF16 conversions
for pair in F16:f16.bin BF16:bf16.bin; do
	t=${pair%%:*}
	run "$FERRY" quant "$work/vec.gguf" --type "$t" -o "$work/vec-$t.gguf"
	if tail -c 49152 "$work/vec-$t.gguf" | cmp -s - "$VEC/${pair#*:}"; then ok; else
		bad "$t conversion differs from ${pair#*:}"
	fi
done

# --- mixtures on a synthetic 8-layer model ---------------------------------------------------
"$MKMODEL" llama "$work/m8.gguf" 8 256 512 300 f16 || bad "mkmodel llama"
run "$FERRY" quant "$work/m8.gguf" --type Q4_K_M --dry-run --json
expect_rc 0 "quant --dry-run --json"
json_valid "$work/out" "plan JSON"
for part in attn_v ffn_down; do
	got=$(node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const t = j.tensors.filter(x => x.name.endsWith(process.argv[2] + ".weight"))
	.sort((a, b) => parseInt(a.name.split(".")[1]) - parseInt(b.name.split(".")[1]));
console.log(t.map(x => x.to).join(","));' "$work/out" "$part")
	want=Q6_K,Q4_K,Q4_K,Q6_K,Q4_K,Q4_K,Q6_K,Q6_K
	if [ "$got" = "$want" ]; then ok; else bad "Q4_K_M $part: $got, want $want"; fi
done
[ ! -e "$work/m8-Q4_K_M.gguf" ] && ok || bad "--dry-run wrote a file"
run "$FERRY" quant "$work/m8.gguf" --type Q4_K_M -v
expect_rc 0 "quant Q4_K_M (default output name)"
[ -f "$work/m8-Q4_K_M.gguf" ] && ok || bad "default output name m8-Q4_K_M.gguf"
expect_err "output.weight" "-v lists tensors"
run "$FERRY" inspect --json "$work/m8-Q4_K_M.gguf"
expect_rc 0 "inspect the output"
expect_out '"general.file_type"' "file_type written"
expect_out '"ferry.source.sha256"' "provenance key"
run "$FERRY" verify --deep "$work/m8-Q4_K_M.gguf"
expect_rc 0 "verify --deep the output"

# --- the same bytes whatever the thread count -------------------------------------------------
for t in 1 3 8; do
	run "$FERRY" quant "$work/m8.gguf" --type Q5_K_M -t $t -o "$work/t$t.gguf"
	expect_rc 0 "quant -t $t"
done
cmp -s "$work/t1.gguf" "$work/t3.gguf" && cmp -s "$work/t1.gguf" "$work/t8.gguf" && ok ||
	bad "output depends on the thread count"

# --- fallbacks on stories260K (rows of 64 and 172) -----------------------------------------
run "$FERRY" quant "$STORIES" --type Q4_K_M -o "$work/s.gguf"
expect_rc 0 "stories260K Q4_K_M"
expect_err "written as Q5_0" "Q4_K -> Q5_0 reported"
expect_err "written as F16" "ffn_down (172) -> F16 reported"
run "$FERRY" quant "$STORIES" --type Q4_0 -o "$work/s40.gguf" --json
expect_rc 0 "stories260K Q4_0"
grep -q '"name": "blk.0.ffn_down.weight",' "$work/out" && grep -A3 '"blk.0.ffn_down.weight"' "$work/out" | grep -q '"to": "F16"' && ok ||
	bad "legacy type falls back to F16 on a row of 172"
run "$FERRY" quant "$STORIES" --type Q8_0 --leave-output-tensor --token-embedding-type F16 \
	--tensor-type 'blk\.[0-2]\.attn_q=Q4_1' -o "$work/so.gguf" --json
expect_rc 0 "overrides"
node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const by = Object.fromEntries(j.tensors.map(x => [x.name, x.to]));
const ok = by["output.weight"] === "F32" && by["token_embd.weight"] === "F16" &&
	by["blk.1.attn_q.weight"] === "Q4_1" && by["blk.3.attn_q.weight"] === "Q8_0";
process.exit(ok ? 0 : 1);' "$work/out" && ok || bad "overrides not applied"

# --- every file type against llama-quantize v0.5.0 (tests/data/golden/quant) ------------------
# Each digest is llama-quantize's output for one input and type (scripts/llama/quant-goldens.sh):
# ferry's output must have the same keys (less ferry.*) and the same tensor bytes.
GOLD=$DATA/golden/quant
cp "$STORIES" "$work/g-stories260K.gguf"
"$MKMODEL" llama "$work/g-llama8.gguf" 8 256 512 300 f16
"$FERRY" convert "$DATA/models/qwen3-moe-tiny" -o "$work/g-qwen3moe.gguf" >/dev/null
"$FERRY" convert "$DATA/models/deepseek-v3-tiny" -o "$work/g-deepseek2.gguf" >/dev/null
"$FERRY" convert "$DATA/models/glm4moe-tiny" -o "$work/g-glm4moe.gguf" >/dev/null
"$FERRY" convert "$DATA/models/minimax-m2-tiny" -o "$work/g-minimax-m2.gguf" >/dev/null
"$FERRY" convert "$DATA/models/deepseek-v32-tiny" -o "$work/g-deepseek32.gguf" >/dev/null
"$FERRY" convert "$DATA/models/glm4-tiny" -o "$work/g-glm4.gguf" >/dev/null
"$FERRY" convert "$DATA/models/deepseek-v4-tiny" -o "$work/g-deepseek4.gguf" >/dev/null
"$FERRY" convert "$DATA/models/qwen3-next-tiny" -o "$work/g-qwen3next.gguf" >/dev/null
"$FERRY" convert "$DATA/models/qwen35-tiny" -o "$work/g-qwen35.gguf" >/dev/null
"$FERRY" convert "$DATA/models/qwen35moe-tiny" -o "$work/g-qwen35moe.gguf" >/dev/null
"$FERRY" convert "$DATA/models/minimax-m1-tiny" -o "$work/g-minimax01.gguf" >/dev/null
"$FERRY" convert "$DATA/models/kimi-linear-tiny" -o "$work/g-kimilinear.gguf" >/dev/null
while read -r sum m; do
	if [ "$(sha256sum <"$work/g-$m.gguf" | cut -c1-64)" = "$sum" ]; then ok; else
		bad "golden input $m is not the one the goldens were made from (refresh them)"
	fi
done <"$GOLD/inputs.txt"
for d in "$GOLD"/*.digest; do
	b=$(basename "$d" .digest)
	m=${b%-*}
	t=${b##*-}
	allow= # DeepSeek-V4's conversion holds Q8_0 and MXFP4 tensors (quant-goldens.sh)
	[ "$m" != deepseek4 ] || allow=--allow-requantize
	"$FERRY" quant "$work/g-$m.gguf" --type "$t" $allow -o "$work/g-out.gguf" >"$work/out" 2>"$work/err"
	if [ $? -eq 0 ] && node tests/cli/gguf_digest.mjs "$work/g-out.gguf" | cmp -s - "$d"; then ok; else
		bad "$m $t: differs from llama-quantize's output ($(head -c 200 "$work/err"))"
	fi
	rm -f "$work/g-out.gguf"
done
# split outputs: what llama-gguf-split --split makes of llama-quantize's output, shard by shard
while read -r m t opt val n; do
	rm -f "$work"/g-sp*.gguf
	"$FERRY" quant "$work/g-$m.gguf" --type "$t" "--$opt" "$val" -o "$work/g-sp.gguf" \
		>"$work/out" 2>"$work/err" || bad "$m $t --$opt $val: $(head -c 200 "$work/err")"
	[ "$(ls "$work"/g-sp-*-of-*.gguf 2>/dev/null | wc -l)" -eq "$n" ] && ok ||
		bad "$m $t --$opt $val: not $n shards"
	k=1
	for f in "$work"/g-sp-*-of-*.gguf; do
		node tests/cli/gguf_digest.mjs "$f" | cmp -s - "$GOLD/split/$m-$t-$opt-$val-$k.digest" &&
			ok || bad "$m $t --$opt $val: shard $k differs from llama-gguf-split's"
		k=$((k + 1))
	done
	# the shards read back as one model: the same tensors as the unsplit output
	"$FERRY" quant "$work/g-$m.gguf" --type "$t" -o "$work/g-one.gguf" >/dev/null 2>&1
	run "$FERRY" inspect "$work/g-sp-00002-of-$(printf %05d "$n").gguf" --json
	expect_rc 0 "inspect a shard of $m $t"
	node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
process.exit(j.split.count === Number(process.argv[2]) ? 0 : 1);' "$work/out" "$n" 2>/dev/null &&
		ok || bad "$m $t: inspect does not show the split set"
done <"$GOLD/split/cases.txt"

# with an importance matrix made by llama-imatrix (GGUF and .dat): run from $GOLD, where the
# matrix's name as given (imatrix/MODEL.gguf) is what llama-quantize recorded
FERRY_ABS=$(cd "$(dirname "$FERRY")" && pwd)/$(basename "$FERRY")
while read -r m t f; do
	(cd "$GOLD" && "$FERRY_ABS" quant "$work/g-$m.gguf" --type "$t" --imatrix "imatrix/$m.$f" \
		-o "$work/g-im.gguf") >"$work/out" 2>"$work/err"
	if [ $? -eq 0 ] && node tests/cli/gguf_digest.mjs "$work/g-im.gguf" |
		cmp -s - "$GOLD/imatrix/$m-$t-$f.digest"; then ok; else
		bad "$m $t --imatrix ($f): differs from llama-quantize's output ($(head -c 200 "$work/err"))"
	fi
	rm -f "$work/g-im.gguf"
done <"$GOLD/imatrix/cases.txt"
# the lattice i-quants' neighbour search without AVX2 (FERRY_SIMD=scalar; above, the AVX2 one
# where the CPU has it): the same bytes
grep -E '^llama8 IQ[123]_' "$GOLD/imatrix/cases.txt" >"$work/lattice-cases"
while read -r m t f; do
	(cd "$GOLD" && FERRY_SIMD=scalar "$FERRY_ABS" quant "$work/g-$m.gguf" --type "$t" \
		--imatrix "imatrix/$m.$f" -o "$work/g-im.gguf") >"$work/out" 2>"$work/err"
	if [ $? -eq 0 ] && node tests/cli/gguf_digest.mjs "$work/g-im.gguf" |
		cmp -s - "$GOLD/imatrix/$m-$t-$f.digest"; then ok; else
		bad "$m $t --imatrix, scalar search: differs from llama-quantize's output"
	fi
	rm -f "$work/g-im.gguf"
done <"$work/lattice-cases"
# llama-quantize's other options (--override-kv, --prune-layers, --include/--exclude-weights,
# --keep-split), run from $GOLD as they were recorded; llama8s is llama8 split as the script split
# it; ferry's own keys (ferry.*) aside
"$FERRY" -q quant "$work/g-llama8.gguf" --type F16 --split-max-tensors 30 -o "$work/g-llama8s.gguf"
nofy() { node tests/cli/gguf_digest.mjs "$1" | grep -v '^kv ferry\.'; }
while read -r name m t opts; do
	in=$work/g-$m.gguf
	[ "$m" = llama8s ] && in=$work/g-llama8s-00001-of-00003.gguf
	rm -f "$work"/o.gguf "$work"/o-*-of-*.gguf
	# shellcheck disable=SC2086 # the options are words
	(cd "$GOLD" && "$FERRY_ABS" quant "$in" --type "$t" $opts -o "$work/o.gguf") \
		>"$work/out" 2>"$work/err"
	if [ $? -ne 0 ]; then
		bad "$name: ferry quant $opts failed: $(head -c 200 "$work/err")"
		continue
	fi
	same=yes
	if [ -e "$GOLD/options/$name.digest" ]; then
		grep -v '^kv ferry\.' "$GOLD/options/$name.digest" >"$work/dg"
		nofy "$work/o.gguf" | cmp -s - "$work/dg" || same=no
	fi
	k=1
	for d in "$GOLD/options/$name"-[0-9]*.digest; do
		[ -e "$d" ] || continue
		f=$(ls "$work"/o-*-of-*.gguf 2>/dev/null | sed -n "${k}p")
		grep -v '^kv ferry\.' "$d" >"$work/dg"
		[ -n "$f" ] && nofy "$f" | cmp -s - "$work/dg" || same=no
		k=$((k + 1))
	done
	[ "$same" = yes ] && ok || bad "$name ($opts): differs from llama-quantize's output"
done <"$GOLD/options/cases.txt"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --prune-layers 8 -o "$work/x.gguf"
expect_rc 1 "--prune-layers beyond the model's layers"
expect_err "layer 8 is not one of the model's 8" "says which layer"
run "$FERRY" --json quant "$work/g-llama8.gguf" --type Q4_K_M --prune-layers 1 --dry-run
[ "$(json_field "$work/out" 'JSON.stringify(d.tensors.map(t => t.name)).includes("blk.7.")')" = false ] &&
	[ "$(json_field "$work/out" 'd.tensors.filter(t => t.name.startsWith("blk.6.")).length')" = 9 ] &&
	ok || bad "--dry-run names the tensors as they are written (blk.2 becomes blk.1, ...)"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --prune-layers 0,1,2,3,4,5,6,7 -o "$work/x.gguf"
expect_rc 1 "--prune-layers of every layer"
expect_err "no layer would be left" "says why"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --override-kv a.b=int:x -o "$work/x.gguf"
expect_rc 2 "--override-kv with a bad integer"
expect_err "a.b=int:x" "names the option"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --override-kv llama.block_count=float:8 \
	-o "$work/x.gguf"
expect_rc 1 "--override-kv of a hyper-parameter the rules read, not an int"
expect_err "llama.block_count" "names the key"
[ ! -e "$work/x.gguf" ] && ok || bad "a refused override wrote a file"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --override-kv a.b=bool:yes -o "$work/x.gguf"
expect_rc 2 "--override-kv with a bad bool"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --override-kv a.b=list:1 -o "$work/x.gguf"
expect_rc 2 "--override-kv with an unknown type"
expect_err "int, float, bool or str" "says the types"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --keep-split --split-max-tensors 9 -o "$work/x.gguf"
expect_rc 2 "--keep-split with a split limit"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --include-weights attn -o "$work/x.gguf"
expect_rc 2 "--include-weights without --imatrix"
run "$FERRY" quant "$work/g-llama8.gguf" --type IQ2_XXS --imatrix "$GOLD/imatrix/llama8.gguf" \
	--include-weights nothing -o "$work/x.gguf"
expect_rc 2 "an IQ2 type whose matrix was filtered to nothing"
[ ! -e "$work/x.gguf" ] && ok || bad "a refused option left an output file"
# ferry's own importance matrices agree with llama-imatrix's for the same model and text
# (tests/cli/imatrix_cmp.mjs says how closely), and quantize
for m in stories260K llama8 qwen3moe; do
	(cd "$DATA/calibration" && "$FERRY_ABS" imatrix "$work/g-$m.gguf" -f calibration.txt -c 128 \
		-o "$work/im-$m.gguf") >"$work/out" 2>"$work/err"
	if [ $? -eq 0 ] && node tests/cli/imatrix_cmp.mjs "$work/im-$m.gguf" "$GOLD/imatrix/$m.gguf" 1e-2 \
		>"$work/cmp" 2>&1; then ok; else
		bad "ferry imatrix on $m: $(cat "$work/err" "$work/cmp" | head -c 300)"
	fi
done
# the legacy .dat format (--output-format dat) against llama-imatrix's, and read back by quant
(cd "$DATA/calibration" && "$FERRY_ABS" imatrix "$work/g-llama8.gguf" -f calibration.txt -c 128 \
	--no-ppl --output-format dat -o "$work/im-llama8.dat") >"$work/out" 2>"$work/err"
if [ $? -eq 0 ] && node tests/cli/imatrix_dat_cmp.mjs "$work/im-llama8.dat" "$GOLD/imatrix/llama8.dat" 1e-2 \
	>"$work/cmp" 2>&1; then ok; else
	bad "ferry imatrix --output-format dat: $(cat "$work/err" "$work/cmp" | head -c 300)"
fi
run "$FERRY" quant "$work/g-llama8.gguf" --type IQ2_XXS --imatrix "$work/im-llama8.dat" -o "$work/x.gguf"
expect_rc 0 "quant reads ferry's .dat matrix"
rm -f "$work/x.gguf"
# merging (--in-file) as llama-imatrix merges: its merges of its own matrices (made by
# scripts/llama/quant-goldens.sh, keys and tensors in imatrix/merge-NAME.digest, a .dat's
# sha256 in merge-NAME.sha256) are what ferry writes from the same files
while read -r name fmt files; do
	(cd "$GOLD" && "$FERRY_ABS" imatrix --in-file "$files" -c 128 --output-format "$fmt" \
		-o "$work/mg-$name.$fmt") >"$work/out" 2>"$work/err"
	if [ "$fmt" = dat ]; then
		[ "$(sha256sum <"$work/mg-$name.$fmt" | cut -c1-64)" = "$(cat "$GOLD/imatrix/merge-$name.sha256")" ]
	else
		node tests/cli/gguf_digest.mjs "$work/mg-$name.$fmt" 2>&1 | cmp -s - "$GOLD/imatrix/merge-$name.digest"
	fi && ok || bad "imatrix --in-file $files ($fmt): not llama-imatrix's merge ($(head -c 200 "$work/err"))"
done <"$GOLD/imatrix/merge-cases.txt"
# merging a matrix with the text's statistics: the text in two halves, one computed and merged (the
# sums are added in another order than two whole matrices are: within 1e-4)
head -c 1900 "$DATA/calibration/calibration.txt" >"$work/cal-a.txt"
tail -c +1901 "$DATA/calibration/calibration.txt" >"$work/cal-b.txt"
(cd "$work" && "$FERRY_ABS" -q imatrix "$work/g-llama8.gguf" -f cal-a.txt -c 64 --no-ppl -o im-a.gguf &&
	"$FERRY_ABS" -q imatrix "$work/g-llama8.gguf" -f cal-b.txt -c 64 --no-ppl -o im-b.gguf &&
	"$FERRY_ABS" -q imatrix --in-file im-a.gguf,im-b.gguf -c 64 -o im-ab.gguf &&
	"$FERRY_ABS" --json imatrix "$work/g-llama8.gguf" -f cal-b.txt -c 64 --no-ppl \
		--in-file im-a.gguf -o im-a+b.gguf) >"$work/out" 2>"$work/err"
if [ $? -eq 0 ] && node tests/cli/imatrix_cmp.mjs "$work/im-a+b.gguf" "$work/im-ab.gguf" 1e-4 \
	>"$work/cmp" 2>&1; then ok; else
	bad "imatrix MODEL --in-file: not the merge of the two matrices ($(cat "$work/err" "$work/cmp" | head -c 300))"
fi
[ "$(json_field "$work/out" d.chunks_total)" -gt "$(json_field "$work/out" d.chunks)" ] && ok ||
	bad "imatrix --in-file: the merged chunks are not counted"
node -e 'const fs = require("fs"), b = fs.readFileSync(process.argv[1]);
	process.exit(b.includes("cal-a.txt") && b.includes("cal-b.txt") ? 0 : 1)' "$work/im-a+b.gguf" &&
	ok || bad "imatrix --in-file: both datasets are not recorded"
run "$FERRY" imatrix --in-file "$GOLD/imatrix/stories260K.gguf,$GOLD/imatrix/llama8.gguf" -o "$work/x.gguf"
expect_rc 1 "merging two models' matrices"
expect_err "llama8.gguf: blk.0.attn_k.weight" "the error names the file and the tensor"
[ ! -e "$work/x.gguf" ] && ok || bad "a refused merge wrote a file"
run "$FERRY" imatrix "$work/g-stories260K.gguf" -f "$DATA/calibration/calibration.txt" \
	--in-file "$GOLD/imatrix/llama8.gguf" -o "$work/x.gguf"
expect_rc 1 "merging a matrix into another model's statistics"
expect_err "merged" "says what does not fit"
[ ! -e "$work/x.gguf" ] && ok || bad "a refused merge wrote a file"
run "$FERRY" imatrix -o "$work/x.gguf"
expect_rc 2 "imatrix with neither a model nor matrices"
printf 'not an imatrix' >"$work/bad-im.dat"
run "$FERRY" imatrix --in-file "$work/bad-im.dat" -o "$work/x.gguf"
expect_rc 1 "merging a malformed matrix"
expect_err "bad-im.dat" "the error names the file"
run "$FERRY" imatrix "$work/g-llama8.gguf" -f "$DATA/calibration/calibration.txt" --output-format xml \
	-o "$work/x.dat"
expect_rc 2 "an unknown --output-format"
[ ! -e "$work/x.dat" ] && ok || bad "a refused imatrix format wrote a file"
(cd "$DATA/calibration" && "$FERRY_ABS" --json imatrix "$work/g-stories260K.gguf" -f calibration.txt \
	-c 128 --no-ppl -o "$work/im-noppl.gguf") >"$work/out" 2>"$work/err"
cmp -s "$work/im-noppl.gguf" "$work/im-stories260K.gguf" && ok || bad "imatrix --no-ppl: another matrix"
[ "$(json_field "$work/out" d.ppl)" = null ] && ok || bad "imatrix --no-ppl reports no perplexity"
run "$FERRY" quant "$work/g-llama8.gguf" --type IQ4_XS --imatrix "$work/im-llama8.gguf" -o "$work/im8.gguf"
expect_rc 0 "quantize with ferry's importance matrix"
run "$FERRY" inspect "$work/im8.gguf" --json
expect_out '"quantize.imatrix.entries_count"' "the matrix is recorded"
run "$FERRY" imatrix "$work/g-llama8.gguf" -f "$DATA/calibration/calibration.txt" -c 4096 -o "$work/x.gguf"
expect_rc 1 "a text shorter than two chunks"
expect_err "at least 8192" "says how many tokens are needed"
run "$FERRY" quant "$work/g-llama8.gguf" --type IQ2_XXS -o "$work/x.gguf"
expect_rc 2 "an IQ2 type without an importance matrix"
expect_err "needs an importance matrix" "says what is missing"
printf 'not an imatrix' >"$work/bad.dat"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --imatrix "$work/bad.dat" -o "$work/x.gguf"
expect_rc 1 "a malformed importance matrix"
expect_err "bad.dat" "the error names the file"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --imatrix "$GOLD/imatrix/stories260K.gguf" \
	-o "$work/x.gguf"
expect_rc 1 "another model's importance matrix"
expect_err "needs 256" "the error says which tensor does not fit"
[ ! -e "$work/x.gguf" ] && ok || bad "a refused imatrix left an output file"

# every type runs: a model in it and its dequantization to F32 give the same greedy tokens
for t in IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ3_XXS IQ3_S IQ4_XS TQ2_0 MXFP4_MOE; do
	"$FERRY" quant "$work/g-llama8.gguf" --type "$t" --imatrix "$GOLD/imatrix/llama8.gguf" \
		-o "$work/r-$t.gguf" >/dev/null 2>&1 &&
		"$FERRY" quant "$work/r-$t.gguf" --type F32 --allow-requantize \
			-o "$work/r-$t-f32.gguf" >/dev/null 2>&1 &&
		"$FERRY" run "$work/r-$t.gguf" -p "a b c" -n 12 --temp 0 --activations f32 >"$work/r1" 2>/dev/null &&
		"$FERRY" run "$work/r-$t-f32.gguf" -p "a b c" -n 12 --temp 0 >"$work/r2" 2>/dev/null &&
		[ -s "$work/r1" ] && cmp -s "$work/r1" "$work/r2" && ok ||
		bad "$t: greedy output differs from its dequantized F32 model's"
	rm -f "$work/r-$t.gguf" "$work/r-$t-f32.gguf"
done

# a split set is read whole or not at all
"$FERRY" quant "$work/g-llama8.gguf" --type Q8_0 --split-max-tensors 30 -o "$work/ws.gguf" >/dev/null 2>&1
mv "$work/ws-00003-of-00003.gguf" "$work/ws-gone.gguf"
for verb in "quant --type Q4_0 -o $work/x.gguf" "run -p a -n 1" "inspect"; do
	run "$FERRY" $verb "$work/ws-00001-of-00003.gguf"
	expect_rc 1 "$verb on a split set missing a shard"
	expect_err "shard 3 of 3" "$verb names the missing shard"
done
[ ! -e "$work/x.gguf" ] && ok || bad "quant of an incomplete split set wrote a file"
cp "$work/ws-00002-of-00003.gguf" "$work/lonely.gguf"
run "$FERRY" run "$work/lonely.gguf" -p a -n 1
expect_rc 1 "a shard whose name does not lead to its siblings"
expect_err "shard 2 of a split model of 3 files" "the error says what the file is"
mv "$work/ws-gone.gguf" "$work/ws-00003-of-00003.gguf"
cp "$work/ws-00001-of-00003.gguf" "$work/ws-00002-of-00003.gguf"
run "$FERRY" inspect "$work/ws-00003-of-00003.gguf"
expect_rc 1 "a shard in the wrong place"
expect_err "expected shard 2 of 3" "the error names the misplaced shard"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q8_0 --split-max-size 0M -o "$work/x.gguf"
expect_rc 2 "--split-max-size 0M"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q8_0 --split-max-size 10K -o "$work/x.gguf"
expect_rc 2 "--split-max-size in K (llama-gguf-split takes M or G)"

# what llama-quantize refuses, ferry refuses
while read -r m t why; do
	run "$FERRY" quant "$work/g-$m.gguf" --type "$t" -o "$work/g-out.gguf"
	expect_rc 1 "$m $t: llama-quantize refuses it ($why)"
	[ ! -e "$work/g-out.gguf" ] && ok || bad "$m $t: refused but wrote a file"
done <"$GOLD/refused.txt"

# --- re-quantizing a quantized file: refused as llama-quantize refuses it, unless allowed ------
run "$FERRY" quant "$work/m8-Q4_K_M.gguf" --type Q8_0 -o "$work/rq.gguf"
expect_rc 1 "requantize without --allow-requantize"
expect_err "m8-Q4_K_M.gguf: tensor 'output.weight' is Q6_K: requantizing from a quantized type is disabled" \
	"the refusal names the file and the first quantized tensor"
[ ! -e "$work/rq.gguf" ] && ok || bad "a refused requantization wrote a file"
run "$FERRY" quant "$work/m8-Q4_K_M.gguf" --type Q8_0 -o "$work/rq.gguf" --allow-requantize
expect_rc 0 "requantize"
expect_err "already quantized" "requantize warning"
# --max-buffer-size bounds the rows held at once; the bytes are the same
"$FERRY" -q quant "$work/g-llama8.gguf" --type Q4_K_M -o "$work/mb-default.gguf" &&
	"$FERRY" -q quant "$work/g-llama8.gguf" --type Q4_K_M --max-buffer-size 1 -o "$work/mb-1.gguf" &&
	cmp -s "$work/mb-default.gguf" "$work/mb-1.gguf" && ok ||
	bad "--max-buffer-size 1 changed the output"
run "$FERRY" quant "$work/g-llama8.gguf" --type Q4_K_M --max-buffer-size 0 -o "$work/x.gguf"
expect_rc 2 "--max-buffer-size 0"
expect_err "--max-buffer-size is a number of MiB" "the usage error says what it takes"
# a type that keeps the quantized tensors as they are needs no permission (llama-quantize too)
run "$FERRY" quant "$work/m8-Q4_K_M.gguf" --type Q4_K_M -o "$work/rq2.gguf"
expect_rc 0 "Q4_K_M of a Q4_K_M file converts nothing quantized"

# --- bad input: one line, exit code, nothing left behind ---------------------------------------
run "$FERRY" quant "$STORIES" --type Q9_K -o "$work/x.gguf"
expect_rc 2 "unknown type"
expect_err "Q4_K_M" "unknown type lists the types"
run "$FERRY" quant "$STORIES" -o "$work/x.gguf"
expect_rc 2 "--type missing"
run "$FERRY" quant "$STORIES" --type Q4_0 --tensor-type '(=Q8_0' -o "$work/x.gguf"
expect_rc 2 "bad regex"
run "$FERRY" quant "$work/nope.gguf" --type Q4_0
expect_rc 1 "missing input"
head -c 5000 "$STORIES" >"$work/trunc.gguf"
run "$FERRY" quant "$work/trunc.gguf" --type Q4_0 -o "$work/x.gguf"
expect_rc 1 "truncated input"
expect_err "trunc.gguf" "error names the file"
node -e '
const fs = require("fs");
const a = new Float32Array(fs.readFileSync(process.argv[1]).buffer.slice(0));
a[5 * 512 + 7] = NaN;
fs.writeFileSync(process.argv[2], Buffer.from(a.buffer));' "$VEC/input.f32" "$work/nan.f32"
"$MKMODEL" rows "$work/nan.gguf" "$work/nan.f32" 48 512
run "$FERRY" quant "$work/nan.gguf" --type Q4_K_M -o "$work/x.gguf"
expect_rc 1 "NaN input"
expect_err "row 5" "NaN error names the row"
[ ! -e "$work/x.gguf" ] && ok || bad "a failed quant left an output file"
[ "$(find "$work" -name '.*tmp*' | wc -l)" -eq 0 ] && ok || bad "temp files left behind"

# --- the sanitizer build -----------------------------------------------------------------------
if [ -n "$FERRY_SAN" ]; then
	run "$FERRY_SAN" quant "$work/m8.gguf" --type Q3_K_M -t 4 -o "$work/san.gguf"
	expect_rc 0 "ASan/UBSan quant Q3_K_M"
	run "$FERRY_SAN" quant "$STORIES" --type IQ4_NL -o "$work/san2.gguf"
	expect_rc 0 "ASan/UBSan quant IQ4_NL with fallbacks"
	run "$FERRY_SAN" quant "$work/nan.gguf" --type Q2_K -o "$work/x.gguf"
	expect_rc 1 "ASan/UBSan NaN input"
fi

# --- store mode: a derived revision with lineage -------------------------------------------
export FERRY_HOME="$work/store"
mkdir -p "$work/src"
cp "$work/m8.gguf" "$work/src/tiny-f16.gguf"
echo '{"architectures": ["LlamaForCausalLM"]}' >"$work/src/config.json"
run "$FERRY" init
run "$FERRY" add test/tiny "$work/src"
expect_rc 0 "add the source"
run "$FERRY" quant test/tiny --type Q4_K_M
expect_rc 0 "quant a store revision"
expect_out "test/tiny-GGUF@" "added to the -GGUF repository"
run "$FERRY" ls test/tiny-GGUF
expect_out "tiny-Q4_K_M.gguf" "file name NAME-TYPE.gguf"
run "$FERRY" show test/tiny-GGUF --json
expect_out '"operation": "quant"' "lineage: operation"
expect_out '"path": "tiny-f16.gguf"' "lineage: source file"
expect_out '"options": "--type Q4_K_M"' "lineage: parameters"
head1=$(cat "$work/store/repos/test/tiny-GGUF/refs/heads/main")
n1=$(ls "$work/store/repos/test/tiny-GGUF/revisions" | wc -l)
run "$FERRY" quant test/tiny --type Q4_K_M
expect_rc 0 "the same quant again"
[ "$(cat "$work/store/repos/test/tiny-GGUF/refs/heads/main")" = "$head1" ] &&
	[ "$(ls "$work/store/repos/test/tiny-GGUF/revisions" | wc -l)" -eq "$n1" ] && ok ||
	bad "re-running a quant that changes no file made a new revision"
run "$FERRY" checkout test/tiny-GGUF "$work/co"
"$FERRY" quant -q "$work/src/tiny-f16.gguf" --type Q4_K_M -o "$work/file-mode.gguf"
cmp -s "$work/co/tiny-Q4_K_M.gguf" "$work/file-mode.gguf" && ok ||
	bad "store mode and file mode give different bytes"
run "$FERRY" quant test/tiny-GGUF --type Q8_0
expect_rc 1 "a -GGUF repo with one F16 and one quantized file"
run "$FERRY" quant test/tiny-GGUF --type Q8_0 --file tiny-Q4_K_M.gguf
expect_rc 1 "store mode refuses to requantize too"
expect_err "requantizing from a quantized type is disabled" "the store refusal says why"
run "$FERRY" quant test/tiny-GGUF --type Q8_0 --file tiny-Q4_K_M.gguf --allow-requantize
expect_rc 0 "--file picks the source"
expect_err "already quantized" "store requantize warns"
run "$FERRY" ls test/tiny-GGUF
expect_out "tiny-Q8_0.gguf" "second file added"
expect_out "tiny-Q4_K_M.gguf" "first file kept"
run "$FERRY" fsck
expect_rc 0 "fsck after quant"
run "$FERRY" quant nosuch/repo --type Q4_0
expect_rc 1 "unknown repository"
run "$FERRY" quant test/tiny --type Q4_0 --to "bad name"
expect_rc 1 "--to: an invalid repository name"
run "$FERRY" quant test/tiny --type Q4_0 --file nope.gguf
expect_rc 1 "--file: no such file in the revision"
expect_err "no file 'nope.gguf'" "the missing file is named"

# --- store mode with split models: convert, quant, show, run, smoke, a missing shard ---------
export FERRY_HOME="$work/store2"
"$FERRY" -q init
"$FERRY" -q --no-progress add demo/stories "$DATA/models/llama-stories260K" -m import
run "$FERRY" convert demo/stories --outtype f32 --split-max-tensors 20
expect_rc 0 "convert into the store in shards"
run "$FERRY" ls demo/stories-GGUF
expect_out "stories-F32-00003-of-00003.gguf" "the shards are the revision's files"
run "$FERRY" quant demo/stories-GGUF --type Q8_0 --split-max-tensors 25
expect_rc 0 "quant a split source into shards"
expect_out "in 2 shards" "quant says how many shards"
run "$FERRY" show demo/stories-GGUF --json
expect_out '"shards": 3' "show describes the split model"
expect_out '"path": "stories-F32-00003-of-00003.gguf"' "lineage lists every source shard"
run "$FERRY" run demo/stories-GGUF:stories-Q8_0-00002-of-00002.gguf -p Once -n 4 --temp 0
expect_rc 0 "run a split model of the store, named by a shard"
run "$FERRY" smoke demo/stories-GGUF:stories-Q8_0-00001-of-00002.gguf
expect_rc 0 "smoke a split model against its split source"
run "$FERRY" quant demo/stories-GGUF --type Q8_0 --file stories-Q8_0-00001-of-00002.gguf
expect_rc 0 "re-quantizing into one file"
run "$FERRY" ls demo/stories-GGUF
if grep -q "stories-Q8_0-0000" "$work/out"; then bad "the shards of the model replaced stayed"; else ok; fi
expect_out "stories-Q8_0.gguf" "one file replaces the shards"
run "$FERRY" fsck
expect_rc 0 "fsck after split quants"
# a revision holding a split model without one of its shards: verify names the missing shard
mkdir -p "$work/partial"
"$FERRY" quant "$work/g-llama8.gguf" --type Q8_0 --split-max-tensors 30 -o "$work/partial/p.gguf" \
	>/dev/null 2>&1
rm -f "$work/partial/p-00002-of-"*.gguf
"$FERRY" -q --no-progress add demo/partial "$work/partial" -m "one shard short"
run "$FERRY" verify demo/partial
expect_rc 1 "verify of a revision missing a shard"
expect_err "p-00001-of-00003.gguf: p-00002-of-00003.gguf is missing" "verify names the missing shard"

echo "quant: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
