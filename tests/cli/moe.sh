#!/bin/sh
# Integration tests of the mixture-of-experts families (issue 11) with the real binary and its
# sanitizer build, on the Qwen3-MoE and DeepSeek-V3 fixtures (tests/data/models/MOE-FIXTURES.md):
# convert (every tensor against its source, FP8 against the fixture's dequantized sha256s; the
# GGUF keys llama.cpp reads), quantize (Q8_0, Q4_K_M), run (golden greedy ids from the checkpoint,
# the GGUF and the quantized files' first tokens), smoke, inspect/show summaries, and refusals of
# damaged checkpoints. The float32 logits against golden/ are checked by the unit tests
# (tests/unit/test_infer.c). Environment: FERRY, FERRY_SAN (optional).
set -u

FERRY=${FERRY:?set FERRY}
FERRY_SAN=${FERRY_SAN:-}
DATA=${FERRY_TEST_DATA:-tests/data}
M=$DATA/models

work=$(mktemp -d /tmp/ferry-moe-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
export FERRY_HOME="$work/store"

# meta FILE KEY: a GGUF metadata value as JSON
meta() {
	"$FERRY" inspect --json "$1" >"$work/meta.json" &&
		json_field "$work/meta.json" "JSON.stringify(d.metadata[\"$2\"].value)"
}
# st_edit DIR EXPR: rewrites the shard of a checkpoint holding tensor NAME ($name) through a
# JavaScript expression over its header `h` (and the index's weight_map `w`)
st_edit() {
	node -e '
const fs = require("fs"), path = require("path");
const [dir, name, expr] = process.argv.slice(1);
const ix = path.join(dir, "model.safetensors.index.json");
const idx = JSON.parse(fs.readFileSync(ix)), w = idx.weight_map;
const f = path.join(dir, w[name]);
const b = fs.readFileSync(f), n = Number(b.readBigUInt64LE(0));
const h = JSON.parse(b.subarray(8, 8 + n));
eval(expr);
let j = Buffer.from(JSON.stringify(h)); j = Buffer.concat([j, Buffer.alloc((8 - j.length % 8) % 8, 32)]);
const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(j.length));
fs.writeFileSync(f, Buffer.concat([l, j, b.subarray(8 + n)]));
fs.writeFileSync(ix, JSON.stringify(idx));' "$1" "$name" "$2"
}

