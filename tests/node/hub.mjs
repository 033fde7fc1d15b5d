// node hub.mjs URL SOURCE_DIR TOKEN
// The npm @huggingface/hub client (pinned) against `ferry serve` at URL, whose store holds
// tiny/stories (imported from SOURCE_DIR, tagged v1): modelInfo, listFiles, downloadFile at
// every revision form, pathsInfo, snapshotDownload into a cache folder with every byte compared;
// then 500 concurrent random-range requests with every byte checked, and slow clients holding
// connections open while other requests go on. Prints "ok ..." per check; exits 1 on a failure.
import { modelInfo, listFiles, listModels, downloadFile, pathsInfo, snapshotDownload } from "@huggingface/hub";
import { readFileSync, readdirSync, statSync, mkdtempSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { tmpdir } from "node:os";
import net from "node:net";

const [hubUrl, src, token] = process.argv.slice(2);
const repo = "tiny/stories";
let failed = 0;
function check(cond, what) {
	if (cond) console.log(`ok ${what}`);
	else {
		console.log(`FAIL ${what}`);
		failed++;
	}
}
function walk(dir) {
	return readdirSync(dir).flatMap((n) => {
		const p = join(dir, n);
		return statSync(p).isDirectory() ? walk(p) : [relative(src, p)];
	});
}
const files = walk(src).sort();

const info = await modelInfo({ name: repo, hubUrl, additionalFields: ["sha"] });
check(info.name === repo && /^[0-9a-f]{40}$/.test(info.sha), "modelInfo");

// listModels: what an anonymous client may see, what a token adds, the owner filter, fields
const ids = async (params) => {
	const out = [];
	for await (const m of listModels({ hubUrl, ...params })) out.push(m.name);
	return out;
};
check(JSON.stringify(await ids({})) === JSON.stringify(["gguf/stories", "late/model", "tiny/stories"]),
	"listModels lists the repos an anonymous client may see, by id");
check(JSON.stringify(await ids({ accessToken: token })) ===
	JSON.stringify(["gguf/stories", "late/model", "org/gated", "org/secret", "tiny/stories"]),
	"listModels with a token adds its private and gated repos");
check(JSON.stringify(await ids({ search: { owner: "tiny" } })) === JSON.stringify(["tiny/stories"]),
	"listModels by owner");
const withFiles = [];
for await (const m of listModels({ hubUrl, search: { query: "tiny" }, additionalFields: ["filePaths", "sha"] }))
	withFiles.push(m);
check(withFiles.length === 1 && withFiles[0].sha === info.sha &&
	JSON.stringify([...withFiles[0].filePaths].sort()) === JSON.stringify(files),
	"listModels with filePaths and sha");

const listed = [];
for await (const e of listFiles({ repo, hubUrl, recursive: true })) if (e.type === "file") listed.push(e.path);
check(JSON.stringify(listed.sort()) === JSON.stringify(files), "listFiles lists every file");

for (const revision of ["main", "v1", "HEAD", info.sha]) {
	const blob = await downloadFile({ repo, path: "config.json", hubUrl, revision });
	const got = Buffer.from(await blob.arrayBuffer());
	check(got.equals(readFileSync(join(src, "config.json"))), `downloadFile at ${revision}`);
}
const big = await downloadFile({ repo, path: "model.safetensors", hubUrl });
check(Buffer.from(await big.arrayBuffer()).equals(readFileSync(join(src, "model.safetensors"))), "downloadFile of an LFS file");
check((await downloadFile({ repo, path: "nope.json", hubUrl })) === null, "downloadFile of a missing file is null");

const pi = await pathsInfo({ repo, hubUrl, paths: ["config.json", "model.safetensors"], expand: true });
check(pi.length === 2 && pi[1].lfs && pi[1].lfs.size === statSync(join(src, "model.safetensors")).size, "pathsInfo");

const cache = mkdtempSync(join(tmpdir(), "ferry-hub-cache-"));
try {
	const snap = await snapshotDownload({ repo, hubUrl, cacheDir: cache });
	const same = files.every((f) => readFileSync(join(snap, f)).equals(readFileSync(join(src, f))));
	check(same, "snapshotDownload: every file byte-identical");
	check(readFileSync(join(cache, "models--tiny--stories", "refs", "main"), "utf8") === info.sha, "snapshotDownload: refs/main");
} finally {
	rmSync(cache, { recursive: true, force: true });
}

let denied = false;
try {
	await modelInfo({ name: "org/secret", hubUrl });
} catch (e) {
	denied = true;
}
check(denied, "private repo hidden from anonymous modelInfo");
const withToken = await modelInfo({ name: "org/secret", hubUrl, accessToken: token });
check(withToken.name === "org/secret", "private repo with a token");

// 500 concurrent random ranges, every byte checked
const model = readFileSync(join(src, "model.safetensors"));
let seed = 12345;
const rand = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
const jobs = [];
for (let i = 0; i < 500; i++) {
	const a = rand(model.length), len = 1 + rand(Math.min(65536, model.length - a));
	jobs.push(
		fetch(`${hubUrl}/${repo}/resolve/main/model.safetensors`, { headers: { Range: `bytes=${a}-${a + len - 1}` } })
			.then(async (r) => r.status === 206 && Buffer.from(await r.arrayBuffer()).equals(model.subarray(a, a + len)))
			.catch(() => false)
	);
}
const results = await Promise.all(jobs);
check(results.every(Boolean), `500 concurrent random ranges byte-exact (${results.filter(Boolean).length}/500)`);

// slow clients: 50 connections that send half a request and stall; the others must be served
// while those are still open (had they waited for the stalled ones, the server's idle timeout
// would have closed them first)
const { port, hostname } = new URL(hubUrl);
const slow = [];
let closed = 0;
for (let i = 0; i < 50; i++) {
	const s = net.connect(Number(port), hostname);
	s.on("error", () => {});
	s.on("close", () => closed++);
	s.write("GET /api/models/tiny/stories HTTP/1.1\r\nHost: x\r\nX-Slow: ");
	slow.push(s);
}
const quick = await Promise.all(
	Array.from({ length: 20 }, () => fetch(`${hubUrl}/api/models/${repo}`).then((r) => r.ok))
);
check(quick.every(Boolean) && closed === 0, `slow clients do not block the others (${closed} closed first)`);
slow.forEach((s) => s.destroy());
process.exit(failed ? 1 : 0);
