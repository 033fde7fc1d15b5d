#!/bin/sh
# Refreshes tests/data/golden/quant: llama-quantize (llama.cpp v0.5.0, scripts/llama/build.sh)
# run on the project's models for every file type ferry writes, each output recorded as its
# digest (tests/cli/gguf_digest.mjs: every key and tensor, hashed). tests/cli/quant.sh quantizes
# the same inputs with ferry and compares digests. The inputs are made here as the test makes
# them (stories260K as it is, mkmodel's 8-layer llama, ferry's conversions of the MoE fixtures);
# inputs.txt records their sha256, so a test whose input changed says so instead of failing on
# every tensor.
#   scripts/llama/quant-goldens.sh [OUTDIR]      (default tests/data/golden/quant)
set -eu
out=${1:-tests/data/golden/quant}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$("$here/build.sh" llama-quantize | tail -1)
Q=$build/bin/llama-quantize
FERRY=${FERRY:-$root/build/ferry}
MKMODEL=${MKMODEL:-$root/build/mkmodel}
data=$root/tests/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
cp "$data/models/stories260K/stories260K.gguf" "$work/stories260K.gguf"
"$MKMODEL" llama "$work/llama8.gguf" 8 256 512 300 f16
"$FERRY" convert "$data/models/qwen3-moe-tiny" -o "$work/qwen3moe.gguf" >/dev/null
"$FERRY" convert "$data/models/deepseek-v3-tiny" -o "$work/deepseek2.gguf" >/dev/null
"$FERRY" convert "$data/models/glm4moe-tiny" -o "$work/glm4moe.gguf" >/dev/null
"$FERRY" convert "$data/models/minimax-m2-tiny" -o "$work/minimax-m2.gguf" >/dev/null
"$FERRY" convert "$data/models/deepseek-v32-tiny" -o "$work/deepseek32.gguf" >/dev/null
"$FERRY" convert "$data/models/glm4-tiny" -o "$work/glm4.gguf" >/dev/null
"$FERRY" convert "$data/models/deepseek-v4-tiny" -o "$work/deepseek4.gguf" >/dev/null
"$FERRY" convert "$data/models/qwen3-next-tiny" -o "$work/qwen3next.gguf" >/dev/null
"$FERRY" convert "$data/models/qwen35-tiny" -o "$work/qwen35.gguf" >/dev/null
"$FERRY" convert "$data/models/qwen35moe-tiny" -o "$work/qwen35moe.gguf" >/dev/null
"$FERRY" convert "$data/models/minimax-m1-tiny" -o "$work/minimax01.gguf" >/dev/null
"$FERRY" convert "$data/models/kimi-linear-tiny" -o "$work/kimilinear.gguf" >/dev/null
: >"$out/inputs.txt"
: >"$out/refused.txt"
# DeepSeek-V4's conversion keeps its source's Q8_0 and MXFP4 tensors: llama-quantize needs
# --allow-requantize for it (ferry requantizes with a warning)
for m in stories260K llama8 qwen3moe deepseek2 glm4moe minimax-m2 deepseek32 glm4 deepseek4 qwen3next \
	qwen35 qwen35moe minimax01 kimilinear; do
	echo "$(sha256sum <"$work/$m.gguf" | cut -c1-64) $m" >>"$out/inputs.txt"
	allow=
	[ "$m" != deepseek4 ] || allow=--allow-requantize
	for t in Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M \
		Q6_K IQ4_NL IQ4_XS IQ3_S IQ3_M TQ1_0 TQ2_0 MXFP4_MOE Q1_0 Q2_0 F16 BF16 F32; do
		if "$Q" $allow "$work/$m.gguf" "$work/out.gguf" "$t" 1 >"$work/log" 2>&1; then
			node "$root/tests/cli/gguf_digest.mjs" "$work/out.gguf" >"$out/$m-$t.digest"
		else
			echo "$m $t $(grep -o 'failed to quantize: .*' "$work/log" | head -1)" >>"$out/refused.txt"
		fi
		rm -f "$work/out.gguf"
	done
