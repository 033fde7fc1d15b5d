#!/bin/sh
# Integration tests of the seeds' flagship families (issue 24) with the real binary and its
# sanitizer build, each on its tiny random checkpoint (tests/data/models/FLAGSHIPS.md):
# convert, compared key for key and tensor for tensor with llama.cpp v0.5.0's converter
# (tests/data/golden/convert/NAME-f32.digest; the general.* naming keys llama.cpp derives from
# the directory are the listed differences); run from the checkpoint and from the GGUF
# (llama.cpp's greedy tokens, golden/); quantize Q8_0 and Q4_K_M and gate them in KL order;
# inspect and show describe the attention and the experts; refusals name the file and tensor.
# The logits within 1e-3 are checked by the unit tests (tests/unit/test_infer.c).
# Environment: FERRY, FERRY_SAN (optional).
set -u

FERRY=${FERRY:?set FERRY}
FERRY_SAN=${FERRY_SAN:-}
DATA=${FERRY_TEST_DATA:-tests/data}
M=$DATA/models

work=$(mktemp -d /tmp/ferry-flagships-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
export FERRY_HOME="$work/store"

# same_as_llama GGUF NAME [KEY]: every key and tensor of llama.cpp's conversion, in any order, but
# the general.* keys llama.cpp derives from the directory name (name, size label, type) or the
# model card's front matter (license, tags, languages), general.quantization_version (which
# llama-quantize writes, not ferry's converter) and KEY, one ferry writes on purpose
same_as_llama() {
	skip=${3:-none}
	strip() { sed -e 's/ @[0-9]* / /' | grep -Ev "^kv (general\.(name|size_label|type|quantization_version|license|tags|languages)|$skip) " | sort; }
	node "$(dirname "$0")/gguf_digest.mjs" "$1" | strip >"$work/a.digest"
	strip <"$DATA/golden/convert/$2-f32.digest" >"$work/b.digest"
	diff "$work/a.digest" "$work/b.digest" >"$work/diff" && return 0
	head -5 "$work/diff" >&2
	return 1
}
# gguf_patch FILE KEY VALUE [I]: KEY's 4-byte integer (element I of an array key) set in place
gguf_patch() {
	node --input-type=module -e '
import { readGguf } from "'"$(cd "$(dirname "$0")" && pwd)"'/gguf.mjs";
import fs from "node:fs";
const [f, key, v, i] = process.argv.slice(1), kv = readGguf(f).kv[key];
const at = i === undefined ? kv.at : kv.at + 4 + 8 + 4 * Number(i);
const b = Buffer.alloc(4);
b.writeUInt32LE(Number(v) >>> 0);
fs.writeSync(fs.openSync(f, "r+"), b, 0, 4, at);' "$@"
}
cfg_bad() { # cfg_bad DESCRIPTION EXPECTED-ERROR JS-EDIT-OF-c: fixture $m with config.json edited is refused
	rm -rf "$work/bad" && cp -r "$M/$m" "$work/bad" && node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
eval(process.argv[2]); fs.writeFileSync(f, JSON.stringify(c));' "$work/bad/config.json" "$3"
	run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
	expect_rc 1 "convert refuses $1"
	expect_err "$2" "the refusal of $1 names the file and what is wrong"
	[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for $1"
}
# NAME ARCH: the fixtures and the GGUF architecture they convert to
for f in "glm4-tiny glm4" "glm4moe-tiny glm4moe" "minimax-m2-tiny minimax-m2" "deepseek-v3-tiny deepseek2" \
	"kimi-k2-tiny deepseek2" "deepseek-v32-tiny deepseek32" "kimi-k25-tiny deepseek2" \
	"glm47-flash-tiny deepseek2 deepseek2.expert_gating_func" "deepseek-v4-tiny deepseek4" \
	"qwen3-next-tiny qwen3next" "qwen35-tiny qwen35" "qwen35moe-tiny qwen35moe" \
	"minimax-m1-tiny minimax-01" "kimi-linear-tiny kimi-linear"; do
	set -- $f
	m=$1 arch=$2 extra=${3:-}
	# --- convert: what llama.cpp v0.5.0's converter writes ------------------------------
	for bin in "$FERRY" $FERRY_SAN; do
		run "$bin" convert "$M/$m" -o "$work/$m.gguf" --outtype f32
		expect_rc 0 "$(basename "$bin") convert $m"
		same_as_llama "$work/$m.gguf" "$m" "$extra" && ok ||
			bad "$m: keys or tensors differ from llama.cpp's conversion"
	done
	run "$FERRY" inspect --json "$work/$m.gguf"
	[ "$(json_field "$work/out" 'd.metadata["general.architecture"].value')" = "$arch" ] && ok ||
		bad "$m: general.architecture is not $arch"
	# --- run: from the checkpoint and from the GGUF, llama.cpp's greedy tokens -----------
	greedy_same "$M/$m" "$m" && ok || bad "$m checkpoint: greedy ids differ from llama.cpp's"
	greedy_same "$work/$m.gguf" "$m" && ok || bad "$m GGUF: greedy ids differ from llama.cpp's"
	if [ -n "$FERRY_SAN" ]; then
		FERRY=$FERRY_SAN greedy_same "$work/$m.gguf" "$m" && ok || bad "$m under the sanitizers"
	fi
	# --- quantize, run, gate in KL order --------------------------------------------------
	for t in Q8_0 Q4_K_M; do
		# DeepSeek-V4's conversion keeps Q8_0 and MXFP4: requantized as llama-quantize would
		run "$FERRY" quant "$work/$m.gguf" --type "$t" --allow-requantize -o "$work/$m-$t.gguf"
		expect_rc 0 "quant $m $t"
		run "$FERRY" run "$work/$m-$t.gguf" -f "$M/$m/golden/prompt.txt" --temp 0 -n 8 --json
		expect_rc 0 "run $m $t"
		run "$FERRY" smoke "$work/$m-$t.gguf" --ref "$work/$m.gguf" --json
		json_valid "$work/out" "smoke $m $t"
		cp "$work/out" "$work/smoke-$t.json"
	done
	kl8=$(json_field "$work/smoke-Q8_0.json" d.kl_mean)
	kl4=$(json_field "$work/smoke-Q4_K_M.json" d.kl_mean)
	node -e 'process.exit(+process.argv[1] > 0 && +process.argv[1] < +process.argv[2] ? 0 : 1)' \
		"$kl8" "$kl4" && ok || bad "$m: KL should grow as bits shrink (Q8_0 $kl8, Q4_K_M $kl4)"
	run "$FERRY" smoke "$work/$m-Q8_0.gguf" --ref "$work/$m.gguf" --max-kl "$kl4" --min-top1 0 \
		--max-ppl-ratio 2
	expect_rc 0 "$m Q8_0 passes a KL limit above its own"
	run "$FERRY" smoke "$work/$m-Q4_K_M.gguf" --ref "$work/$m.gguf" --max-kl "$kl8"
	expect_rc 1 "$m Q4_K_M fails a KL limit below its own"
	# the checkpoint itself is a reference too (read in place, BF16)
	run "$FERRY" smoke "$work/$m-Q8_0.gguf" --ref "$M/$m" --json
	json_valid "$work/out" "smoke $m Q8_0 against the checkpoint"
done

# --- DeepSeek: the absorbed form, and files in the older layout ------------------------------
D=$work/deepseek-v3-tiny.gguf
run "$FERRY" inspect "$D"
expect_out "attention: latent: 4 heads of 128, keys and values from a rank-128 latent, queries through rank 128, RoPE on 64 of them" "inspect: DeepSeek's attention"
node "$(dirname "$0")/kvb_legacy.mjs" "$D" "$work/ds-legacy.gguf" && ok || bad "kvb_legacy.mjs"
run "$FERRY" inspect --json "$work/ds-legacy.gguf"
[ "$(json_field "$work/out" 'd.tensors.filter(t => t.name.endsWith(".attn_kv_b.weight")).length')" = 3 ] &&
	ok || bad "the older layout has one attn_kv_b per layer"
greedy_same "$work/ds-legacy.gguf" deepseek-v3-tiny && ok ||
	bad "a DeepSeek file in the older layout (attn_kv_b) runs to the same greedy tokens"

# --- DeepSeek-V3.2: the lightning indexer --------------------------------------------------
V=$work/deepseek-v32-tiny.gguf
run "$FERRY" inspect "$V"
expect_out "sparse: a lightning indexer (8 heads of 64) keeps 16 positions per token; 1 next-token-prediction layer (not run)" "inspect: DeepSeek-V3.2's indexer"
run "$FERRY" inspect --json "$V"
[ "$(json_field "$work/out" 'd.tensors.find(t => t.name === "blk.0.indexer.proj.weight").type')" = F32 ] &&
	ok || bad "the indexer's weights stay F32 (as llama.cpp's converter keeps them)"
# the indexer decides: the same file with every position kept runs to other tokens
cp "$V" "$work/v32-dense.gguf"
gguf_patch "$work/v32-dense.gguf" deepseek32.attention.indexer.top_k 1048576
greedy_differs "$work/v32-dense.gguf" deepseek-v32-tiny && ok ||
	bad "dense attention did not run to other tokens than the sparse attention's"
rm -rf "$work/bad" && cp -r "$M/deepseek-v32-tiny" "$work/bad"
node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
delete c.index_topk; fs.writeFileSync(f, JSON.stringify(c));' "$work/bad/config.json"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "convert refuses DeepSeek-V3.2 without index_topk"
expect_err "bad/config.json: the lightning indexer needs" "the refusal names the file"
rm -rf "$work/bad"

st_set() { # st_set DIR TENSOR EXPR: rewrites a tensor's header entry h (JavaScript)
	node -e '
const fs = require("fs"), path = require("path");
const [dir, name, expr] = process.argv.slice(1);
const ix = JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json")));
const f = path.join(dir, ix.weight_map[name]);
const b = fs.readFileSync(f), n = Number(b.readBigUInt64LE(0));
const hd = JSON.parse(b.subarray(8, 8 + n)), h = hd[name];
eval(expr);
let j = Buffer.from(JSON.stringify(hd)); j = Buffer.concat([j, Buffer.alloc((8 - j.length % 8) % 8, 32)]);
const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(j.length));
fs.writeFileSync(f, Buffer.concat([l, j, b.subarray(8 + n)]));' "$@"
}
# --- DeepSeek-V4: what inspect says, the source's types kept, the indexer, refusals ----------
m=deepseek-v4-tiny
run "$FERRY" inspect "$work/$m.gguf"
expect_out "attention: grouped-query: 4 heads over 1 key/value head of 64, queries through rank 128, RoPE on 32 of them; a window of 16 positions; 2 layers compressing by 4 (a lightning indexer of 4 heads of 64 keeps 4 blocks per token); 1 layer compressing by 128; 4 hyper-connection streams" "inspect: DeepSeek-V4's attention"
expect_out "routing: sqrt-softplus over 8 experts (plus a selection bias), top 2, renormalized, x1.5; 1 shared expert; the first 1 layer routed by the token's fixed experts" "inspect: DeepSeek-V4's routing"
run "$FERRY" inspect "$M/$m"
expect_out "4 hyper-connection streams; 1 next-token-prediction layer (not run)" "inspect of the checkpoint: DeepSeek-V4's attention"
run "$FERRY" inspect --json "$work/$m.gguf"
[ "$(json_field "$work/out" 'd.tensors.filter(t => t.type === "MXFP4").length')" = 12 ] && ok ||
	bad "$m: the routed experts are MXFP4, copied from the checkpoint's FP4"
[ "$(json_field "$work/out" 'd.tensors.filter(t => t.name.startsWith("mtp")).length')" = 0 ] && ok ||
	bad "$m: the next-token-prediction layer is left out"
# the types follow the source whatever --outtype (as llama.cpp's converter)
run "$FERRY" convert "$M/$m" -o "$work/$m-auto.gguf"
expect_rc 0 "convert $m, the default type"
cmp -s "$work/$m.gguf" "$work/$m-auto.gguf" && ok || bad "$m: --outtype changed the types"
# smoke -v says how much memory the gate took
run "$FERRY" smoke -v "$work/$m-Q8_0.gguf" --ref "$work/$m.gguf" --max-kl 1 --min-top1 0 --max-ppl-ratio 2
expect_rc 0 "smoke -v of DeepSeek-V4's Q8_0"
expect_err "ferry smoke: peak RSS" "smoke -v reports the peak RSS"
# the indexer decides: the same file keeping every compressed block runs to other tokens
cp "$work/$m.gguf" "$work/v4-dense.gguf"
gguf_patch "$work/v4-dense.gguf" deepseek4.attention.indexer.top_k 1048576
greedy_differs "$work/v4-dense.gguf" "$m" && ok ||
	bad "DeepSeek-V4: every block kept did not run to other tokens than the indexer's choice"
# a hash layer's table pointing past the experts is refused on load, naming the tensor
cp "$work/$m.gguf" "$work/v4-hash.gguf"
node --input-type=module -e '
import { readGguf } from "'"$(cd "$(dirname "$0")" && pwd)"'/gguf.mjs";
import fs from "node:fs";
const f = process.argv[1], g = readGguf(f), t = g.tensors["blk.0.ffn_gate_tid2eid.weight"];
const fd = fs.openSync(f, "r+"), b = Buffer.alloc(4);
b.writeInt32LE(8);
fs.writeSync(fd, b, 0, 4, g.base + Number(t.off) + 4 * 7);' "$work/v4-hash.gguf"
run "$FERRY" run "$work/v4-hash.gguf" -p hi -n 2
expect_rc 1 "run refuses an expert table naming expert 8 of 8"
expect_err "blk.0.ffn_gate_tid2eid.weight: value 8 at 7 is outside [0, 8)" "the refusal names the tensor"
# a GGUF whose compression ratio the engine does not know is refused on load, naming the key
cp "$work/$m.gguf" "$work/v4-ratio.gguf"
gguf_patch "$work/v4-ratio.gguf" deepseek4.attention.compress_ratios 5 1
run "$FERRY" run "$work/v4-ratio.gguf" -p hi -n 2
expect_rc 1 "run refuses a compression ratio of 5"
expect_err "v4-ratio.gguf: deepseek4.attention.compress_ratios has no ratio 0, 4 or 128 for layer 1" "the refusal names the file and the key"
cfg_bad "another scoring function" "bad/config.json: scoring_func 'softmax': DeepSeek-V4 routes by sqrtsoftplus" \
	'c.scoring_func = "softmax"'
cfg_bad "fewer compression ratios than layers" "bad/config.json: compress_ratios has 3 entries for 4 layers" \
	'c.compress_ratios = [0, 4, 128]'
cfg_bad "a ratio DeepSeek-V4 does not use" "bad/config.json: compress_ratios[1] is 5" \
	'c.compress_ratios[1] = 5'
cfg_bad "a negative ratio" "bad/config.json: compress_ratios[2] is not an integer" \
	'c.compress_ratios[2] = -4'
cfg_bad "no hyper-connections" "bad/config.json: DeepSeek-V4 needs head_dim" 'delete c.hc_mult'
rm -rf "$work/bad" && cp -r "$M/$m" "$work/bad"
E=layers.1.ffn.experts.2.w3
st_set "$work/bad" "$E.scale" 'h.shape = [h.shape[1], h.shape[0]]'
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "convert refuses FP4 scales of the wrong shape"
expect_err "tensor '$E.weight' should be I8 [rows, columns / 2]" "the refusal names the experts"
rm -rf "$work/bad" && cp -r "$M/$m" "$work/bad"
st_set "$work/bad" layers.2.attn.wq_a.scale 'h.dtype = "U8"'
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "convert refuses U8 block scales"
expect_err "tensor 'layers.2.attn.wq_a.scale'" "the refusal names the scales"
rm -rf "$work/bad"

# --- Qwen3-Next: what inspect says, the next-token block kept, refusals ---------------------
m=qwen3-next-tiny
run "$FERRY" inspect "$work/$m.gguf"
expect_out "attention: grouped-query: 4 heads over 2 key/value heads of 64, RoPE on 16 of them, q/k norms; 3 of 4 layers Gated DeltaNet (2 key heads and 4 value heads of 32, a convolution of 4); 1 next-token-prediction layer (not run)" "inspect: Qwen3-Next's layers"
expect_out "routing: softmax over 8 experts, top 2, renormalized; 1 shared expert" "inspect: Qwen3-Next's routing"
run "$FERRY" inspect --json "$work/$m.gguf"
[ "$(json_field "$work/out" 'd.tensors.filter(t => t.name.startsWith("blk.4.nextn.")).length')" = 4 ] &&
	ok || bad "$m: the mtp block is kept as layer 4 (as llama.cpp's converter keeps it)"
cfg_bad "no linear key heads" "bad/config.json: Qwen3-Next needs linear_conv_kernel_dim" \
	'delete c.linear_num_key_heads'
cfg_bad "value heads that key heads do not divide" "bad/config.json: Qwen3-Next needs" \
	'c.linear_num_value_heads = 5'
cfg_bad "in_proj_qkvz of another size" "model.layers.0.linear_attn.in_proj_qkvz.weight' has 384 rows, config.json's linear heads say 512" \
	'c.linear_value_head_dim = 48'
rm -rf "$work/bad"

# --- Qwen3.5: the multimodal checkpoint's language model, the layers named, refusals --------
m=qwen35-tiny
run "$FERRY" inspect "$work/$m.gguf"
expect_out "3 of 4 layers Gated DeltaNet (2 key heads and 4 value heads of 32, a convolution of 4); 1 next-token-prediction layer (not run)" "inspect: Qwen3.5's layers"
run "$FERRY" inspect --json "$work/$m.gguf"
[ "$(json_field "$work/out" 'd.tensors.filter(t => t.name.includes("visual") || t.name.includes("patch")).length')" = 0 ] &&
	ok || bad "$m: the vision tower is left out (as llama.cpp's converter leaves it for an mmproj)"
[ "$(json_field "$work/out" 'd.metadata["qwen35.rope.dimension_sections"].value.join(",")')" = 4,2,2,0 ] &&
	ok || bad "$m: rope_parameters.mrope_section is written padded to four"
# layer_types decides which layers are linear: the same checkpoint with layer 1 made full
# attention has no Gated DeltaNet tensors to give it, and is refused on load
rm -rf "$work/bad" && cp -r "$M/$m" "$work/bad" && node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
c.text_config.layer_types[1] = "full_attention"; fs.writeFileSync(f, JSON.stringify(c));' "$work/bad/config.json"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 0 "convert $m with other layer_types"
run "$FERRY" inspect "$work/x.gguf"
expect_out "2 of 4 layers Gated DeltaNet" "inspect counts the layers attention.recurrent_layers names"
run "$FERRY" run "$work/x.gguf" -p hello -n 1
expect_rc 1 "a layer named full attention without its tensors"
expect_err "blk.1.attn_q.weight" "the refusal names the missing tensor"
rm -f "$work/x.gguf"
cfg_bad "layer_types of another length" "bad/config.json: layer_types has 3 entries, num_hidden_layers is 4" \
	'c.text_config.layer_types.pop()'
cfg_bad "value heads that key heads do not divide" "bad/config.json: Qwen3.5 needs" \
	'c.text_config.linear_num_value_heads = 5'
cfg_bad "linear heads of another size" "tensor 'model.language_model.layers.0.linear_attn.conv1d.weight' has 256 rows, config.json's linear heads say 320" \
	'c.text_config.linear_value_head_dim = 48'
cfg_bad "an mrope_section of five" "bad/config.json: mrope_section is not 1 to 4 integers" \
	'c.text_config.rope_parameters.mrope_section = [1, 1, 1, 1, 1]'
rm -rf "$work/bad"

# --- Qwen3.5-MoE: fused experts --------------------------------------------------------------
m=qwen35moe-tiny
run "$FERRY" inspect "$work/$m.gguf"
expect_out "routing: softmax over 8 experts, top 2, renormalized; 1 shared expert" "inspect: Qwen3.5-MoE's routing"
run "$FERRY" inspect --json "$work/$m.gguf"
[ "$(json_field "$work/out" 'd.tensors.find(t => t.name === "blk.0.ffn_up_exps.weight").shape.join("x")')" = 256x128x8 ] &&
	ok || bad "$m: gate_up_proj's up half is ffn_up_exps [hidden, ff, experts]"
cfg_bad "fused experts of another count" "fused experts should be [6 experts" \
	'c.text_config.num_experts = 6'
rm -rf "$work/bad"

# --- Kimi K2: the tiktoken vocabulary and its refusals ---------------------------------------
K=$work/kimi-k2-tiny.gguf
run "$FERRY" inspect --json "$K"
[ "$(json_field "$work/out" 'd.metadata["tokenizer.ggml.pre"].value')" = kimi-k2 ] && ok ||
	bad "Kimi's pre-tokenizer is kimi-k2"
[ "$(json_field "$work/out" 'd.metadata["tokenizer.ggml.merges"].count')" = 1792 ] && ok ||
	bad "Kimi's merges derived from tiktoken.model's ranks"
kimi_bad() { # kimi_bad DESCRIPTION EXPECTED-ERROR SHELL-EDIT: a damaged copy is refused
	rm -rf "$work/kb" && cp -r "$M/kimi-k2-tiny" "$work/kb" && (cd "$work/kb" && eval "$3")
	run "$FERRY" convert "$work/kb" -o "$work/x.gguf"
	expect_rc 1 "convert refuses $1"
	expect_err "$2" "the refusal of $1 names the file and what is wrong"
	[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for $1"
}
kimi_bad "a tiktoken line without a rank" "kb/tiktoken.model: line 3 is not \"BASE64 RANK\"" \
	"sed -i '3s/ .*//' tiktoken.model"
kimi_bad "ranks out of order" "kb/tiktoken.model: line 2: a token in base64 and rank 1 expected" \
	"sed -i '2s/ 1\$/ 7/' tiktoken.model"
kimi_bad "bad base64" "kb/tiktoken.model: line 1: a token in base64" "sed -i '1s/^/%/' tiktoken.model"
kimi_bad "a repeated token" "kb/tiktoken.model: line 2 repeats a token" \
	"sed -i '2s/^[^ ]*/IQ==/' tiktoken.model"
kimi_bad "no tokenization_kimi.py" "no tokenization_kimi.py beside it" "rm tokenization_kimi.py"
kimi_bad "another pattern" "its pat_str is not Kimi's" "sed -i 's/Han/Latin/g' tokenization_kimi.py"

# --- Kimi K2.5: text_config, language_model., int4 experts, the vision tower left out -------
run "$FERRY" inspect --json "$work/kimi-k25-tiny.gguf"
[ "$(json_field "$work/out" 'd.tensors.filter(t => /vision|mm_proj/.test(t.name)).length')" = 0 ] &&
	ok || bad "K2.5's vision tower and projector are not in the text model"
E=language_model.model.layers.1.mlp.experts.3.up_proj.weight
rm -rf "$work/kb" && cp -r "$M/kimi-k25-tiny" "$work/kb" && st_set "$work/kb" "${E}_scale" 'h.shape = [h.shape[1], h.shape[0]]'
run "$FERRY" convert "$work/kb" -o "$work/x.gguf"
expect_rc 1 "convert refuses int4 scales of the wrong shape"
expect_err "tensor '${E}_scale' should be BF16, F16 or F32" "the refusal names the scales"
rm -rf "$work/kb" && cp -r "$M/kimi-k25-tiny" "$work/kb" && node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
c.quantization_config.config_groups.group_0.weights.symmetric = false;
fs.writeFileSync(f, JSON.stringify(c));' "$work/kb/config.json"
run "$FERRY" convert "$work/kb" -o "$work/x.gguf"
expect_rc 1 "convert refuses asymmetric int4"
expect_err "kb/config.json: compressed-tensors weights must be symmetric int4" "the refusal names the file"
[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for refused int4 checkpoints"
rm -rf "$work/kb"

# --- GLM-4.5: what inspect and show say, the MTP layer, refusals ----------------------------
G=$work/glm4moe-tiny.gguf
run "$FERRY" inspect "$G"
expect_out "attention: grouped-query: 4 heads over 2 key/value heads of 64, RoPE on 32 of them, q/k norms; 1 next-token-prediction layer (not run)" "inspect: GLM's attention"
expect_out "routing: sigmoid over 8 experts (plus a selection bias), top 2, renormalized, x2.5; 1 shared expert; the first 1 layer dense" "inspect: GLM's routing"
run "$FERRY" inspect --json "$G"
[ "$(json_field "$work/out" 'd.tensors.filter(t => t.name.startsWith("blk.3.nextn.")).length')" = 4 ] &&
	ok || bad "the next-token-prediction layer's own tensors are kept (as llama.cpp's converter)"
run "$FERRY" inspect "$M/glm4moe-tiny"
expect_out "routing: sigmoid over 8 experts" "inspect of the checkpoint: GLM routes by sigmoid"
"$FERRY" -q init && ok || bad "init"
"$FERRY" -q add org/glm "$M/glm4moe-tiny" -m import && ok || bad "add glm4moe-tiny"
run "$FERRY" show org/glm
expect_out "model    Glm4MoeForCausalLM, 3 layers" "show: the model line"
expect_out "attention grouped-query: 4 heads" "show: the attention line"
expect_out "experts  sigmoid over 8 experts" "show: the routing line"
# --- GLM-4.7-Flash: DeepSeek's layout with GLM's vocabulary, its routing named -------------
F=$work/glm47-flash-tiny.gguf
run "$FERRY" inspect "$F"
expect_out "attention: latent: 4 heads of 80, keys and values from a rank-128 latent, queries through rank 96, RoPE on 32 of them; 1 next-token-prediction layer (not run)" "inspect: GLM-4.7-Flash's attention"
expect_out "routing: sigmoid over 8 experts (plus a selection bias), top 2, renormalized, x1.8; 1 shared expert; the first 1 layer dense" "inspect: GLM-4.7-Flash's routing"
run "$FERRY" inspect --json "$F"
[ "$(json_field "$work/out" 'd.metadata["deepseek2.expert_gating_func"].value')" = 2 ] &&
	ok || bad "GLM-4.7-Flash: ferry names the sigmoid routing (llama.cpp's converter leaves it out)"
[ "$(json_field "$work/out" 'd.metadata["tokenizer.ggml.pre"].value')" = glm4 ] &&
	ok || bad "GLM-4.7-Flash: GLM's pre-tokenizer"
[ "$(json_field "$work/out" 'd.metadata["tokenizer.ggml.bos_token_id"].value')" = 2050 ] &&
	ok || bad "GLM-4.7-Flash: [gMASK] is BOS"
[ "$(json_field "$work/out" 'd.tensors.filter(t => t.name.startsWith("blk.3.nextn.")).length')" = 4 ] &&
	ok || bad "GLM-4.7-Flash: the next-token-prediction layer's own tensors are kept"
# without the key (as llama.cpp's converter writes it), a model that is not the 47-layer release
# is DeepSeek-V2's (softmax routing): other tokens
cp "$F" "$work/g47-nokey.gguf"
node -e '
const fs = require("fs"), f = process.argv[1], b = fs.readFileSync(f);
const at = b.indexOf("deepseek2.expert_gating_func");
b.write("X", at + "deepseek2.expert_gating_func".length - 1); fs.writeFileSync(f, b);' "$work/g47-nokey.gguf"
run "$FERRY" inspect "$work/g47-nokey.gguf"
expect_out "routing: softmax over 8 experts" "GLM-4.7-Flash without the key and not 47 layers: softmax, as llama.cpp"
greedy_differs "$work/g47-nokey.gguf" glm47-flash-tiny && ok ||
	bad "softmax routing did not run to other tokens than sigmoid's"

# --- MiniMax-M2: whole-projection q/k norms, FP8, refusals ---------------------------------
X=$work/minimax-m2-tiny.gguf
run "$FERRY" inspect "$X"
expect_out "attention: grouped-query: 4 heads over 2 key/value heads of 64, RoPE on 32 of them, q/k norms over all heads" "inspect: MiniMax's attention"
expect_out "routing: sigmoid over 8 experts (plus a selection bias), top 2, renormalized" "inspect: MiniMax's routing"
run "$FERRY" inspect --json "$X"
[ "$(json_field "$work/out" 'd.tensors.find(t => t.name === "blk.0.attn_q_norm.weight").shape[0]')" = 256 ] &&
	ok || bad "MiniMax's q norm spans all heads (256)"
[ "$(json_field "$work/out" 'd.metadata["general.sampling.top_k"].value')" = 40 ] &&
	ok || bad "general.sampling.top_k from generation_config.json"
rm -rf "$work/bad" && cp -r "$M/minimax-m2-tiny" "$work/bad"
node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
delete c.rotary_dim; fs.writeFileSync(f, JSON.stringify(c));' "$work/bad/config.json"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "convert refuses MiniMax without rotary_dim"
expect_err "bad/config.json: rotary_dim -1" "the refusal names the file and the field"
rm -rf "$work/bad"

# --- MiniMax-M1: the layers named, the residual scale, suppressed tokens, refusals -----------
m=minimax-m1-tiny
run "$FERRY" inspect "$work/$m.gguf"
expect_out "attention: grouped-query: 4 heads over 2 key/value heads of 32, RoPE on 16 of them; 7 of 8 layers lightning attention (linear, a decaying state per head)" "inspect: MiniMax-M1's layers"
expect_out "routing: softmax over 4 experts, top 2" "inspect: MiniMax-M1's routing"
run "$FERRY" inspect "$M/$m"
expect_out "7 of 8 layers lightning attention" "inspect of the checkpoint: attn_type_list"
run "$FERRY" inspect --json "$work/$m.gguf"
[ "$(json_field "$work/out" 'd.metadata["tokenizer.ggml.suppress_tokens"].value.join(",")')" = 2173 ] &&
	ok || bad "$m: the zero embedding row past the tokenizer's vocabulary is suppressed"
[ "$(json_field "$work/out" 'd.metadata["minimax-01.residual_scale"].value.toFixed(4)')" = 3.5566 ] &&
	ok || bad "$m: residual_scale from the layernorm alphas"
[ "$(json_field "$work/out" '"minimax-01.attention.recurrent_layers" in d.metadata')" = false ] &&
	ok || bad "$m: the release's pattern writes no recurrent_layers (as llama.cpp)"
# another pattern is written, and decides: layer 3 made softmax attention needs its tensors
rm -rf "$work/bad" && cp -r "$M/$m" "$work/bad" && node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
c.attn_type_list[3] = 1; fs.writeFileSync(f, JSON.stringify(c));' "$work/bad/config.json"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 0 "convert $m with another attn_type_list"
run "$FERRY" inspect "$work/x.gguf"
expect_out "6 of 8 layers lightning attention" "inspect counts the layers attention.recurrent_layers names"
run "$FERRY" run "$work/x.gguf" -p hello -n 1
expect_rc 1 "a layer named softmax attention without its tensors"
expect_err "blk.3.attn_q.weight" "the refusal names the missing tensor"
rm -f "$work/x.gguf"
# a file whose residual_scale is 0 is refused on load, naming the key
cp "$work/$m.gguf" "$work/mm-scale.gguf"
gguf_patch "$work/mm-scale.gguf" minimax-01.residual_scale 0
run "$FERRY" run "$work/mm-scale.gguf" -p hi -n 1
expect_rc 1 "run refuses a residual_scale of 0"
expect_err "mm-scale.gguf: residual_scale is missing or not positive" "the refusal names the file and the key"
cfg_bad "the residual taken before the norm" "bad/config.json: postnorm is not true" 'c.postnorm = false'
cfg_bad "alphas that differ" "bad/config.json: layernorm_mlp_alpha is not given or differs" \
	'c.layernorm_mlp_alpha = 2'
cfg_bad "a beta other than 1" "bad/config.json: layernorm_linear_attention_beta is not 1" \
	'c.layernorm_linear_attention_beta = 0.5'
cfg_bad "shared experts" "bad/config.json: shared_intermediate_size 64" 'c.shared_intermediate_size = 64'
cfg_bad "attn_type_list of another length" "bad/config.json: attn_type_list has 7 entries, num_hidden_layers is 8" \
	'c.attn_type_list.pop()'
cfg_bad "attn_type_list with a 2" "bad/config.json: attn_type_list[0] is not 0 or 1" 'c.attn_type_list[0] = 2'
rm -rf "$work/bad"

# --- Kimi-Linear: the layers named, the latent attention without RoPE, refusals -------------
m=kimi-linear-tiny
run "$FERRY" inspect "$work/$m.gguf"
expect_out "attention: latent: 4 heads of 48, keys and values from a rank-64 latent, no RoPE; 3 of 4 layers Kimi Delta Attention (4 heads of 32, a convolution of 4)" "inspect: Kimi-Linear's layers"
expect_out "routing: sigmoid over 8 experts (plus a selection bias), top 2, renormalized, x2.446; 1 shared expert; the first 1 layer dense" "inspect: Kimi-Linear's routing"
run "$FERRY" inspect "$M/$m"
expect_out "3 of 4 layers Kimi Delta Attention" "inspect of the checkpoint: linear_attn_config"
run "$FERRY" inspect --json "$work/$m.gguf"
[ "$(json_field "$work/out" 'd.metadata["kimi-linear.attention.head_count_kv"].value.join(",")')" = 0,0,0,1 ] &&
	ok || bad "$m: head_count_kv per layer (0 for Kimi Delta Attention)"
[ "$(json_field "$work/out" 'd.tensors.find(t => t.name === "blk.0.ssm_conv1d_q.weight").shape.join("x")')" = 4x1x128x1 ] &&
	ok || bad "$m: the short convolutions are written 4-D, as llama.cpp reshapes them"
cfg_bad "no linear_attn_config" "bad/config.json: Kimi-Linear needs linear_attn_config" \
	'delete c.linear_attn_config'
cfg_bad "a full-attention layer past the last" "bad/config.json: linear_attn_config.full_attn_layers[0] is not a layer (1 to 4)" \
	'c.linear_attn_config.full_attn_layers = [5]'
cfg_bad "KDA heads other than the attention's" "bad/config.json: linear_attn_config.num_heads 2 differs" \
	'c.linear_attn_config.num_heads = 2'
cfg_bad "queries with a low rank" "bad/config.json: q_lora_rank 64" 'c.q_lora_rank = 64'
cfg_bad "a routing function llama.cpp does not have" "bad/config.json: moe_router_activation_func 'relu'" \
	'c.moe_router_activation_func = "relu"'
rm -rf "$work/bad"

cp -r "$M/glm4moe-tiny" "$work/bad"
node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
c.partial_rotary_factor = 0.3; fs.writeFileSync(f, JSON.stringify(c));' "$work/bad/config.json"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "convert refuses an odd rotated share"
expect_err "bad/config.json: partial_rotary_factor 0.3" "the refusal names the file and the field"
rm -rf "$work/bad" && cp -r "$M/glm4-tiny" "$work/bad"
node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
c.partial_rotary_factor = 0.3; fs.writeFileSync(f, JSON.stringify(c));' "$work/bad/config.json"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "convert refuses GLM-4 dense with an odd rotated share"
expect_err "bad/config.json: partial_rotary_factor 0.3" "the GLM-4 refusal names the file and the field"
[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for a refused checkpoint"
rm -rf "$work/bad" && cp -r "$M/glm4moe-tiny" "$work/bad"
node -e '
const fs = require("fs"), f = process.argv[1], c = JSON.parse(fs.readFileSync(f));
delete c.weight_map["model.layers.2.mlp.experts.5.up_proj.weight"];
fs.writeFileSync(f, JSON.stringify(c));' "$work/bad/model.safetensors.index.json"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "convert refuses a checkpoint whose index lost an expert"
expect_err "tensor 'model.layers.2.mlp.experts.5.up_proj.weight' of shard" "the refusal names the tensor"
[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for a refused checkpoint"

echo "flagships: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
