// Checks an F32 GGUF converted from an HF checkpoint tensor by tensor against the source: every
// source tensor (BF16 widened, F32 as is, F8_E4M3 by the sha256 of its dequantized float32 bytes
// in golden/dequantized_check.json) must equal its GGUF tensor, or its expert's slice of a stacked
// one; the multi-token-prediction layers (from num_hidden_layers on) must be absent; every GGUF
// tensor but rope_freqs must be covered whole. The name map is llama.cpp's (gguf-py
// tensor_mapping.py), written out here independently of ferry's. Latent attention's kv_b is
// rebuilt from the attn_k_b and attn_v_b it is split into (llama.cpp v0.5.0's layout: k_b holds
// each head's key rows transposed, ne = [nope, rank, heads]; v_b ne = [rank, v, heads]).
// usage: node moecheck.mjs HF_DIR GGUF_FILE   (prints "ok N" or the first difference, exit 1)
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { readGguf } from "./gguf.mjs";
import { readSafetensors } from "./st.mjs";

const [dir, ggufPath] = process.argv.slice(2);
const fail = (msg) => {
	console.log(msg);
	process.exit(1);
};

function readCovered(file) {
	let g;
	try {
		g = readGguf(file);
	} catch (e) {
		fail(e.message);
	}
	for (const t of Object.values(g.tensors)) {
		t.covered = 0;
		t.elems = t.ne.reduce((a, c) => a * c, 1);
		t.data = g.buf.subarray(g.base + t.off, g.base + t.off + 4 * t.elems);
	}
	return g;
}

function readShards(d) {
	const idx = path.join(d, "model.safetensors.index.json");
	const files = fs.existsSync(idx)
		? [...new Set(Object.values(JSON.parse(fs.readFileSync(idx)).weight_map))]
		: ["model.safetensors"];
	const out = {};
	for (const f of files)
		for (const [name, t] of readSafetensors(path.join(d, f))) out[name] = t;
	return out;
}

const layerMap = {
	"input_layernorm.weight": "attn_norm.weight",
	"post_attention_layernorm.weight": "ffn_norm.weight",
	"self_attn.q_proj.weight": "attn_q.weight",
	"self_attn.k_proj.weight": "attn_k.weight",
	"self_attn.v_proj.weight": "attn_v.weight",
	"self_attn.o_proj.weight": "attn_output.weight",
	"self_attn.q_norm.weight": "attn_q_norm.weight",
	"self_attn.k_norm.weight": "attn_k_norm.weight",
	"self_attn.q_a_proj.weight": "attn_q_a.weight",
	"self_attn.q_a_layernorm.weight": "attn_q_a_norm.weight",
	"self_attn.q_b_proj.weight": "attn_q_b.weight",
	"self_attn.kv_a_proj_with_mqa.weight": "attn_kv_a_mqa.weight",
	"self_attn.kv_a_layernorm.weight": "attn_kv_a_norm.weight",
	"mlp.gate_proj.weight": "ffn_gate.weight",
	"mlp.up_proj.weight": "ffn_up.weight",
	"mlp.down_proj.weight": "ffn_down.weight",
	"mlp.gate.weight": "ffn_gate_inp.weight",
	"mlp.gate.e_score_correction_bias": "exp_probs_b.bias",
	"mlp.shared_experts.gate_proj.weight": "ffn_gate_shexp.weight",
	"mlp.shared_experts.up_proj.weight": "ffn_up_shexp.weight",
	"mlp.shared_experts.down_proj.weight": "ffn_down_shexp.weight",
};
const globalMap = {
	"model.embed_tokens.weight": "token_embd.weight",
	"model.norm.weight": "output_norm.weight",
	"lm_head.weight": "output.weight",
};

const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json")));
const checkPath = path.join(dir, "golden", "dequantized_check.json");
const check = fs.existsSync(checkPath) ? JSON.parse(fs.readFileSync(checkPath)).all_fp8_tensors : {};
const g = readCovered(ggufPath);