done
# split outputs: llama-quantize, then llama-gguf-split --split; split/cases.txt lists
# "MODEL TYPE OPTION VALUE SHARDS", each shard's digest is split/MODEL-TYPE-OPTION-VALUE-K.digest
G=$build/bin/llama-gguf-split
[ -x "$G" ] || "$here/build.sh" llama-gguf-split >/dev/null
mkdir -p "$out/split"
: >"$out/split/cases.txt"
for c in "llama8 Q4_K_M split-max-tensors 30" "llama8 Q4_K_M split-max-size 1M" \
	"qwen3moe Q8_0 split-max-tensors 16" "stories260K Q6_K split-max-tensors 20"; do
	set -- $c
	"$Q" "$work/$1.gguf" "$work/q.gguf" "$2" 1 >/dev/null 2>&1
	"$G" --split "--$3" "$4" "$work/q.gguf" "$work/sp" >/dev/null 2>&1
	n=$(ls "$work"/sp-*-of-*.gguf | wc -l)
	echo "$1 $2 $3 $4 $n" >>"$out/split/cases.txt"
	k=1
	for f in "$work"/sp-*-of-*.gguf; do
		node "$root/tests/cli/gguf_digest.mjs" "$f" >"$out/split/$1-$2-$3-$4-$k.digest"
		k=$((k + 1))
	done
	rm -f "$work"/sp-*-of-*.gguf "$work/q.gguf"
done
# importance matrices: llama-imatrix on the calibration text (run from its folder, so the
# dataset recorded is "calibration.txt"), GGUF and legacy .dat; then llama-quantize with one,
# run from $out (the matrix is recorded as the name given: imatrix/MODEL.gguf). imatrix/cases.txt
# lists "MODEL TYPE MATRIX", each digest is imatrix/MODEL-TYPE-MATRIX.digest.
I=$build/bin/llama-imatrix
[ -x "$I" ] || "$here/build.sh" llama-imatrix >/dev/null
mkdir -p "$out/imatrix"
: >"$out/imatrix/cases.txt"
cal=$root/tests/data/calibration
for m in stories260K llama8 qwen3moe; do
	(cd "$cal" && "$I" -m "$work/$m.gguf" -f calibration.txt -o "$work/$m.imatrix.gguf" -c 128 \
		-t 2 --no-ppl >/dev/null 2>&1)
	cp "$work/$m.imatrix.gguf" "$out/imatrix/$m.gguf"
done
(cd "$cal" && "$I" -m "$work/llama8.gguf" -f calibration.txt -o "$work/llama8.dat" -c 128 -t 2 \
	--no-ppl --output-format dat >/dev/null 2>&1)
cp "$work/llama8.dat" "$out/imatrix/llama8.dat"
for c in "stories260K Q4_K_M gguf" "stories260K IQ4_NL gguf" "llama8 Q4_0 gguf" "llama8 Q4_1 gguf" \
	"llama8 Q5_0 gguf" "llama8 Q5_1 gguf" "llama8 Q2_K gguf" "llama8 Q3_K_S gguf" \
	"llama8 Q3_K_M gguf" "llama8 Q4_K_S gguf" "llama8 Q4_K_M gguf" "llama8 Q5_K_M gguf" \
	"llama8 Q6_K gguf" "llama8 IQ4_NL gguf" "llama8 IQ4_XS gguf" "llama8 Q8_0 gguf" \
	"llama8 Q4_K_M dat" "llama8 IQ4_XS dat" "qwen3moe Q4_K_M gguf" "qwen3moe IQ4_XS gguf" \
	"qwen3moe Q2_K gguf" "llama8 IQ2_XXS gguf" "llama8 IQ2_XS gguf" "llama8 Q2_K_S gguf" \
	"qwen3moe IQ2_XXS gguf" "qwen3moe IQ2_XS gguf" "qwen3moe Q2_K_S gguf" "llama8 IQ2_XXS dat" \
	"llama8 IQ2_S gguf" "llama8 IQ2_M gguf" "llama8 IQ3_XXS gguf" "llama8 IQ3_S gguf" \
	"llama8 IQ3_M gguf" "llama8 IQ3_XS gguf" "qwen3moe IQ2_S gguf" "qwen3moe IQ2_M gguf" \
	"qwen3moe IQ3_XXS gguf" "qwen3moe IQ3_S gguf" "qwen3moe IQ3_M gguf" "qwen3moe IQ3_XS gguf" \
	"stories260K IQ3_XXS gguf" "llama8 IQ1_S gguf" "llama8 IQ1_M gguf" "qwen3moe IQ1_S gguf" \
	"qwen3moe IQ1_M gguf"; do
	set -- $c
	(cd "$out" && "$Q" --imatrix "imatrix/$1.$3" "$work/$1.gguf" "$work/q.gguf" "$2" 1 \
		>"$work/log" 2>&1) || { tail -3 "$work/log" >&2; exit 1; }
	echo "$1 $2 $3" >>"$out/imatrix/cases.txt"
	node "$root/tests/cli/gguf_digest.mjs" "$work/q.gguf" >"$out/imatrix/$1-$2-$3.digest"
	rm -f "$work/q.gguf"
