// Prints a GGUF file's digest: every key in order with its type and a hash of its value, then
// every tensor in order with its type, shape, offset and a hash of its bytes. ferry's own keys
// (ferry.*) are left out, so a digest of ferry's output equals one of llama.cpp's output for the
// same tensors and metadata: the golden files of tests/data/golden/quant are such digests.
//   node gguf_digest.mjs FILE
import crypto from "node:crypto";
import { readGguf } from "./gguf.mjs";

const TYPES = [
	"F32", "F16", "Q4_0", "Q4_1", "4", "5", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K",
	"Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S",
	"IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16", "31", "32", "33", "TQ1_0", "TQ2_0",
	"36", "37", "38", "MXFP4", "NVFP4", "Q1_0", "Q2_0",
];
// bytes per block and elements per block, by type id
const BLOCK = {
	0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32],
	10: [84, 256], 11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 15: [292, 256],
	16: [66, 256], 17: [74, 256], 18: [98, 256], 19: [50, 256], 20: [18, 32], 21: [110, 256],
	22: [82, 256], 23: [136, 256], 24: [1, 1], 25: [2, 1], 26: [4, 1], 27: [8, 1], 28: [8, 1],
	29: [56, 256], 30: [2, 1], 34: [54, 256], 35: [66, 256], 39: [17, 32], 40: [36, 64],
	41: [18, 128], 42: [18, 64],
};
const h = (b) => crypto.createHash("sha256").update(b).digest("hex").slice(0, 24);
const g = readGguf(process.argv[2]);
const out = [];
for (const [key, { type, value }] of Object.entries(g.kv)) {
	if (key.startsWith("ferry.")) continue;
	const shown = typeof value === "string" && value.length <= 40 ? JSON.stringify(value)
		: typeof value !== "object" ? String(value) : `#${h(JSON.stringify(value))}`;
	out.push(`kv ${key} ${type} ${shown}`);
}
for (const [name, t] of Object.entries(g.tensors)) {
	const [bytes, elems] = BLOCK[t.type];
	const n = t.ne.reduce((a, b) => a * b, 1);
	const start = g.base + t.off;
	const data = g.buf.subarray(start, start + (n / elems) * bytes);
	out.push(`tensor ${name} ${TYPES[t.type]} ${t.ne.join("x")} @${t.off} ${h(data)}`);
}
console.log(out.join("\n"));
