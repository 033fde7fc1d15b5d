#!/bin/sh
# Integration tests of `ferry convert` (HF checkpoint -> GGUF) with the real binary and its
# sanitizer build: llama-stories260K converted to F32 must hold exactly the tensors and the
# vocabulary of llama.cpp's own stories260K.gguf (q/k permutation included); the other output
# types; refusals. Environment: FERRY, FERRY_SAN (optional). Ends with "N passed, N failed".
set -u

FERRY=${FERRY:?set FERRY}
FERRY_SAN=${FERRY_SAN:-}
DATA=${FERRY_TEST_DATA:-tests/data}
SRC=$DATA/models/llama-stories260K
REF=$DATA/models/stories260K/stories260K.gguf

work=$(mktemp -d /tmp/ferry-convert-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
hfcmp() { node "$(dirname "$0")/hfcmp.mjs" "$@"; }

# same_as_reference OUT.gguf [N]: every tensor of OUT (N of them, default 47) has the bytes of the
# same-named tensor of REF, and the vocabulary arrays equal those llama.cpp v0.5.0's converter
# writes (tests/data/golden/convert, scripts/llama/convert-goldens.sh)
same_as_reference() {
	node tests/cli/gguf_digest.mjs "$1" | grep -E "^kv tokenizer\.ggml\.(tokens|scores|token_type) " >"$work/voc" &&
		grep -E "^kv tokenizer\.ggml\.(tokens|scores|token_type) " \
			"$DATA/golden/convert/llama-stories260K-f32.digest" | cmp -s - "$work/voc" ||
		{ echo "vocabulary differs from llama.cpp v0.5.0's conversion" >&2; return 1; }
	"$FERRY" inspect --json --full "$1" >"$work/a.json" &&
		"$FERRY" inspect --json --full "$REF" >"$work/b.json" &&
		node -e '
const fs = require("fs");
const [aj, bj, af, bf] = process.argv.slice(1);
const a = JSON.parse(fs.readFileSync(aj)), b = JSON.parse(fs.readFileSync(bj));
const fa = fs.readFileSync(af), fb = fs.readFileSync(bf);
const ref = new Map(b.tensors.map(t => [t.name, t]));
let n = 0;
for (const t of a.tensors) {
	const r = ref.get(t.name);
	if (!r) { console.error("not in the reference: " + t.name); process.exit(1); }
	const x = fa.subarray(a.data_offset + t.offset, a.data_offset + t.offset + t.bytes);
	const y = fb.subarray(b.data_offset + r.offset, b.data_offset + r.offset + r.bytes);
	if (!x.equals(y)) { console.error("differs: " + t.name); process.exit(1); }
	n++;
}
if (n !== Number(process.argv[5])) { console.error(n + " tensors"); process.exit(1); }' \
			"$work/a.json" "$work/b.json" "$1" "$REF" "${2:-47}"
}

for bin in "$FERRY" $FERRY_SAN; do
	name=$(basename "$bin")
	run "$bin" convert "$SRC" -o "$work/$name-f32.gguf" --outtype f32
	expect_rc 0 "$name convert llama-stories260K --outtype f32"
	expect_out "llama, 47 tensors, 512 tokens" "$name summary"
	if same_as_reference "$work/$name-f32.gguf"; then ok; else
		bad "$name: tensors or vocabulary differ from llama.cpp's stories260K.gguf"
	fi
done
run "$FERRY" inspect --json "$work/ferry-f32.gguf"
expect_out '"tokenizer.ggml.add_bos_token"' "add_bos_token from tokenizer_config.json"
expect_out '"llama.rope.dimension_count"' "llama's rope.dimension_count"
for t in f16 bf16 q8_0 auto; do
	run "$FERRY" convert "$SRC" -o "$work/s-$t.gguf" --outtype $t
	expect_rc 0 "convert --outtype $t"
	run "$FERRY" verify --deep "$work/s-$t.gguf"
	expect_rc 0 "verify --deep the $t output"
done
run "$FERRY" inspect --json "$work/s-q8_0.gguf"
grep -A2 '"name": "blk.0.attn_q.weight"' "$work/out" | grep -q '"type": "Q8_0"' && ok ||
	bad "q8_0 output: 2-D weights in Q8_0"
grep -A2 '"name": "blk.0.ffn_down.weight"' "$work/out" | grep -q '"type": "F16"' && ok ||
	bad "q8_0 output: a row of 172 falls back to F16"
grep -A2 '"name": "blk.0.attn_norm.weight"' "$work/out" | grep -q '"type": "F32"' && ok ||
	bad "norms stay F32"
run "$FERRY" quant "$work/s-f16.gguf" --type Q4_K_M -o "$work/s-q4.gguf"
expect_rc 0 "a converted file quantizes"

# byte-level BPE checkpoints (tokenizer.json): Qwen2 (merges as "a b"), Qwen3 (merges as pairs)
# check_vocab OUT.gguf DIR EOS: the GGUF vocabulary against tokenizer.json and config.json
check_vocab() {
	"$FERRY" inspect --json --full "$1" >"$work/v.json" && node -e '
const fs = require("fs");
const [gj, dir, eos] = process.argv.slice(1);
const g = JSON.parse(fs.readFileSync(gj)).metadata;
const tj = JSON.parse(fs.readFileSync(dir + "/tokenizer.json"));
const cfg = JSON.parse(fs.readFileSync(dir + "/config.json"));
const v = k => g[k].value;
const fail = m => { console.error(m); process.exit(1); };
if (v("tokenizer.ggml.model") !== "gpt2" || v("tokenizer.ggml.pre") !== "qwen2") fail("model/pre");
const toks = v("tokenizer.ggml.tokens"), types = v("tokenizer.ggml.token_type");
if (g["tokenizer.ggml.tokens"].count !== cfg.vocab_size) fail("vocab size " + g["tokenizer.ggml.tokens"].count);
for (const [t, id] of Object.entries(tj.model.vocab))
	if (id < toks.length && toks[id] !== t) fail("token " + id);
const merges = tj.model.merges.map(m => Array.isArray(m) ? m.join(" ") : m);
if (g["tokenizer.ggml.merges"].count !== merges.length) fail("merge count");
const gm = v("tokenizer.ggml.merges");
for (let i = 0; i < gm.length; i++) if (gm[i] !== merges[i]) fail("merge " + i);
for (const a of tj.added_tokens)
	/* special, or looking special like <|fim_prefix|> (llama.cpp), is control; else user-defined */
	if (a.id < types.length && types[a.id] !== (a.special || /^<\|.*\|>$/.test(a.content) ? 3 : 4))
		fail("added token type " + a.id);
if (v("tokenizer.ggml.eos_token_id") !== Number(eos)) fail("eos " + v("tokenizer.ggml.eos_token_id"));
if (typeof v("tokenizer.chat_template") !== "string") fail("chat template");' "$work/v.json" "$2" "$3"
}
run "$FERRY" convert "$DATA/models/qwen2-shakespeare" -o "$work/qwen2.gguf" --outtype auto
expect_rc 0 "convert qwen2-shakespeare (BF16 checkpoint, --outtype auto)"
expect_out "qwen2, 74 tensors, 2176 tokens" "qwen2 summary"
check_vocab "$work/qwen2.gguf" "$DATA/models/qwen2-shakespeare" 2048 && ok || bad "qwen2 vocabulary"
run "$FERRY" inspect --json "$work/qwen2.gguf"
grep -A2 '"name": "blk.0.attn_q.bias"' "$work/out" | grep -q '"type": "F32"' && ok || bad "qwen2 q bias F32"
grep -A2 '"name": "token_embd.weight"' "$work/out" | grep -q '"type": "BF16"' && ok || bad "auto keeps BF16"
run "$FERRY" convert "$DATA/models/qwen3-tiny" -o "$work/qwen3.gguf"
expect_rc 0 "convert qwen3-tiny"
check_vocab "$work/qwen3.gguf" "$DATA/models/qwen3-tiny" 2050 && ok || bad "qwen3 vocabulary"
run "$FERRY" inspect --json "$work/qwen3.gguf"
expect_out '"qwen3.attention.key_length"' "qwen3 explicit head_dim"
expect_out '"blk.3.attn_k_norm.weight"' "qwen3 k norm mapped"
run "$FERRY" quant "$work/qwen3.gguf" --type Q4_K_M -o "$work/qwen3-q4.gguf"
expect_rc 0 "a converted qwen3 quantizes (rows of 256: K-quants apply)"

# refusals: one line, exit 1, nothing written
mkdir -p "$work/gpt2"
sed 's/"Qwen3ForCausalLM"/"GPT2LMHeadModel"/' "$DATA/models/qwen3-tiny/config.json" >"$work/gpt2/config.json"
cp "$DATA/models/qwen3-tiny/model.safetensors" "$DATA/models/qwen3-tiny/tokenizer.json" "$work/gpt2/"
run "$FERRY" convert "$work/gpt2" -o "$work/x.gguf"
expect_rc 1 "an unsupported architecture"
expect_err "LlamaForCausalLM, MistralForCausalLM" "the supported architectures are listed"
[ ! -e "$work/x.gguf" ] && ok || bad "a refused conversion left a file"
mkdir -p "$work/bad"
cp "$SRC/config.json" "$SRC/tokenizer_config.json" "$SRC/model.safetensors" "$work/bad/"
printf 'not a protobuf \377\377\377' >"$work/bad/tokenizer.model"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "a malformed tokenizer.model"
expect_err "bad/tokenizer.model" "the error names the tokenizer file"
cp "$SRC/tokenizer.model" "$work/bad/"
node -e '
const h = Buffer.from(JSON.stringify({"vision.proj.weight": {dtype: "F32", shape: [2], data_offsets: [0, 8]}}));
const n = Buffer.alloc(8); n.writeBigUInt64LE(BigInt(h.length));
require("fs").writeFileSync(process.argv[1], Buffer.concat([n, h, Buffer.alloc(8)]));' \
	"$work/bad/model.safetensors"
run "$FERRY" convert "$work/bad" -o "$work/x.gguf"
expect_rc 1 "a tensor the architecture does not map"
expect_err "vision.proj.weight" "the unmapped tensor is named"
[ ! -e "$work/x.gguf" ] && ok || bad "a failed conversion left a file"
run "$FERRY" convert "$SRC"
expect_rc 2 "-o is required"
run "$FERRY" convert "$SRC" -o "$work/x.gguf" --outtype q4_0
expect_rc 2 "unknown --outtype"
run "$FERRY" convert "$work/nope" -o "$work/x.gguf"
expect_rc 1 "missing directory"

# split output: the same keys and tensors as the single file, in shards (the writer is the one
# quant's goldens check against llama-gguf-split)
run "$FERRY" convert "$SRC" -o "$work/sp.gguf" --outtype f32 --split-max-tensors 20 --name same
expect_rc 0 "convert --split-max-tensors"
expect_out "in 3 shards" "convert says how many shards"
"$FERRY" -q convert "$SRC" -o "$work/one.gguf" --outtype f32 --name same
for k in 1 2 3; do node tests/cli/gguf_digest.mjs "$work/sp-0000$k-of-00003.gguf"; done |
	grep -v "^kv split\." | sed 's/ @[0-9]* / /' | sort >"$work/sp.dig"
node tests/cli/gguf_digest.mjs "$work/one.gguf" | sed 's/ @[0-9]* / /' | sort >"$work/one.dig"
cmp -s "$work/sp.dig" "$work/one.dig" && ok || bad "the shards do not hold the single file's keys and tensors"
run "$FERRY" convert "$SRC" -o "$work/sp2.gguf" --split-max-size 0G
expect_rc 2 "--split-max-size 0G"

# a SentencePiece vocabulary from tokenizer.json alone (BPE with byte_fallback, no
# tokenizer.model): the same tokens, scores and types, so the same GGUF byte for byte
mkdir "$work/nospm" && cp "$SRC"/*.json "$SRC/model.safetensors" "$work/nospm/" &&
	"$FERRY" -q convert "$work/nospm" -o "$work/nospm.gguf" --outtype f32 --name same &&
	"$FERRY" -q convert "$SRC" -o "$work/withspm.gguf" --outtype f32 --name same &&
	cmp -s "$work/nospm.gguf" "$work/withspm.gguf" && ok || bad "tokenizer.json with byte fallback gives tokenizer.model's vocabulary"

# rope scaling: Llama 3's factors become rope_freqs.weight (computed as llama.cpp's converter
# does), linear and yarn become rope.scaling.* keys, other kinds are refused
rope_variant() { # rope_variant DIR JSON
	mkdir -p "$1" && cp "$SRC"/* "$1"/ 2>/dev/null
	node -e '
const fs = require("fs"), f = process.argv[1] + "/config.json", c = JSON.parse(fs.readFileSync(f));
c.rope_scaling = JSON.parse(process.argv[2]); fs.writeFileSync(f, JSON.stringify(c));' "$1" "$2"
}
rope_variant "$work/l3" '{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":64,"rope_type":"llama3"}'
"$FERRY" -q convert "$work/l3" -o "$work/l3.gguf" --outtype f32 --name l3 && ok || bad "llama3 rope scaling converts"
"$FERRY" inspect --json --full "$work/l3.gguf" >"$work/l3.json" && node -e '
const fs = require("fs"), j = JSON.parse(fs.readFileSync(process.argv[1]));
const t = j.tensors.find(t => t.name === "rope_freqs.weight");
const b = fs.readFileSync(process.argv[2]).subarray(j.data_offset + t.offset, j.data_offset + t.offset + 16);
const got = [0, 1, 2, 3].map(i => b.readFloatLE(4 * i));
// head size 8, base 10000, old context 64: wavelengths 2pi * 10000^(i/4); 16 and 64 bound the blend
const f = Math.fround, want = [0, 1, 2, 3].map(i => {
	const w = f(2 * Math.PI / f(1 / f(Math.pow(10000, i / 4))));
	if (w < 16) return 1; if (w > 64) return 8;
	const s = f((64 / w - 1) / 3); return f(1 / f(f((1 - s) / 8) + s));
});
if (got.some((g, i) => Math.abs(g - want[i]) > 1e-6 * want[i])) { console.error(got, want); process.exit(1); }' \
	"$work/l3.json" "$work/l3.gguf" && ok || bad "rope_freqs.weight holds Llama 3's factors"
a=$("$FERRY" run "$work/l3" -p "Once upon a time" -n 16 --seed 7 2>/dev/null)
b=$("$FERRY" run "$work/l3.gguf" -p "Once upon a time" -n 16 --seed 7 2>/dev/null)
c=$("$FERRY" run "$SRC" -p "Once upon a time" -n 16 --seed 7 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ] && ok || bad "the factors apply to the checkpoint and the GGUF alike (and change the output)"
"$FERRY" -q convert "$work/l3.gguf" -o "$work/l3-hf" && hfcmp json "$work/l3/config.json" "$work/l3-hf/config.json" rope_scaling &&
	"$FERRY" -q convert "$work/l3-hf" -o "$work/l3-2.gguf" --outtype f32 --name l3 && cmp -s "$work/l3.gguf" "$work/l3-2.gguf" &&
	ok || bad "llama3 rope_scaling survives GGUF -> HF -> GGUF"
rope_variant "$work/lin" '{"type":"linear","factor":2.0}'
"$FERRY" -q convert "$work/lin" -o "$work/lin.gguf" --outtype f32 && "$FERRY" inspect "$work/lin.gguf" >"$work/lin.txt" &&
	grep -q 'llama.rope.scaling.type *"linear"' "$work/lin.txt" && grep -q 'llama.rope.scaling.factor *2 ' "$work/lin.txt" &&
	ok || bad "linear rope scaling keys"
a=$("$FERRY" run "$work/lin.gguf" -p "Once upon a time" -n 8 --seed 7 2>/dev/null) && [ -n "$a" ] && [ "$a" != "$c" ] && ok || bad "linear scaling runs"
rope_variant "$work/yarn" '{"rope_type":"yarn","factor":4.0,"original_max_position_embeddings":128}'
"$FERRY" -q convert "$work/yarn" -o "$work/yarn.gguf" --outtype f32 && "$FERRY" inspect "$work/yarn.gguf" >"$work/yarn.txt" &&
	grep -q 'llama.rope.scaling.type *"yarn"' "$work/yarn.txt" && grep -q 'llama.rope.scaling.factor *4 ' "$work/yarn.txt" &&
	grep -q 'llama.rope.scaling.original_context_length *128 ' "$work/yarn.txt" && ok || bad "yarn rope scaling keys"
rope_variant "$work/dyn" '{"type":"dynamic","factor":2.0}'
run "$FERRY" convert "$work/dyn" -o "$work/dyn.gguf"
expect_rc 1 "an unsupported rope scaling"
expect_err "rope_scaling type 'dynamic' is not supported (linear, yarn, llama3)" "the refusal lists what is"
rope_variant "$work/ropebad" '{"type":"linear","factor":-2}'
run "$FERRY" convert "$work/ropebad" -o "$work/x.gguf"
expect_rc 1 "a negative rope factor"
expect_err "rope_scaling.factor is not a positive number" "the bad field is named"
rope_variant "$work/ropestr" '"linear"'
run "$FERRY" convert "$work/ropestr" -o "$work/x.gguf"
expect_rc 1 "rope_scaling that is not an object"
expect_err "rope_scaling is not an object" "the refusal says so"
# rope factors of zero in a GGUF are refused by run (they would divide the angles)
node -e '
const fs = require("fs"), [src, dst] = process.argv.slice(1), b = fs.readFileSync(src);
const j = JSON.parse(fs.readFileSync(process.argv[3]));
const t = j.tensors.find(t => t.name === "rope_freqs.weight");
b.fill(0, j.data_offset + t.offset, j.data_offset + t.offset + 4); fs.writeFileSync(dst, b);' \
	"$work/l3.gguf" "$work/l3zero.gguf" "$work/l3.json"
run "$FERRY" run "$work/l3zero.gguf" -p x -n 1
expect_rc 1 "a zero rope factor"
expect_err "rope_freqs.weight[0] is not a positive number" "the bad factor is named"

# FP8 sources: F8_E4M3 weights with 32x32 block scales (F32 and BF16), over two shards, must
# convert to exactly what the F32 checkpoint of their dequantized values converts to
node "$(dirname "$0")/fp8.mjs" "$SRC" "$work/fp8" "$work/fp8ref" && ok || bad "FP8 fixture generated"
for t in f32 bf16; do
	"$FERRY" -q convert "$work/fp8" -o "$work/fp8-$t.gguf" --outtype $t --name fp8 &&
		"$FERRY" -q convert "$work/fp8ref" -o "$work/ref-$t.gguf" --outtype $t --name fp8 &&
		cmp -s "$work/fp8-$t.gguf" "$work/ref-$t.gguf" &&
		ok || bad "FP8 block-scaled checkpoint converts exactly ($t)"
done
"$FERRY" -q convert "$work/fp8" -o "$work/fp8-auto.gguf" --outtype auto &&
	"$FERRY" inspect --json "$work/fp8-auto.gguf" | node -e '
const j = JSON.parse(require("fs").readFileSync(0));
const q = j.tensors.find(t => t.name === "blk.0.attn_q.weight");
process.exit(j.metadata["general.file_type"].value === 32 && q.type === "BF16" ? 0 : 1);' &&
	ok || bad "FP8 auto is BF16"
if [ -n "$FERRY_SAN" ]; then
	"$FERRY_SAN" -q convert "$work/fp8" -o "$work/fp8-san.gguf" --outtype f32 &&
		cmp -s "$work/fp8-san.gguf" "$work/fp8-f32.gguf" && ok || bad "FP8 under the sanitizers"
fi
run "$FERRY" run "$work/fp8" -p "To be" -n 8 --temp 0 --json
expect_rc 0 "an FP8 checkpoint runs unconverted (read in place with its block scales)"
cp "$work/out" "$work/fp8-run.json"
run "$FERRY" run "$work/fp8-f32.gguf" -p "To be" -n 8 --temp 0 --json
[ "$(json_field "$work/fp8-run.json" 'JSON.stringify(d.ids)')" = "$(json_field "$work/out" 'JSON.stringify(d.ids)')" ] &&
	ok || bad "the FP8 checkpoint and its F32 conversion generate different tokens"
if [ -n "$FERRY_SAN" ]; then
	run "$FERRY_SAN" run "$work/fp8" -p "To be" -n 8 --temp 0 --json
	[ "$(json_field "$work/fp8-run.json" 'JSON.stringify(d.ids)')" = "$(json_field "$work/out" 'JSON.stringify(d.ids)')" ] &&
		ok || bad "the FP8 checkpoint under the sanitizers"
fi
# a weight without its scales; scales of the wrong shape for the block size
cp -r "$work/fp8" "$work/fp8bad"
node -e '
const fs = require("fs"), f = process.argv[1];
const b = fs.readFileSync(f), n = Number(b.readBigUInt64LE(0));
const h = JSON.parse(b.subarray(8, 8 + n));
const k = Object.keys(h).find(k => k.endsWith("q_proj.weight_scale_inv"));
h[k.replace("_scale_inv", "_scale_xxx")] = h[k]; delete h[k];
let j = Buffer.from(JSON.stringify(h)); j = Buffer.concat([j, Buffer.alloc((8 - j.length % 8) % 8, 32)]);
const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(j.length));
fs.writeFileSync(f, Buffer.concat([l, j, b.subarray(8 + n)]));
const ix = process.argv[2], m = JSON.parse(fs.readFileSync(ix));
m.weight_map[k.replace("_scale_inv", "_scale_xxx")] = m.weight_map[k]; delete m.weight_map[k];
fs.writeFileSync(ix, JSON.stringify(m));' \
	"$work/fp8bad/$(node -e 'const m=require(process.argv[1]).weight_map;console.log(m[Object.keys(m).find(k=>k.endsWith("q_proj.weight_scale_inv"))])' "$work/fp8/model.safetensors.index.json")" \
	"$work/fp8bad/model.safetensors.index.json"
run "$FERRY" convert "$work/fp8bad" -o "$work/x.gguf"
expect_rc 1 "an F8_E4M3 weight without its scales"
expect_err "has no 'model.layers.0.self_attn.q_proj.weight_scale_inv'" "the missing scale tensor is named"
[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for a bad FP8 checkpoint"
# a scale tensor whose weight is not F8_E4M3; a malformed weight_block_size
cp -r "$work/fp8" "$work/fp8orphan" && cp "$SRC/model.safetensors" "$work/fp8orphan/" &&
	rm "$work/fp8orphan"/model-0000*.safetensors "$work/fp8orphan/model.safetensors.index.json" &&
	node -e '
const fs = require("fs"), f = process.argv[1];
const b = fs.readFileSync(f), n = Number(b.readBigUInt64LE(0));
const h = JSON.parse(b.subarray(8, 8 + n)), d = b.subarray(8 + n);
h["model.norm.weight_scale_inv"] = { dtype: "F32", shape: [1], data_offsets: [d.length, d.length + 4] };
let j = Buffer.from(JSON.stringify(h)); j = Buffer.concat([j, Buffer.alloc((8 - j.length % 8) % 8, 32)]);
const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(j.length));
fs.writeFileSync(f, Buffer.concat([l, j, d, Buffer.alloc(4)]));' "$work/fp8orphan/model.safetensors"
run "$FERRY" convert "$work/fp8orphan" -o "$work/x.gguf"
expect_rc 1 "a scale tensor without an F8_E4M3 weight"
expect_err "'model.norm.weight_scale_inv' scales no F8_E4M3 tensor" "the orphan scale is named"
edited_checkpoint "$work/fp8" "$work/fp8bs" 's/"weight_block_size":\[32,32\]/"weight_block_size":[32]/'
run "$FERRY" convert "$work/fp8bs" -o "$work/x.gguf"
expect_rc 1 "a malformed weight_block_size"
expect_err "weight_block_size is not two positive integers" "the bad field is named"
edited_checkpoint "$work/fp8" "$work/fp8blk" 's/"weight_block_size": *\[32, *32\]/"weight_block_size":[64,32]/; s/\[32,32\]/[64,32]/'
run "$FERRY" convert "$work/fp8blk" -o "$work/x.gguf"
expect_rc 1 "scales that do not match the block size"
expect_err "should be F32 or BF16" "the scale tensor's expected shape is given"

# GGUF -> HF (--to safetensors): HF -> GGUF(f32) -> HF gives identical tensors, an equivalent
# config and tokenizer; converting the result again gives the same GGUF byte for byte
CFG_KEYS="architectures hidden_size intermediate_size num_hidden_layers num_attention_heads num_key_value_heads max_position_embeddings rms_norm_eps rope_theta vocab_size bos_token_id eos_token_id"
"$FERRY" -q convert "$SRC" -o "$work/rt.gguf" --outtype f32 --name rt && ok || bad "stories to GGUF f32"
run "$FERRY" convert "$work/rt.gguf" -o "$work/rt-hf"
expect_rc 0 "GGUF to HF"
expect_out "LlamaForCausalLM, 47 tensors (F32), 512 tokens (SentencePiece)" "the summary names architecture, tensors and tokenizer"
[ "$(ls "$work/rt-hf" | tr '\n' ' ')" = "config.json model.safetensors tokenizer.json tokenizer.model tokenizer_config.json " ] &&
	ok || bad "the checkpoint's files"
hfcmp tensors "$SRC/model.safetensors" "$work/rt-hf/model.safetensors" && ok || bad "llama tensors round-trip exactly (q/k permuted back)"
hfcmp json "$SRC/config.json" "$work/rt-hf/config.json" $CFG_KEYS tie_word_embeddings torch_dtype && ok || bad "llama config.json equivalent"
hfcmp json "$SRC/tokenizer.json" "$work/rt-hf/tokenizer.json" && ok || bad "SentencePiece tokenizer.json identical (merges extracted from the scores)"
hfcmp json "$SRC/tokenizer_config.json" "$work/rt-hf/tokenizer_config.json" add_bos_token add_eos_token bos_token eos_token unk_token &&
	ok || bad "tokenizer_config.json special tokens"
"$FERRY" -q convert "$work/rt-hf" -o "$work/rt2.gguf" --outtype f32 --name rt && cmp -s "$work/rt.gguf" "$work/rt2.gguf" &&
	ok || bad "HF -> GGUF -> HF -> GGUF is byte-identical (tokenizer.model rebuilt)"
for m in qwen2-shakespeare qwen3-tiny; do
	"$FERRY" -q convert "$DATA/models/$m" -o "$work/$m.gguf" --outtype f32 --name rt &&
		"$FERRY" -q convert "$work/$m.gguf" -o "$work/$m-hf" --outtype bf16 && ok || bad "$m round trip runs"
	hfcmp tensors "$DATA/models/$m/model.safetensors" "$work/$m-hf/model.safetensors" && ok || bad "$m BF16 tensors round-trip exactly"
	hfcmp json "$DATA/models/$m/config.json" "$work/$m-hf/config.json" $CFG_KEYS torch_dtype && ok || bad "$m config.json equivalent"
	hfcmp json "$DATA/models/$m/tokenizer.json" "$work/$m-hf/tokenizer.json" pre_tokenizer normalizer &&
		ok || bad "$m pre-tokenizer and normalizer"
	"$FERRY" -q convert "$work/$m-hf" -o "$work/$m-2.gguf" --outtype f32 --name rt && cmp -s "$work/$m.gguf" "$work/$m-2.gguf" &&
		ok || bad "$m: HF -> GGUF -> HF -> GGUF is byte-identical"
done
hfcmp json "$DATA/models/qwen3-tiny/config.json" "$work/qwen3-tiny-hf/config.json" head_dim && ok || bad "qwen3 keeps head_dim"
# llama.cpp's own stories260K.gguf (explicit output tensor) converts to HF and back to its tensors
"$FERRY" -q convert "$REF" -o "$work/ref-hf" && "$FERRY" -q convert "$work/ref-hf" -o "$work/ref-back.gguf" --outtype f32 &&
	same_as_reference "$work/ref-back.gguf" 48 && ok || bad "llama.cpp's file -> HF -> GGUF keeps tensors and vocabulary"
hfcmp json "$work/ref-hf/config.json" /dev/stdin tie_word_embeddings <<'J' && ok || bad "an explicit output tensor is untied"
{"tie_word_embeddings": false}
J
# a quantized file dequantizes (F32 by default, exact): the checkpoint computes what the file does
"$FERRY" -q quant "$work/rt.gguf" -o "$work/rt-q8.gguf" --type Q8_0 && "$FERRY" -q convert "$work/rt-q8.gguf" -o "$work/q8-hf" &&
	ok || bad "a Q8_0 file converts"
a=$("$FERRY" run "$work/rt-q8.gguf" -p "Once upon a time" -n 24 --seed 7 --activations f32 2>/dev/null)
b=$("$FERRY" run "$work/q8-hf" -p "Once upon a time" -n 24 --seed 7 --activations f32 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "the dequantized checkpoint generates what the Q8_0 file does"
grep -q '"torch_dtype": "float32"' "$work/q8-hf/config.json" && ok || bad "a quantized file exports as float32"
"$FERRY" -q convert "$work/rt.gguf" -o "$work/f16-hf" --outtype f16 && grep -q '"torch_dtype": "float16"' "$work/f16-hf/config.json" &&
	ok || bad "--outtype f16"
if [ -n "$FERRY_SAN" ]; then
	"$FERRY_SAN" -q convert "$work/rt-q8.gguf" -o "$work/q8-san" && hfcmp tensors "$work/q8-hf/model.safetensors" "$work/q8-san/model.safetensors" &&
		ok || bad "GGUF -> HF under the sanitizers"
fi
# refusals: nothing written
run "$FERRY" convert "$DATA/models/gguf-vocab/ggml-vocab-gpt-2.gguf" -o "$work/gpt2-hf"
expect_rc 1 "an architecture without an HF mapping"
expect_err "architecture 'gpt2' does not convert" "the refusal names the architecture"
[ ! -e "$work/gpt2-hf" ] && [ -z "$(ls -d "$work"/gpt2-hf.tmp-* 2>/dev/null)" ] && ok || bad "nothing left behind"
# a vocabulary-only GGUF; a tokenizer model without an HF form
run "$FERRY" convert "$DATA/models/gguf-vocab/ggml-vocab-llama-spm.gguf" -o "$work/x-hf"
expect_rc 1 "a vocabulary-only GGUF"
expect_err "holds no tensors" "the refusal says why"
node -e '
const fs = require("fs"), b = fs.readFileSync(process.argv[1]);
const i = b.indexOf("tokenizer.ggml.model"); const v = b.indexOf("llama", i + 20);
b.write("bert!", v); fs.writeFileSync(process.argv[2], b);' "$work/rt.gguf" "$work/bert.gguf"
run "$FERRY" convert "$work/bert.gguf" -o "$work/bert-hf"
expect_rc 1 "a tokenizer model without an HF form"
expect_err "tokenizer model 'bert!' does not convert" "the model is named"
[ ! -e "$work/bert-hf" ] && ok || bad "nothing written for it"
run "$FERRY" convert "$work/rt.gguf" -o "$work/x-hf" --outtype q8_0
expect_rc 2 "q8_0 is not a safetensors output type"
run "$FERRY" convert "$work/rt.gguf" -o "$work/x-hf" --to gguf
expect_rc 1 "--to gguf from a GGUF file"
expect_err "converts to safetensors" "the refusal says what it converts to"
run "$FERRY" convert "$SRC" -o "$work/x.gguf" --to onnx
expect_rc 2 "an unknown --to"
node -e '
const fs = require("fs"), b = fs.readFileSync(process.argv[1]);
b[b.indexOf("<0x41>")] = 0xff; fs.writeFileSync(process.argv[2], b);' "$work/rt.gguf" "$work/badtok.gguf"
run "$FERRY" convert "$work/badtok.gguf" -o "$work/badtok-hf"
expect_rc 1 "a token that is not UTF-8"
expect_err "token 68 is not valid UTF-8" "the token is named"
head -c 100000 "$work/rt.gguf" >"$work/cut.gguf"
run "$FERRY" convert "$work/cut.gguf" -o "$work/cut-hf"
expect_rc 1 "a truncated GGUF"
expect_err "cut.gguf" "the error names the file"
[ ! -e "$work/cut-hf" ] && ok || bad "nothing written for a truncated GGUF"

# store mode: a revision converted into NS/NAME-GGUF with its lineage
export FERRY_HOME="$work/store"
"$FERRY" -q init && "$FERRY" -q add local/stories "$SRC" && ok || bad "store set-up"
src_rev=$("$FERRY" show --json local/stories | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).id)')
run "$FERRY" convert local/stories
expect_rc 0 "convert a store revision"
expect_out "local/stories-GGUF@" "the derived revision is named"
expect_out "added stories-F16.gguf" "the file is named after the repository and type"
"$FERRY" show --json local/stories-GGUF >"$work/rev.json"
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
const [src, sha] = process.argv.slice(2);
const o = r.origin, s = o.sources[0];
const st = s.files.find(f => f.path === "model.safetensors");
if (o.kind !== "derived" || o.operation !== "convert" || s.repo !== "local/stories" ||
    s.revision !== src || !st || st.sha256 !== sha || o.parameters.to !== "gguf" ||
    o.parameters.outtype !== "f16" || !o.ferry || r.files.length !== 1 ||
    r.files[0].path !== "stories-F16.gguf") { console.error(JSON.stringify(r)); process.exit(1); }' \
	"$work/rev.json" "$src_rev" "$(sha256sum "$SRC/model.safetensors" | cut -c1-64)" &&
	ok || bad "the manifest records the source revision, file digests and parameters"
"$FERRY" -q convert local/stories -o "$work/from-store.gguf" &&
	"$FERRY" -q checkout local/stories-GGUF "$work/co" &&
	cmp -s "$work/from-store.gguf" "$work/co/stories-F16.gguf" &&
	ok || bad "-o from a revision writes the same file as store mode"
"$FERRY" inspect --json "$work/from-store.gguf" | node -e '
const m = JSON.parse(require("fs").readFileSync(0)).metadata;
process.exit(m["ferry.source"].value === process.argv[1] && m["general.name"].value === "stories" ? 0 : 1);' "local/stories@$src_rev" &&
	ok || bad "ferry.source names the source revision, general.name the repository"
parent=$("$FERRY" show --json local/stories-GGUF | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).id)')
run "$FERRY" convert local/stories@"$src_rev" --outtype q8_0
expect_rc 0 "convert at an explicit revision"
"$FERRY" show --json local/stories-GGUF | node -e '
const r = JSON.parse(require("fs").readFileSync(0));
if (r.parent !== process.argv[1] || r.files.map(f => f.path).join() !== "stories-F16.gguf,stories-Q8_0.gguf")
	process.exit(1);' "$parent" && ok || bad "a second type is added on top of main"
run "$FERRY" convert local/stories --outtype bf16 --into team/tiny
expect_rc 0 "--into names the repository"
expect_out "team/tiny@" "--into's repository"
run "$FERRY" smoke local/stories-GGUF:stories-Q8_0.gguf --max-tokens 64
expect_rc 0 "the converted revision passes smoke against its lineage source"
expect_out "PASS" "smoke's verdict"
run "$FERRY" convert local/stories-GGUF:stories-F16.gguf
expect_rc 0 "a GGUF revision converts to an HF revision"
expect_out "local/stories-HF@" "into NS/NAME-HF"
"$FERRY" show --json local/stories-HF | node -e '
const r = JSON.parse(require("fs").readFileSync(0));
const s = r.origin.sources[0];
if (s.repo !== "local/stories-GGUF" || s.path !== "stories-F16.gguf" || !/^[0-9a-f]{64}$/.test(s.sha256) ||
    r.origin.parameters.to !== "safetensors" ||
    r.files.map(f => f.path).join() !== "config.json,model.safetensors,tokenizer.json,tokenizer.model,tokenizer_config.json")
	process.exit(1);' && ok || bad "the HF revision's files and lineage"
run "$FERRY" convert local/stories-GGUF:stories-F16.gguf --to gguf
expect_rc 1 "a GGUF revision does not convert to GGUF"
run "$FERRY" convert local/nope
expect_rc 1 "an unknown repository"
run "$FERRY" convert local/stories --into "bad name"
expect_rc 1 "an invalid --into"
"$FERRY" -q fsck && ok || bad "fsck after the conversions"
[ -z "$(ls "$FERRY_HOME/tmp" 2>/dev/null)" ] && ok || bad "nothing left in the store's tmp/"

echo "convert: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
