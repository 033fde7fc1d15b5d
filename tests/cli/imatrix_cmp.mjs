// Compares two importance matrices in llama-imatrix's GGUF format: the same entries; a dense
// weight's counts equal and every normalized value (sum / count) within a relative tolerance of
// the other's; a mixture's experts (two engines route a near-tie differently now and then) with
// counts within 1% and, per column, the sums over all experts within ten times the tolerance
// (every token adds its input to the experts it chose: for gate and up the total does not depend
// on which; for down, whose input is the expert's own, a few re-routed tokens move it a little).
//   node imatrix_cmp.mjs A.gguf B.gguf [TOLERANCE]   exit 0 when they agree
import { readGguf } from "./gguf.mjs";

const [a, b] = [readGguf(process.argv[2]), readGguf(process.argv[3])];
const tol = Number(process.argv[4] ?? 1e-3);
const f32 = (g, t) => {
	const n = t.ne.reduce((x, y) => x * y, 1);
	const start = g.base + t.off;
	return new Float32Array(g.buf.buffer.slice(g.buf.byteOffset + start, g.buf.byteOffset + start + 4 * n));
};
const names = (g) => Object.keys(g.tensors).sort();
const fail = (m) => { console.error(m); process.exit(1); };
if (JSON.stringify(names(a)) !== JSON.stringify(names(b))) fail("entries differ");
let worst = 0;
for (const n of names(a)) {
	if (!n.endsWith(".in_sum2")) continue;
	const c = n.slice(0, -8) + ".counts";
	const [ca, cb] = [f32(a, a.tensors[c]), f32(b, b.tensors[c])];
	const experts = ca.length > 1;
	for (let k = 0; k < ca.length; k++)
		if (experts ? Math.abs(ca[k] - cb[k]) > 0.01 * Math.max(ca[k], cb[k]) : ca[k] !== cb[k])
			fail(`counts differ: ${c}`);
	const [sa, sb] = [f32(a, a.tensors[n]), f32(b, b.tensors[n])];
	const per = sa.length / ca.length;
	const total = (s, cnt) => {
		const t = new Float64Array(per);
		let k = 0;
		for (let e = 0; e < cnt.length; e++) k += cnt[e];
		for (let i = 0; i < s.length; i++) t[i % per] += s[i];
		return t.map((v) => v / (k || 1));
	};
	const [x, y] = experts ? [total(sa, ca), total(sb, cb)]
		: [sa.map((v) => v / (ca[0] || 1)), sb.map((v) => v / (cb[0] || 1))];
	for (let i = 0; i < x.length; i++) {
		const rel = Math.abs(x[i] - y[i]) / Math.max(Math.abs(x[i]), Math.abs(y[i]), 1e-6);
		const scaled = experts ? rel / 10 : rel;
		if (scaled > worst && process.env.IMATRIX_CMP_VERBOSE) console.log(n, i, rel);
		worst = Math.max(worst, scaled);
	}
}
console.log(`worst relative difference ${worst.toExponential(2)}`);
process.exit(worst <= tol ? 0 : 1);