for m in qwen3-moe-tiny deepseek-v3-tiny; do
	# --- convert: every tensor from its source, the MTP layer left out ----------------------
	run "$FERRY" convert "$M/$m" -o "$work/$m.gguf" --outtype f32
	expect_rc 0 "convert $m"
	run node "$(dirname "$0")/moecheck.mjs" "$M/$m" "$work/$m.gguf"
	if [ "$rc" -eq 0 ]; then ok; else bad "$m: $(cat "$work/out")"; fi
	if [ -n "$FERRY_SAN" ]; then
		"$FERRY_SAN" -q convert "$M/$m" -o "$work/$m-san.gguf" --outtype f32 &&
			cmp -s "$work/$m-san.gguf" "$work/$m.gguf" && ok || bad "$m: the sanitizer build converts otherwise"
	fi
	# --- run: from the checkpoint and from the GGUF, the golden greedy continuation -------
	greedy_same "$M/$m" "$m" && ok || bad "$m checkpoint: greedy ids differ from golden/"
	greedy_same "$work/$m.gguf" "$m" && ok || bad "$m GGUF f32: greedy ids differ from golden/"
	if [ -n "$FERRY_SAN" ]; then
		FERRY=$FERRY_SAN greedy_same "$work/$m.gguf" "$m" 4 && ok ||
			bad "$m under the sanitizers"
	fi
	# --- quantize with llama.cpp's MoE rules, run, and smoke against the F32 file --------
	for t in Q8_0 Q4_K_M; do
		run "$FERRY" quant "$work/$m.gguf" --type "$t" -o "$work/$m-$t.gguf"
		expect_rc 0 "quant $m $t"
		run "$FERRY" run "$work/$m-$t.gguf" -f "$M/$m/golden/prompt.txt" --temp 0 -n 8 --json
		expect_rc 0 "run $m $t"
		run "$FERRY" smoke "$work/$m-$t.gguf" --ref "$work/$m.gguf" --json
		json_valid "$work/out" "smoke $m $t"
		cp "$work/out" "$work/smoke-$m-$t.json"
	done
	kl8=$(json_field "$work/smoke-$m-Q8_0.json" d.kl_mean)
	kl4=$(json_field "$work/smoke-$m-Q4_K_M.json" d.kl_mean)
	node -e 'process.exit(+process.argv[1] > 0 && +process.argv[1] < +process.argv[2] ? 0 : 1)' "$kl8" "$kl4" &&
		ok || bad "$m: KL should grow as bits shrink (Q8_0 $kl8, Q4_K_M $kl4)"
	# the gate is architecture-agnostic: explicit limits between the two decide
	run "$FERRY" smoke "$work/$m-Q8_0.gguf" --ref "$work/$m.gguf" --max-kl "$kl4" --min-top1 0.5
	expect_rc 0 "$m Q8_0 passes a KL limit above its own"
	run "$FERRY" smoke "$work/$m-Q4_K_M.gguf" --ref "$work/$m.gguf" --max-kl "$kl8"
	expect_rc 1 "$m Q4_K_M fails a KL limit below its own"
	expect_err "fails the gate" "the failing gate says so"
	# one layer's experts damaged (every Q8_0 block's scale zeroed): far past Q8_0's own KL
	cp "$work/$m-Q8_0.gguf" "$work/damaged.gguf"
	damage_q8 "$work/damaged.gguf" blk.1.ffn_down_exps.weight
	run "$FERRY" smoke "$work/damaged.gguf" --ref "$work/$m.gguf" --max-kl "$kl4" --min-top1 0.5 --json
	expect_rc 1 "$m: damaged experts fail the gate Q8_0 passes"
	node -e 'process.exit(+process.argv[1] > 2 * +process.argv[2] ? 0 : 1)' "$(json_field "$work/out" d.kl_mean)" "$kl8" &&
		ok || bad "$m: damaged experts' KL $(json_field "$work/out" d.kl_mean) is not far above Q8_0's $kl8"
	# experts are quantized per expert slice: a stacked tensor's type follows the mixture
	"$FERRY" inspect --json "$work/$m-Q4_K_M.gguf" >"$work/q4.json"
	t=$(json_field "$work/q4.json" 'd.tensors.find(t => t.name === "blk.1.ffn_gate_exps.weight").type')
	s=$(json_field "$work/q4.json" 'JSON.stringify(d.tensors.find(t => t.name === "blk.1.ffn_gate_exps.weight").shape)')
	[ "$t" = Q4_K ] && ok || bad "$m: blk.1.ffn_gate_exps.weight is $t in Q4_K_M, Q4_K expected"
	[ "$s" = "[256,$(json_field "$M/$m/config.json" d.moe_intermediate_size),8]" ] && ok ||
		bad "$m: stacked experts' shape $s"
	r=$(json_field "$work/q4.json" 'd.tensors.find(t => t.name === "blk.1.ffn_gate_inp.weight").type')
	[ "$r" = F32 ] && ok || bad "$m: the router is $r, F32 expected (as llama.cpp keeps it)"
done

# --- GGUF keys (llama.cpp's gguf-py constants) --------------------------------------------

Q=$work/qwen3-moe-tiny.gguf
D=$work/deepseek-v3-tiny.gguf
for kv in "general.architecture \"qwen3moe\"" "qwen3moe.expert_count 8" \
	"qwen3moe.expert_used_count 2" "qwen3moe.expert_feed_forward_length 256" \
	"qwen3moe.attention.key_length 64" "qwen3moe.expert_weights_norm true"; do
	set -- $kv
	[ "$(meta "$Q" "$1")" = "$2" ] && ok || bad "qwen3moe: $1 is $(meta "$Q" "$1"), $2 expected"
