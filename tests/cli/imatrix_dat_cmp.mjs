// Compares two importance matrices in llama-imatrix's legacy .dat format: the same entries in
// the same order, each with the same ncall and number of values, every value within a relative
// tolerance of the other's; the same chunk count and dataset name.
//   node imatrix_dat_cmp.mjs A.dat B.dat [TOLERANCE]   exit 0 when they agree
import fs from "node:fs";

const read = (file) => {
	const b = fs.readFileSync(file);
	let o = 0;
	const i32 = () => ((o += 4), b.readInt32LE(o - 4));
	const n = i32(), entries = [];
	for (let k = 0; k < n; k++) {
		const len = i32();
		const name = b.toString("utf8", o, o + len);
		o += len;
		const ncall = i32(), nval = i32();
		const values = [];
		for (let j = 0; j < nval; j++, o += 4) values.push(b.readFloatLE(o));
		entries.push({ name, ncall, values });
	}
	const chunks = i32(), dlen = i32();
	const dataset = b.toString("utf8", o, o + dlen);
	if (o + dlen !== b.length) throw new Error(`${file}: ${b.length - o - dlen} bytes after the dataset name`);
	return { entries, chunks, dataset };
};
const [a, b] = [read(process.argv[2]), read(process.argv[3])];
const tol = Number(process.argv[4] ?? 1e-3);
const fail = (m) => { console.error(m); process.exit(1); };
if (a.chunks !== b.chunks) fail(`chunks ${a.chunks} and ${b.chunks}`);
if (a.dataset !== b.dataset) fail(`datasets '${a.dataset}' and '${b.dataset}'`);
if (a.entries.length !== b.entries.length) fail(`${a.entries.length} and ${b.entries.length} entries`);
let worst = 0;
for (let k = 0; k < a.entries.length; k++) {
	const [x, y] = [a.entries[k], b.entries[k]];
	if (x.name !== y.name || x.ncall !== y.ncall || x.values.length !== y.values.length)
		fail(`entry ${k}: ${x.name} (${x.ncall}, ${x.values.length}) and ${y.name} (${y.ncall}, ${y.values.length})`);
	for (let j = 0; j < x.values.length; j++) {
		const d = Math.abs(x.values[j] - y.values[j]) / Math.max(Math.abs(x.values[j]), Math.abs(y.values[j]), 1e-30);
		worst = Math.max(worst, d);
		if (d > tol) fail(`${x.name}[${j}]: ${x.values[j]} and ${y.values[j]}`);
	}
}
console.log(`${a.entries.length} entries agree, largest relative difference ${worst.toExponential(2)}`);
