// Reads a Hugging Face cache folder with the npm @huggingface/hub client's own cache scanner
// (scanCacheDir, pinned in package-lock.json) and prints what it found as one line per file:
//   REPO COMMIT REFS PATH SIZE BLOB
// then "warnings N". Used by tests/cli/bundle.sh to check that ferry's installs are what the
// hub clients expect to find.
//   node hfcache.mjs CACHE_DIR
import { scanCacheDir } from "@huggingface/hub";

const info = await scanCacheDir(process.argv[2]);
for (const repo of info.repos) {
	for (const rev of repo.revisions) {
		for (const f of rev.files) {
			const rel = f.path.slice(rev.path.length + 1);
			const blob = f.blob.path.split("/").pop();
			console.log(`${repo.id.name} ${rev.commitOid} ${rev.refs.join(",") || "-"} ${rel} ${f.blob.size} ${blob}`);
		}
	}
}
for (const w of info.warnings) console.log(`warning ${w.message}`);
console.log(`warnings ${info.warnings.length}`);