done
for kv in "general.architecture \"deepseek2\"" "deepseek2.leading_dense_block_count 1" \
	"deepseek2.expert_count 8" "deepseek2.expert_used_count 2" \
	"deepseek2.expert_shared_count 1" "deepseek2.expert_feed_forward_length 128" \
	"deepseek2.expert_weights_scale 2.5" "deepseek2.expert_weights_norm true" \
	"deepseek2.expert_gating_func 2" "deepseek2.expert_group_count 2" \
	"deepseek2.expert_group_used_count 1" "deepseek2.attention.q_lora_rank 128" \
	"deepseek2.attention.kv_lora_rank 128" "deepseek2.attention.key_length 192" \
	"deepseek2.attention.value_length 128" "deepseek2.attention.key_length_mla 128" \
	"deepseek2.attention.value_length_mla 64" "deepseek2.attention.head_count_kv 1" \
	"deepseek2.rope.dimension_count 64" \
	"deepseek2.rope.scaling.type \"yarn\"" "deepseek2.rope.scaling.factor 40" \
	"deepseek2.rope.scaling.original_context_length 4096" \
	"tokenizer.ggml.pre \"deepseek-v3\"" "tokenizer.ggml.add_bos_token true" \
	"tokenizer.ggml.bos_token_id 0"; do
	set -- $kv
	[ "$(meta "$D" "$1")" = "$2" ] && ok || bad "deepseek2: $1 is $(meta "$D" "$1"), $2 expected"
done
node -e 'process.exit(Math.abs(+process.argv[1] - 0.1) < 1e-6 ? 0 : 1)' \
	"$(meta "$D" deepseek2.rope.scaling.yarn_log_multiplier)" && ok || bad "yarn_log_multiplier 0.1"
"$FERRY" inspect --json "$D" >"$work/d.json"
[ "$(json_field "$work/d.json" 'd.tensors.filter(t => t.name.startsWith("blk.3.")).length')" = 0 ] &&
	ok || bad "the MTP layer 3 reached the GGUF"
[ "$(json_field "$work/d.json" 'd.tensors.length')" = 52 ] && ok || bad "deepseek2: 52 tensors expected (kv_b split in k_b and v_b)"
[ "$(json_field "$work/d.json" 'd.tensors.find(t => t.name === "blk.1.exp_probs_b.bias").type')" = F32 ] &&
	ok || bad "exp_probs_b.bias F32"

# --- inspect and show: experts, routing, active parameters -------------------------------

run "$FERRY" inspect "$D"
expect_out "experts: 8, 2 per token; routing: sigmoid over 8 experts (plus a selection bias), top 2 within the best 1 of 2 groups, renormalized, x2.5; 1 shared expert; the first 1 layer dense" "inspect: DeepSeek's routing in words"
expect_out "active per token: 2,939,408 parameters" "inspect: the active parameters"
run "$FERRY" inspect "$M/qwen3-moe-tiny"
expect_out "routing: softmax over 8 experts, top 2, renormalized" "inspect: Qwen3-MoE's routing from config.json"
# 8,203,008 in the files, of which 24 x 196,608 routed-expert parameters, 6 of 8 idle per token
expect_out "active per token: 3,484,416 parameters" "inspect: active parameters of the checkpoint"
"$FERRY" -q init && ok || bad "init"
"$FERRY" -q add org/ds "$M/deepseek-v3-tiny" -m import && ok || bad "add deepseek-v3-tiny"
run "$FERRY" show org/ds
expect_out "model    DeepseekV3ForCausalLM, 3 layers, 6.5M parameters (4.8M active per token)" "show: the model line"
expect_out "experts  sigmoid over 8 experts" "show: the routing line"
run "$FERRY" show org/ds --json
[ "$(json_field "$work/out" 'd.model.moe.experts_used')" = 2 ] && ok || bad "show --json: model.moe"
"$FERRY" -q add org/q3 "$M/qwen3-tiny" -m import && ok || bad "add qwen3-tiny"
run "$FERRY" show org/q3 --json
[ "$(json_field "$work/out" 'd.model.active_parameters === undefined && d.model.moe === undefined')" = true ] &&
	ok || bad "show: a dense model has no experts"

# --- FP8: the cross-shard scale, refusals that name the tensor, nothing written -----------

