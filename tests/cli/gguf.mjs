// The GGUF reader the test scripts share: every key with its type id, value and the offset of
// its value (for edits in place), the tensor table (ne, type, offset from the data section) and
// where the data section starts. Throws on a file that is not GGUF.
import fs from "node:fs";

// scalar type id -> [bytes, Buffer reader]
export const SCALARS = {
	0: [1, "readUInt8"],
	1: [1, "readInt8"],
	2: [2, "readUInt16LE"],
	3: [2, "readInt16LE"],
	4: [4, "readUInt32LE"],
	5: [4, "readInt32LE"],
	6: [4, "readFloatLE"],
	7: [1, "readUInt8"],
	10: [8, "readBigUInt64LE"],
	11: [8, "readBigInt64LE"],
	12: [8, "readDoubleLE"],
};

export function readGguf(file) {
	const buf = fs.readFileSync(file);
	if (buf.toString("latin1", 0, 4) !== "GGUF") throw new Error(`${file}: not GGUF`);
	let o = 8;
	const u32 = () => ((o += 4), buf.readUInt32LE(o - 4));
	const u64 = () => ((o += 8), Number(buf.readBigUInt64LE(o - 8)));
	const str = () => {
		const n = u64();
		o += n;
		return buf.toString("utf8", o - n, o);
	};
	const value = (t) => {
		if (t === 8) return str();
		if (t === 9) {
			const inner = u32();
			const n = u64();
			const out = [];
			for (let i = 0; i < n; i++) out.push(value(inner));
			out.inner = inner; /* the element type, for writers (tests/cli/kvb_legacy.mjs) */
			return out;
		}
		const [size, read] = SCALARS[t];
		const v = buf[read](o);
		o += size;
		return t === 7 ? v !== 0 : typeof v === "bigint" ? Number(v) : v;
	};
	const nt = u64();
	const nkv = u64();
	const kv = {};
	for (let i = 0; i < nkv; i++) {
		const key = str();
		const type = u32();
		const at = o;
		kv[key] = { type, at, value: value(type) };
	}
	const tensors = {};
	for (let i = 0; i < nt; i++) {
		const name = str();
		const nd = u32();
		const ne = [];
		for (let d = 0; d < nd; d++) ne.push(u64());
		tensors[name] = { ne, type: u32(), off: u64() };
	}
	const align = kv["general.alignment"]?.value ?? 32;
	return { buf, kv, tensors, base: Math.ceil(o / align) * align };
}
