// Crafts signed mirror indexes for the tests of tests/cli/publish.sh, with the mirror's own
// Ed25519 key (node's crypto, independent of ferry's signer): a valid signature over content the
// mirror never published, so that only the client's checks (expiry, rollback, the pinned
// manifest digest) stand between it and the client.
//   node resign.mjs STORE KEY.pem MODE
// MODE: expired   the current index, one version up, expiring in 2020
//       mixmatch  one version up, the first revision's manifest_sha256 changed
//       dupsig    the current signature document with its signature listed twice
//       garbage   the current signature document with bytes after it
// Writes published/index-N.json/.sig and points published/current at N.
import { readFileSync, writeFileSync } from "node:fs";
import { createHash, createPrivateKey, createPublicKey, sign } from "node:crypto";

const [store, keyPath, mode] = process.argv.slice(2);
const cur = Number(readFileSync(`${store}/published/current`, "utf8"));
const index = JSON.parse(readFileSync(`${store}/published/index-${cur}.json`, "utf8"));
const sigDoc = readFileSync(`${store}/published/index-${cur}.sig`, "utf8");
const key = createPrivateKey(readFileSync(keyPath));
const pub = createPublicKey(key);
const raw = pub.export({ format: "der", type: "spki" }).subarray(-32);
const keyid = createHash("sha256").update(raw).digest("hex").slice(0, 16);

function write(ix, sigText) {
	const v = ix.version;
	const text = JSON.stringify(ix, null, 2);
	writeFileSync(`${store}/published/index-${v}.json`, text);
	writeFileSync(`${store}/published/index-${v}.sig`, sigText ?? JSON.stringify({
		signatures: [{
			keyid,
			public_key: pub.export({ format: "pem", type: "spki" }),
			sig: sign(null, Buffer.from(text), key).toString("hex"),
		}],
	}, null, 2));
	writeFileSync(`${store}/published/current`, `${v}\n`);
}

if (mode === "expired") {
	index.version += 1;
	index.expires = "2020-01-01T00:00:00Z";
	write(index);
} else if (mode === "mixmatch") {
	index.version += 1;
	const repo = Object.values(index.repos)[0];
	const rev = Object.values(repo.revisions)[0];
	rev.manifest_sha256 = createHash("sha256").update("another manifest").digest("hex");
	write(index);
} else if (mode === "dupsig") {
	const d = JSON.parse(sigDoc);
	d.signatures.push(d.signatures[0]);
	writeFileSync(`${store}/published/index-${cur}.sig`, JSON.stringify(d, null, 2));
	writeFileSync(`${store}/published/current`, `${cur}\n`); // the server reloads on this
} else if (mode === "garbage") {
	writeFileSync(`${store}/published/index-${cur}.sig`, sigDoc + "\n{}");
	writeFileSync(`${store}/published/current`, `${cur}\n`);
} else {
	console.error(`resign.mjs: unknown mode ${mode}`);
	process.exit(2);
}