cp -r "$M/deepseek-v3-tiny" "$work/noscale"
name=model.layers.1.mlp.experts.3.down_proj.weight_scale_inv
st_edit "$work/noscale" 'h[name.replace("_scale_inv", "_scale_xxx")] = h[name]; delete h[name]; w[name.replace("_scale_inv", "_scale_xxx")] = w[name]; delete w[name];'
run "$FERRY" convert "$work/noscale" -o "$work/x.gguf"
expect_rc 1 "a weight without its scale tensor"
expect_err "has no 'model.layers.1.mlp.experts.3.down_proj.weight_scale_inv'" "the missing scale is named"
[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for a checkpoint missing a scale"
run "$FERRY" run "$work/noscale" -p x -n 1
expect_rc 1 "run refuses the same checkpoint"
cp -r "$M/deepseek-v3-tiny" "$work/badscale"
name=model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv
st_edit "$work/badscale" 'h[name].shape = [4, 1];'
run "$FERRY" convert "$work/badscale" -o "$work/x.gguf"
expect_rc 1 "a mis-shaped scale tensor"
expect_err "model.layers.0.self_attn.kv_a_proj_with_mqa.weight_scale_inv' should be F32 or BF16 [2, 2]" "the expected scale shape is given"
[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for a mis-shaped scale"
# an expert missing from a layer; an expert beyond the configured count
cp -r "$M/qwen3-moe-tiny" "$work/noexpert"
name=model.layers.2.mlp.experts.5.up_proj.weight
st_edit "$work/noexpert" 'h["model.layers.2.mlp.experts.9.up_proj.weight"] = h[name]; delete h[name]; w["model.layers.2.mlp.experts.9.up_proj.weight"] = w[name]; delete w[name];'
run "$FERRY" convert "$work/noexpert" -o "$work/x.gguf"
expect_rc 1 "an expert beyond num_experts"
expect_err "expert 9, but config.json has 8 experts" "the stray expert is named"
cp -r "$M/qwen3-moe-tiny" "$work/noexpert2"
st_edit "$work/noexpert2" 'h["model.layers.2.mlp.expertz.5.up_proj.weight"] = h[name]; delete h[name]; w["model.layers.2.mlp.expertz.5.up_proj.weight"] = w[name]; delete w[name];'
run "$FERRY" convert "$work/noexpert2" -o "$work/x.gguf"
expect_rc 1 "a layer with an expert missing"
expect_err "has no GGUF name" "the unknown tensor is named"
edited_checkpoint "$M/qwen3-moe-tiny" "$work/badcfg" 's/"num_experts_per_tok": 2/"num_experts_per_tok": 9/'
run "$FERRY" convert "$work/badcfg" -o "$work/x.gguf"
expect_rc 1 "more experts per token than experts"
expect_err "num_experts_per_tok" "the bad field is named"
# DeepSeek's groups: 2 of 4 experts, 1 kept, cannot give 5 experts per token
edited_checkpoint "$M/deepseek-v3-tiny" "$work/badgroups" 's/"num_experts_per_tok": 2/"num_experts_per_tok": 5/'
run "$FERRY" convert "$work/badgroups" -o "$work/x.gguf"
expect_rc 1 "group limits that cannot give num_experts_per_tok"
expect_err "8 experts in n_group 2 groups, topk_group 1 of them kept, cannot give num_experts_per_tok 5" "the impossible routing is spelled out"
run "$FERRY" run "$work/badgroups" -p x -n 1
expect_rc 1 "run refuses the same checkpoint"
[ ! -e "$work/x.gguf" ] && ok || bad "nothing written for refused checkpoints"
# the same limits checked by run on GGUF metadata a converter would not write (tests/cli/gguf_set.mjs)
for kv in "deepseek2.expert_used_count 9" "deepseek2.expert_group_count 3" \
	"deepseek2.expert_group_used_count 3" "deepseek2.expert_used_count 5"; do
	set -- $kv
	cp "$D" "$work/badkey.gguf"
	node "$(dirname "$0")/gguf_set.mjs" "$work/badkey.gguf" "$1" "$2" >/dev/null || bad "cannot set $1"
	run "$FERRY" run "$work/badkey.gguf" -p x -n 1
	expect_rc 1 "run refuses a GGUF file with $1 = $2"
	expect_err "badkey.gguf: " "the file is named ($1 = $2)"
	expect_err "experts in" "the routing that does not fit is spelled out ($1 = $2)"
done
# GGUF -> HF is not offered for stacked experts: refused, nothing written
run "$FERRY" convert "$Q" -o "$work/back"
expect_rc 1 "GGUF -> HF of a mixture is refused"
[ ! -e "$work/back" ] && ok || bad "a refused export left a directory"

echo "moe: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
