// Sets one scalar key of a GGUF file in place, keeping its type: the way to make a GGUF file
// whose metadata says something a converter would never write.
// usage: node gguf_set.mjs FILE KEY VALUE   (exit 1 when KEY is missing or not a number/bool)
import fs from "node:fs";

const [file, want, value] = process.argv.slice(2);
const buf = fs.readFileSync(file);
// type id -> [bytes, read at, write at] for the scalar types of the GGUF spec
const scalar = {
	0: [1, (o) => buf.readUInt8(o), (o, v) => buf.writeUInt8(v, o)],
	1: [1, (o) => buf.readInt8(o), (o, v) => buf.writeInt8(v, o)],
	2: [2, (o) => buf.readUInt16LE(o), (o, v) => buf.writeUInt16LE(v, o)],
	3: [2, (o) => buf.readInt16LE(o), (o, v) => buf.writeInt16LE(v, o)],
	4: [4, (o) => buf.readUInt32LE(o), (o, v) => buf.writeUInt32LE(v, o)],
	5: [4, (o) => buf.readInt32LE(o), (o, v) => buf.writeInt32LE(v, o)],
	6: [4, (o) => buf.readFloatLE(o), (o, v) => buf.writeFloatLE(v, o)],
	7: [1, (o) => buf.readUInt8(o), (o, v) => buf.writeUInt8(v === "true" ? 1 : 0, o)],
	10: [8, (o) => buf.readBigUInt64LE(o), (o, v) => buf.writeBigUInt64LE(BigInt(v), o)],
	11: [8, (o) => buf.readBigInt64LE(o), (o, v) => buf.writeBigInt64LE(BigInt(v), o)],
	12: [8, (o) => buf.readDoubleLE(o), (o, v) => buf.writeDoubleLE(v, o)],
};
let at = 16; // magic, version, tensor count
const nkv = Number(buf.readBigUInt64LE(at));
at += 8;
const str = () => {
	const n = Number(buf.readBigUInt64LE(at));
	const s = buf.toString("utf8", at + 8, at + 8 + n);
	at += 8 + n;
	return s;
};
const skip = (type) => {
	if (type === 8) return void str();
	if (type === 9) {
		const inner = buf.readUInt32LE(at);
		const n = Number(buf.readBigUInt64LE(at + 4));
		at += 12;
		for (let i = 0; i < n; i++) skip(inner);
		return;
	}
	at += scalar[type][0];
};
for (let i = 0; i < nkv; i++) {
	const key = str();
	const type = buf.readUInt32LE(at);
	at += 4;
	if (key !== want) {
		skip(type);
		continue;
	}
	if (!(type in scalar)) break;
	const [, read, write] = scalar[type];
	const before = read(at);
	write(at, type === 7 || type === 10 || type === 11 ? value : Number(value));
	fs.writeFileSync(file, buf);
	console.log(`${key}: ${before} -> ${read(at)}`);
	process.exit(0);
}
console.error(`${file}: no scalar key ${want}`);
process.exit(1);
