// Damages one tensor of a GGUF file in place: zeroes the scale (the leading f16) of every block.
// usage: node damage.mjs FILE OFFSET BYTES BLOCK_BYTES   (OFFSET: absolute, of the tensor's data)
import fs from "node:fs";
const [file, off, bytes, block] = process.argv.slice(2).map((v, i) => (i ? Number(v) : v));
const fd = fs.openSync(file, "r+");
const zero = Buffer.alloc(2);
for (let at = off; at < off + bytes; at += block) fs.writeSync(fd, zero, 0, 2, at);
fs.closeSync(fd);
