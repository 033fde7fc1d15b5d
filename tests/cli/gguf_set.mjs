// Sets one scalar key of a GGUF file in place, keeping its type: the way to make a GGUF file
// whose metadata says something a converter would never write.
// usage: node gguf_set.mjs FILE KEY VALUE   (exit 1 when KEY is missing or not a number/bool)
import fs from "node:fs";
import { readGguf, SCALARS } from "./gguf.mjs";

const [file, key, value] = process.argv.slice(2);
const { buf, kv } = readGguf(file);
const k = kv[key];
if (k === undefined || !(k.type in SCALARS)) {
	console.error(`${file}: no scalar key ${key}`);
	process.exit(1);
}
const write = SCALARS[k.type][1].replace("read", "write");
const v = k.type === 7 ? Number(value === "true") : k.type >= 10 && k.type <= 11 ? BigInt(value) : Number(value);
buf[write](v, k.at);
fs.writeFileSync(file, buf);
console.log(`${key}: ${k.value} -> ${readGguf(file).kv[key].value}`);
