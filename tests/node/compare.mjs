// node compare.mjs FILE.gguf FERRY.json
// Parses FILE.gguf with the npm package @huggingface/gguf and compares its metadata (keys, order,
// types, values) and tensor table (names, ranks, shapes, types, offsets, data offset) with what
// `ferry inspect --json --full FILE.gguf` printed. Exits 1 on the first difference, naming it.
import { readFileSync } from "node:fs";
import { gguf, GGUFValueType, GGMLQuantizationType } from "@huggingface/gguf";

const [file, ferryJson] = process.argv.slice(2);
const ferry = JSON.parse(readFileSync(ferryJson, "utf8"));
const ref = await gguf(file, { allowLocalFile: true, typedMetadata: true });

const typeNames = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"];

function fail(msg) {
	console.error(`${file}: ${msg}`);
	process.exit(1);
}

function same(a, b) {
	// a from @huggingface/gguf (bigint for 64-bit integers), b from ferry's JSON
	if (typeof a === "bigint") {
		if (typeof b === "string") return String(a) === b;
		return Number.isSafeInteger(Number(a)) ? Number(a) === b : Number(a) === Number(b);
	}
	if (typeof a === "number" && Number.isNaN(a)) return Number.isNaN(b);
	// @huggingface/gguf decodes strings with TextDecoder, which drops a leading U+FEFF (llama's
	// token 30143 is exactly "\ufeff"); ferry keeps the bytes as they are in the file.
	if (typeof a === "string" && typeof b === "string" && b.startsWith("\ufeff"))
		return a === b || a === b.slice(1);
	return a === b;
}

const skip = new Set(["version", "tensor_count", "kv_count"]);
const refKeys = Object.keys(ref.typedMetadata).filter((k) => !skip.has(k));
const ferryKeys = Object.keys(ferry.metadata);
if (refKeys.join("\n") !== ferryKeys.join("\n")) fail(`metadata keys differ:\n${refKeys}\n${ferryKeys}`);
if (Number(ref.metadata.version) !== ferry.version) fail("version differs");

for (const key of refKeys) {
	const r = ref.typedMetadata[key];
	const f = ferry.metadata[key];
	if (typeNames[r.type] !== f.type) fail(`${key}: type ${typeNames[r.type]} vs ${f.type}`);
	if (r.type === GGUFValueType.ARRAY) {
		if (typeNames[r.subType] !== f.element_type) fail(`${key}: element type differs`);
		if (r.value.length !== f.count || f.value.length !== f.count) fail(`${key}: count differs`);
		r.value.forEach((v, i) => {
			if (!same(v, f.value[i])) fail(`${key}[${i}]: ${v} vs ${f.value[i]}`);
		});
	} else if (!same(r.value, f.value)) {
		fail(`${key}: ${r.value} vs ${f.value}`);
	}
}

if (ref.tensorInfos.length !== ferry.tensors.length) fail("tensor count differs");
ref.tensorInfos.forEach((t, i) => {
	const f = ferry.tensors[i];
	const shape = t.shape.map(Number);
	if (t.name !== f.name) fail(`tensor ${i}: name ${t.name} vs ${f.name}`);
	if (t.n_dims !== f.shape.length || shape.join(",") !== f.shape.join(","))
		fail(`${t.name}: shape ${shape} vs ${f.shape}`);
	if (GGMLQuantizationType[t.dtype] !== f.type) fail(`${t.name}: type ${GGMLQuantizationType[t.dtype]} vs ${f.type}`);
	if (Number(t.offset) !== f.offset) fail(`${t.name}: offset ${t.offset} vs ${f.offset}`);
});
if (Number(ref.tensorDataOffset) !== ferry.data_offset)
	fail(`data offset ${ref.tensorDataOffset} vs ${ferry.data_offset}`);
console.log(`ok ${file}: ${refKeys.length} keys, ${ref.tensorInfos.length} tensors agree`);
