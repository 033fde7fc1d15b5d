// The safetensors reader the test scripts share: a Map of tensor name to {dtype, shape, bytes}
// (bytes a view into the file), in header order, __metadata__ left out.
import fs from "node:fs";

export function readSafetensors(file) {
	const buf = fs.readFileSync(file);
	const n = Number(buf.readBigUInt64LE(0));
	const h = JSON.parse(buf.subarray(8, 8 + n).toString());
	const out = new Map();
	for (const [name, t] of Object.entries(h)) {
		if (name !== "__metadata__")
			out.set(name, { dtype: t.dtype, shape: t.shape, bytes: buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]) });
	}
	return out;
}
