// node objects.mjs URL REPO DIR
// The npm @huggingface/hub client (pinned), unmodified, against `ferry serve --objects-from`: every
// file of REPO downloaded through serve (LFS files redirected to where their bytes live) and
// compared with DIR's copy, then snapshotDownload into a cache folder, every byte compared.
// Prints "ok ..." per check; exits 1 on a failure.
import { downloadFile, listFiles, snapshotDownload } from "@huggingface/hub";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const [hubUrl, repo, dir] = process.argv.slice(2);
let failed = 0;
function check(cond, what) {
	if (cond) console.log(`ok ${what}`);
	else {
		console.log(`FAIL ${what}`);
		failed++;
	}
}
const paths = [];
for await (const e of listFiles({ repo, hubUrl, recursive: true })) if (e.type === "file") paths.push(e.path);
check(paths.length > 0, `listFiles lists ${paths.length} files`);
for (const path of paths) {
	const blob = await downloadFile({ repo, path, hubUrl });
	const got = Buffer.from(await blob.arrayBuffer());
	check(got.equals(readFileSync(join(dir, path))), `downloadFile ${path}`);
}
const cache = mkdtempSync(join(tmpdir(), "ferry-objects-"));
try {
	const snap = await snapshotDownload({ repo, hubUrl, cacheDir: cache });
	let same = true;
	for (const path of paths) same &&= readFileSync(join(snap, path)).equals(readFileSync(join(dir, path)));
	check(same, "snapshotDownload: every file identical");
} finally {
	rmSync(cache, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
