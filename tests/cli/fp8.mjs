// Makes a DeepSeek-V3-style FP8 checkpoint from an F32 one, and the F32 checkpoint it must
// convert to: every 2-D weight but the embeddings becomes F8_E4M3 with `<name>_scale_inv` block
// scales (blocks of 32 x 32, partial at the edges; F32 scales, BF16 for mlp.down_proj), split
// over two shards with an index; the reference holds fp8 value * scale rounded to float.
// usage: node fp8.mjs SRC_DIR FP8_DIR REF_DIR
import fs from "node:fs";
import path from "node:path";
import { readSafetensors } from "./st.mjs";

const [src, fp8Dir, refDir] = process.argv.slice(2);
const BLOCK = 32;

function readSt(file) {
	return [...readSafetensors(file)].map(([name, t]) => ({ name, ...t }));
}

function writeSt(file, tensors) {
	const header = {};
	let off = 0;
	for (const t of tensors) {
		header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
		off += t.bytes.length;
	}
	let h = Buffer.from(JSON.stringify(header));
	h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
	const n = Buffer.alloc(8);
	n.writeBigUInt64LE(BigInt(h.length));
	fs.writeFileSync(file, Buffer.concat([n, h, ...tensors.map((t) => t.bytes)]));
}

// E4M3 ("fn"): bias 7, subnormals below 2^-6, 0x7f/0xff NaN, no infinities
function decode(v) {
	const s = v & 0x80 ? -1 : 1, e = (v >> 3) & 15, m = v & 7;
	if (e === 15 && m === 7) return NaN;
	return s * (e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7));
}
const positive = []; // [value, byte] ascending
for (let v = 0; v < 0x7f; v++) positive.push([decode(v), v]);

function encode(x) {
	const a = Math.abs(x);
	let lo = 0, hi = positive.length - 1;
	while (lo < hi) {
		const mid = (lo + hi) >> 1;
		if (positive[mid][0] < a) lo = mid + 1;
		else hi = mid;
	}
	if (lo > 0 && a - positive[lo - 1][0] <= positive[lo][0] - a) lo--;
	return positive[lo][1] | (x < 0 ? 0x80 : 0);
}

const bf16 = (f) => {
	const b = Buffer.alloc(4);
	b.writeFloatLE(f);
	b.writeUInt16LE(0, 0); // truncate: an exact bfloat16 value
	return b.readFloatLE(0);
};

const fp8 = [], ref = [];
for (const t of readSt(path.join(src, "model.safetensors"))) {
	if (t.shape.length !== 2 || t.name.includes("embed_tokens") || t.name.includes("lm_head")) {
		fp8.push(t);
		ref.push(t);
		continue;
	}
	const [rows, cols] = t.shape;
	const x = new Float32Array(t.bytes.buffer.slice(t.bytes.byteOffset, t.bytes.byteOffset + t.bytes.length));
	const rb = Math.ceil(rows / BLOCK), cb = Math.ceil(cols / BLOCK);
	const useBf16 = t.name.includes("down_proj");
	const scales = new Float32Array(rb * cb);
	const q = Buffer.alloc(rows * cols);
	const out = new Float32Array(rows * cols);
	for (let bi = 0; bi < rb; bi++)
		for (let bj = 0; bj < cb; bj++) {
			let amax = 0;
			for (let i = bi * BLOCK; i < Math.min(rows, (bi + 1) * BLOCK); i++)
				for (let j = bj * BLOCK; j < Math.min(cols, (bj + 1) * BLOCK); j++)
					amax = Math.max(amax, Math.abs(x[i * cols + j]));
			let s = Math.fround(amax > 0 ? amax / 448 : 1);
			if (useBf16) s = bf16(s);
			scales[bi * cb + bj] = s;
			for (let i = bi * BLOCK; i < Math.min(rows, (bi + 1) * BLOCK); i++)
				for (let j = bj * BLOCK; j < Math.min(cols, (bj + 1) * BLOCK); j++) {
					const v = encode(Math.min(448, Math.abs(x[i * cols + j] / s)) * Math.sign(x[i * cols + j]));
					q[i * cols + j] = v;
					out[i * cols + j] = Math.fround(decode(v) * s);
				}
		}
	let sb;
	if (useBf16) {
		sb = Buffer.alloc(scales.length * 2);
		for (let i = 0; i < scales.length; i++) {
			const b = Buffer.alloc(4);
			b.writeFloatLE(scales[i]);
			sb.writeUInt16LE(b.readUInt16LE(2), 2 * i);
		}
	} else {
		sb = Buffer.from(scales.buffer);
	}
	fp8.push({ name: t.name, dtype: "F8_E4M3", shape: [rows, cols], bytes: q });
	fp8.push({ name: t.name + "_scale_inv", dtype: useBf16 ? "BF16" : "F32", shape: [rb, cb], bytes: sb });
	ref.push({ name: t.name, dtype: "F32", shape: [rows, cols], bytes: Buffer.from(out.buffer) });
}

for (const d of [fp8Dir, refDir]) fs.mkdirSync(d, { recursive: true });
for (const f of ["tokenizer.model", "tokenizer_config.json", "tokenizer.json"])
	for (const d of [fp8Dir, refDir]) fs.copyFileSync(path.join(src, f), path.join(d, f));
const config = JSON.parse(fs.readFileSync(path.join(src, "config.json")));
fs.writeFileSync(path.join(refDir, "config.json"), JSON.stringify(config));
config.quantization_config = { quant_method: "fp8", fmt: "e4m3", activation_scheme: "dynamic", weight_block_size: [BLOCK, BLOCK] };
fs.writeFileSync(path.join(fp8Dir, "config.json"), JSON.stringify(config));
writeSt(path.join(refDir, "model.safetensors"), ref);
const half = Math.ceil(fp8.length / 2);
const shards = [fp8.slice(0, half), fp8.slice(half)];
const map = {};
shards.forEach((ts, i) => {
	const name = `model-0000${i + 1}-of-00002.safetensors`;
	writeSt(path.join(fp8Dir, name), ts);
	for (const t of ts) map[t.name] = name;
});
fs.writeFileSync(path.join(fp8Dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: map }));
