// Compares Hugging Face checkpoint files.
//   node hfcmp.mjs tensors A.safetensors B.safetensors   same tensor names, dtypes, shapes, bytes
//   node hfcmp.mjs json A.json B.json [KEY...]           deep-equal documents (or only KEYs)
// Exits 1 naming the first difference.
import fs from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { readSafetensors } from "./st.mjs";

const [mode, a, b, ...keys] = process.argv.slice(2);
const tensors = readSafetensors;
function fail(msg) {
	console.error(msg);
	process.exit(1);
}
if (mode === "tensors") {
	const x = tensors(a), y = tensors(b);
	if (x.size !== y.size) fail(`${x.size} tensors against ${y.size}`);
	for (const [k, t] of x) {
		const u = y.get(k);
		if (!u) fail(`${k}: missing from ${b}`);
		if (t.dtype !== u.dtype || t.shape.join() !== u.shape.join()) fail(`${k}: ${t.dtype} [${t.shape}] against ${u.dtype} [${u.shape}]`);
		if (!t.bytes.equals(u.bytes)) fail(`${k}: data differs`);
	}
} else if (mode === "json") {
	const x = JSON.parse(fs.readFileSync(a)), y = JSON.parse(fs.readFileSync(b));
	for (const k of keys.length ? keys : [null]) {
		const p = k === null ? x : x[k], q = k === null ? y : y[k];
		if (!isDeepStrictEqual(p, q)) fail(`${k ?? "document"}: ${JSON.stringify(p)?.slice(0, 200)} against ${JSON.stringify(q)?.slice(0, 200)}`);
	}
} else {
	fail("usage: hfcmp.mjs tensors|json A B [KEY...]");
}