// layer l's kv_b [heads x (nope + v), rank] rebuilt from its k_b and v_b as a stand-in tensor
function kvb(l) {
	const kb = g.tensors[`blk.${l}.attn_k_b.weight`], vb = g.tensors[`blk.${l}.attn_v_b.weight`];
	if (!kb || !vb) fail(`blk.${l}: attn_k_b or attn_v_b is missing`);
	const [nope, R, H] = kb.ne, v = vb.ne[1];
	if (nope !== cfg.qk_nope_head_dim || R !== cfg.kv_lora_rank || H !== cfg.num_attention_heads ||
		vb.ne[0] !== R || v !== cfg.v_head_dim || vb.ne[2] !== H)
		fail(`blk.${l}: k_b ${kb.ne} / v_b ${vb.ne} do not fit config.json`);
	const out = Buffer.alloc(4 * H * (nope + v) * R);
	for (let h = 0; h < H; h++)
		for (let r = 0; r < R; r++) {
			for (let j = 0; j < nope; j++)
				out.writeUInt32LE(kb.data.readUInt32LE(4 * ((h * R + r) * nope + j)), 4 * ((h * (nope + v) + j) * R + r));
			for (let i = 0; i < v; i++)
				out.writeUInt32LE(vb.data.readUInt32LE(4 * ((h * v + i) * R + r)), 4 * ((h * (nope + v) + nope + i) * R + r));
		}
	kb.covered = kb.elems;
	vb.covered = vb.elems;
	const name = `blk.${l}.kv_b (from k_b and v_b)`;
	g.tensors[name] = { type: 0, data: out, covered: 0, elems: H * (nope + v) * R, ne: [R, H * (nope + v)] };
	return name;
}
const src = readShards(dir);
let compared = 0;
let fp8 = 0;
for (const [name, t] of Object.entries(src)) {
	if (name.endsWith("_scale_inv")) continue;
	let gname = globalMap[name];
	let expert = -1;
	const m = /^model\.layers\.(\d+)\.(.*)$/.exec(name);
	if (m) {
		const l = Number(m[1]);
		if (l >= cfg.num_hidden_layers) {
			if (Object.keys(g.tensors).some((k) => k.startsWith(`blk.${l}.`)))
				fail(`${name}: the MTP layer ${l} reached the GGUF`);
			continue;
		}
		const e = /^mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight$/.exec(m[2]);
		if (e) {
			expert = Number(e[1]);
			gname = `blk.${l}.ffn_${e[2]}_exps.weight`;
		} else if (layerMap[m[2]]) {
			gname = `blk.${l}.${layerMap[m[2]]}`;
		}
	}
	if (m && m[2] === "self_attn.kv_b_proj.weight") gname = kvb(Number(m[1]));
	if (!gname) fail(`${name}: no GGUF name known`);
	const gt = g.tensors[gname];
	if (!gt) fail(`${name}: ${gname} is not in the GGUF`);
	if (gt.type !== 0) fail(`${gname}: type ${gt.type}, F32 (0) expected`);
	const n = t.shape.reduce((a, c) => a * c, 1);
	const slice = expert < 0 ? gt.data : gt.data.subarray(4 * n * expert, 4 * n * (expert + 1));
	if (slice.length !== 4 * n) fail(`${gname}: ${slice.length / 4} values, ${name} has ${n}`);
	if (t.dtype === "F8_E4M3") {
		const want = check[name];
		if (!want) fail(`${name}: no dequantized sha256 in golden/`);
		const got = crypto.createHash("sha256").update(slice).digest("hex");
		if (got !== want) fail(`${gname}${expert >= 0 ? ` expert ${expert}` : ""}: sha256 ${got}, dequantized ${name} ${want}`);
		fp8++;
	} else {
		const want = Buffer.alloc(4 * n);
		for (let i = 0; i < n; i++) {
			if (t.dtype === "BF16") want.writeUInt32LE(t.bytes.readUInt16LE(2 * i) << 16 >>> 0, 4 * i);
			else if (t.dtype === "F32") want.writeUInt32LE(t.bytes.readUInt32LE(4 * i), 4 * i);
			else fail(`${name}: dtype ${t.dtype} not handled`);
		}
		if (!want.equals(slice)) fail(`${gname}${expert >= 0 ? ` expert ${expert}` : ""} differs from ${name}`);
	}
	gt.covered += n;
	compared++;
}
for (const [name, t] of Object.entries(g.tensors)) {
	if (name !== "rope_freqs.weight" && t.covered !== t.elems)
		fail(`${name}: ${t.covered} of ${t.elems} values come from the checkpoint`);
}
if (Object.keys(check).length > 0 && fp8 === 0) fail("no FP8 tensor compared");
console.log(`ok ${compared} tensors, ${fp8} FP8`);
