// Rewrites an F32 deepseek2 GGUF in llama.cpp v0.5.0's layout (attn_k_b + attn_v_b, MQA keys)
// into the older one llama.cpp wrote before (one attn_kv_b of heads x (nope + v) rows of rank,
// attention.key_length = nope + rope, value_length = v, head_count_kv = heads, no *_mla keys):
// files people still mirror. tests/cli/flagships.sh runs ferry on the result.
//   node kvb_legacy.mjs IN.gguf OUT.gguf
import fs from "node:fs";
import { readGguf, SCALARS } from "./gguf.mjs";

const [inPath, outPath] = process.argv.slice(2);
const g = readGguf(inPath);
const a = g.kv["general.architecture"].value;
const H = g.kv[`${a}.attention.head_count`].value;
const kv = { ...g.kv };
kv[`${a}.attention.key_length`] = { type: 4, value: kv[`${a}.attention.key_length_mla`].value };
kv[`${a}.attention.value_length`] = { type: 4, value: kv[`${a}.attention.value_length_mla`].value };
kv[`${a}.attention.head_count_kv`] = { type: 4, value: H };
delete kv[`${a}.attention.key_length_mla`];
delete kv[`${a}.attention.value_length_mla`];

const f32 = (t) => {
	const n = t.ne.reduce((x, y) => x * y, 1);
	if (t.type !== 0) throw new Error("F32 tensors only");
	return g.buf.subarray(g.base + t.off, g.base + t.off + 4 * n);
};
const tensors = [];
for (const [name, t] of Object.entries(g.tensors)) {
	if (name.endsWith(".attn_v_b.weight")) continue;
	if (!name.endsWith(".attn_k_b.weight")) {
		tensors.push({ name, ne: t.ne, data: f32(t) });
		continue;
	}
	const vb = g.tensors[name.replace("attn_k_b", "attn_v_b")];
	const [nope, R] = t.ne, v = vb.ne[1];
	const k = f32(t), vv = f32(vb), out = Buffer.alloc(4 * H * (nope + v) * R);
	for (let h = 0; h < H; h++)
		for (let r = 0; r < R; r++) {
			for (let j = 0; j < nope; j++)
				out.writeUInt32LE(k.readUInt32LE(4 * ((h * R + r) * nope + j)), 4 * ((h * (nope + v) + j) * R + r));
			for (let i = 0; i < v; i++)
				out.writeUInt32LE(vv.readUInt32LE(4 * ((h * v + i) * R + r)), 4 * ((h * (nope + v) + nope + i) * R + r));
		}
	tensors.push({ name: name.replace("attn_k_b", "attn_kv_b"), ne: [R, H * (nope + v)], data: out });
}

const parts = [];
const u32 = (x) => { const b = Buffer.alloc(4); b.writeUInt32LE(x); parts.push(b); };
const u64 = (x) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(x)); parts.push(b); };
const str = (s) => { const b = Buffer.from(s, "utf8"); u64(b.length); parts.push(b); };
const value = (t, v) => {
	if (t === 8) return str(v);
	if (t === 9) {
		u32(v.inner);
		u64(v.length);
		for (const e of v) value(v.inner, e);
		return;
	}
	const [size, read] = SCALARS[t];
	const b = Buffer.alloc(size);
	const w = read.replace("read", "write");
	if (t === 7) b.writeUInt8(v ? 1 : 0);
	else b[w](size === 8 && w.includes("Big") ? BigInt(v) : v);
	parts.push(b);
};
parts.push(Buffer.from("GGUF", "latin1"));
u32(3);
u64(tensors.length);
u64(Object.keys(kv).length);
for (const [key, { type, value: v }] of Object.entries(kv)) {
	str(key);
	u32(type);
	value(type, v);
}
let off = 0;
for (const t of tensors) {
	str(t.name);
	u32(t.ne.length);
	for (const n of t.ne) u64(n);
	u32(0);
	u64(off);
	off += Math.ceil(t.data.length / 32) * 32;
}
let head = Buffer.concat(parts);
head = Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
const body = Buffer.concat(tensors.map((t) => Buffer.concat([t.data, Buffer.alloc((32 - (t.data.length % 32)) % 32)])));
fs.writeFileSync(outPath, Buffer.concat([head, body]));
