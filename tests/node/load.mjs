// Load on `ferry serve` (docs/RELIABILITY.md): N mixed requests (model info, the file tree, random
// ranges, whole files) at each concurrency level, every response checked (status, JSON
// content against the local files' digests, every byte of every range and file); then IDLE
// connections that sent half a request and stall (slowloris) held open while M more requests
// must still be served. Prints one line per phase and the server's peak memory.
//   node load.mjs URL REPO DIR SERVER_PID [N] [IDLE]
// Exit status 1 when any response was wrong or failed.
import { readFileSync, readdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import http from "node:http";
import net from "node:net";

const [url, repo, dir, pidArg, nArg, idleArg] = process.argv.slice(2);
const N = Number(nArg ?? 10000), IDLE = Number(idleArg ?? 1000);
const files = readdirSync(dir).filter((f) => !f.startsWith("."));
const data = Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f))]));
const sha = Object.fromEntries(files.map((f) => [f, createHash("sha256").update(data[f]).digest("hex")]));
const { hostname, port } = new URL(url);
let seed = 4242;
const rand = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
let failed = false;

function rss() { // the server's resident memory, KiB
	const m = readFileSync(`/proc/${pidArg}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
	return m ? Number(m[1]) : 0;
}

function get(agent, path, headers = {}) {
	return new Promise((resolve) => {
		const req = http.get({ host: hostname, port, path, agent, headers }, (res) => {
			const parts = [];
			res.on("data", (c) => parts.push(c));
			res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(parts) }));
			res.on("error", (e) => resolve({ status: 0, error: e.message }));
		});
		req.on("error", (e) => resolve({ status: 0, error: e.message }));
		req.setTimeout(60000, () => req.destroy(new Error("timeout")));
	});
}

// one request of a random kind; returns "ok", "wrong", "5xx" or "error"
async function one(agent) {
	const kind = rand(10);
	const f = files[rand(files.length)];
	if (kind < 2) {
		const r = await get(agent, `/api/models/${repo}?blobs=true`);
		if (r.status >= 500) return "5xx";
		if (r.status !== 200) return "error";
		const info = JSON.parse(r.body);
		const s = info.siblings.find((x) => x.rfilename === f);
		return s && s.size === data[f].length && (!s.lfs || s.lfs.sha256 === sha[f]) ? "ok" : "wrong";
	}
	if (kind < 3) {
		const r = await get(agent, `/api/models/${repo}/tree/main`);
		if (r.status >= 500) return "5xx";
		if (r.status !== 200) return "error";
		const e = JSON.parse(r.body).find((x) => x.path === f);
		return e && e.size === data[f].length ? "ok" : "wrong";
	}
	const path = `/${repo}/resolve/main/${f}`;
	if (kind < 5 || data[f].length < 2) {
		const r = await get(agent, path);
		if (r.status >= 500) return "5xx";
		if (r.status !== 200) return "error";
		return r.body.equals(data[f]) ? "ok" : "wrong";
	}
	const a = rand(data[f].length), len = 1 + rand(Math.min(262144, data[f].length - a));
	const r = await get(agent, path, { Range: `bytes=${a}-${a + len - 1}` });
	if (r.status >= 500) return "5xx";
	if (r.status !== 206) return "error";
	return r.body.equals(data[f].subarray(a, a + len)) ? "ok" : "wrong";
}

async function phase(name, n, conc) {
	const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
	const count = { ok: 0, wrong: 0, "5xx": 0, error: 0 };
	let next = 0, peak = rss();
	const t0 = Date.now();
	await Promise.all(Array.from({ length: conc }, async () => {
		while (next < n) {
			next++;
			count[await one(agent)]++;
			if ((next & 255) === 0) peak = Math.max(peak, rss());
		}
	}));
	agent.destroy();
	const s = (Date.now() - t0) / 1000;
	peak = Math.max(peak, rss());
	const bad = count.wrong + count["5xx"] + count.error;
	if (bad > 0) failed = true;
	console.log(`${bad ? "FAIL" : "ok  "} ${name}: ${n} requests at ${conc} connections in ${s.toFixed(1)} s ` +
		`(${(n / s).toFixed(0)}/s): ${count.ok} right, ${count.wrong} wrong bytes, ${count["5xx"]} 5xx, ` +
		`${count.error} failed; server RSS peak ${(peak / 1024).toFixed(1)} MiB`);

}

const rss0 = rss();
console.log(`server RSS at start ${(rss0 / 1024).toFixed(1)} MiB`);
await phase("mixed", N, 64);
await phase("mixed", N, 256);

// slowloris: IDLE connections with half a request, held while more requests go through
const idle = [];
let closed = 0;
for (let i = 0; i < IDLE; i++) {
	const s = net.connect(Number(port), hostname);
	s.on("error", () => {});
	s.on("close", () => closed++);
	s.write(`GET /api/models/${repo} HTTP/1.1\r\nHost: x\r\nX-Slow: `);
	idle.push(s);
}
await new Promise((r) => setTimeout(r, 500));
await phase(`with ${IDLE} idle connections open`, Math.max(1000, N / 10), 64);
const stillOpen = IDLE - closed;
idle.forEach((s) => s.destroy());
console.log(`${stillOpen === IDLE ? "ok  " : "note"} ${stillOpen} of ${IDLE} idle connections were still open after the phase`);
process.exit(failed ? 1 : 0);