done
# merges of those matrices (llama-imatrix --in-file, run from $out; it asks for a -m it does not
# open): imatrix/merge-cases.txt lists "NAME FORMAT FILES", the output's keys and tensors are in
# imatrix/merge-NAME.digest (a .dat's sha256 in merge-NAME.sha256)
: >"$out/imatrix/merge-cases.txt"
for c in "twice gguf imatrix/llama8.gguf,imatrix/llama8.gguf" \
	"dat-gguf gguf imatrix/llama8.dat,imatrix/llama8.gguf" \
	"gguf-dat dat imatrix/llama8.gguf,imatrix/llama8.dat" \
	"moe gguf imatrix/qwen3moe.gguf,imatrix/qwen3moe.gguf,imatrix/qwen3moe.gguf"; do
	set -- $c
	(cd "$out" && "$I" -m /dev/null --in-file "$3" -c 128 --output-format "$2" -o "$work/mg.$2" \
		>"$work/log" 2>&1) || { tail -3 "$work/log" >&2; exit 1; }
	echo "$1 $2 $3" >>"$out/imatrix/merge-cases.txt"
	if [ "$2" = dat ]; then
		sha256sum <"$work/mg.dat" | cut -c1-64 >"$out/imatrix/merge-$1.sha256"
	else
		node "$root/tests/cli/gguf_digest.mjs" "$work/mg.gguf" >"$out/imatrix/merge-$1.digest"
	fi
	rm -f "$work/mg.$2"
done
# llama-quantize's other options, from $out as above: options/cases.txt lists "NAME MODEL TYPE
# OPTIONS...", each output's digest is options/NAME.digest (NAME-K.digest for the shards that
# --keep-split writes); MODEL llama8s is llama8 split by ferry quant --type F16
# --split-max-tensors 30 (llama-gguf-split's shards of llama-quantize's F16 output: both checked
# above), which tests/cli/quant.sh makes the same way
mkdir -p "$out/options"
: >"$out/options/cases.txt"
# (options/types.txt, the --tensor-type-file case's list, is the project's: kept as it is)
"$FERRY" -q quant "$work/llama8.gguf" --type F16 --split-max-tensors 30 -o "$work/l8s.gguf"
while read -r c; do
	set -- $c
	name=$1 m=$2 t=$3
	shift 3
	in=$work/$m.gguf
	[ "$m" = llama8s ] && in=$work/l8s-00001-of-00003.gguf
	(cd "$out" && "$Q" "$@" "$in" "$work/o.gguf" "$t" 1 >"$work/log" 2>&1) ||
		{ tail -3 "$work/log" >&2; exit 1; }
	echo "$name $m $t $*" >>"$out/options/cases.txt"
	if [ -e "$work/o.gguf" ]; then
		node "$root/tests/cli/gguf_digest.mjs" "$work/o.gguf" >"$out/options/$name.digest"
	fi
	k=1
	for f in "$work"/o-*-of-*.gguf; do
		[ -e "$f" ] || continue
		node "$root/tests/cli/gguf_digest.mjs" "$f" >"$out/options/$name-$k.digest"
		k=$((k + 1))
	done
	rm -f "$work"/o.gguf "$work"/o-*-of-*.gguf
done <<'EOF_CASES'
override llama8 Q4_K_M --override-kv general.name=str:renamed --override-kv llama.context_length=int:-4096 --override-kv test.scale=float:1.5 --override-kv test.flag=bool:true --override-kv general.file_type=int:7
prune llama8 Q4_K_M --prune-layers 5,2
prune-imatrix llama8 IQ2_XXS --imatrix imatrix/llama8.gguf --prune-layers 0,7
exclude llama8 IQ4_XS --imatrix imatrix/llama8.gguf --exclude-weights attn_ --exclude-weights ffn_up
include llama8 IQ3_S --imatrix imatrix/llama8.gguf --include-weights ffn_down
include-none llama8 Q4_K_M --imatrix imatrix/llama8.gguf --include-weights nothing
keep-split llama8s Q4_K_M --keep-split
keep-split-prune llama8s Q5_K_M --keep-split --prune-layers 3
keep-one llama8 Q6_K --keep-split
type-file llama8 Q4_K_M --tensor-type-file options/types.txt
override-hparams llama8 Q2_K --override-kv llama.attention.head_count_kv=int:4 --override-kv llama.block_count=int:16
EOF_CASES
echo "$out: $(ls "$out" | grep -c digest) digests, $(wc -l <"$out/refused.txt") refusals," \
	"$(wc -l <"$out/imatrix/cases.txt") imatrix cases," \
	"$(wc -l <"$out/split/cases.txt") split cases, $(wc -l <"$out/options/cases.txt") option cases"
