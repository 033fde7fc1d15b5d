// node pagehub.mjs UPSTREAM PAGE LOGFILE [MODE]
// A hub on 127.0.0.1 in front of UPSTREAM (a ferry serve) that pages its tree listings the way
// huggingface.co does: PAGE entries a page, then `Link: <absolute URL with cursor=N>; rel="next"`.
// Each tree request is logged to LOGFILE as "cursor auth|none". MODE changes the next link:
// "relative" (a path only), "foreign" (another host: 127.0.0.2), "self" (the same page again),
// "long" (a URL of 9000 bytes, more than a client need hold).
// Prints the hub's port.
import http from "node:http";
import { appendFileSync } from "node:fs";

const [upstream, page, log, mode = "absolute"] = process.argv.slice(2);
const size = Number(page);

function fetchUpstream(path, headers) {
	return new Promise((resolve, reject) => {
		http.get(new URL(path, upstream), { headers }, (r) => {
			const parts = [];
			r.on("data", (c) => parts.push(c));
			r.on("end", () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(parts) }));
		}).on("error", reject);
	});
}

const hub = http.createServer(async (req, res) => {
	const auth = req.headers.authorization ? { authorization: req.headers.authorization } : {};
	const u = new URL(req.url, "http://127.0.0.1");
	if (!u.pathname.includes("/tree/")) {
		const r = await fetchUpstream(req.url, auth);
		res.writeHead(r.status, r.headers);
		return res.end(r.body);
	}
	const cursor = Number(u.searchParams.get("cursor") || 0);
	appendFileSync(log, `${cursor} ${req.headers.authorization ? "auth" : "none"}\n`);
	u.searchParams.delete("cursor");
	const r = await fetchUpstream(u.pathname + u.search, auth);
	if (r.status !== 200) {
		res.writeHead(r.status, r.headers);
		return res.end(r.body);
	}
	const all = JSON.parse(r.body);
	const headers = { "Content-Type": "application/json" };
	if (cursor + size < all.length) {
		u.searchParams.set("cursor", String(mode === "self" ? cursor : cursor + size));
		if (mode === "long") u.searchParams.set("pad", "x".repeat(9000));
		const rel = u.pathname + u.search;
		const host = mode === "foreign" ? "127.0.0.2" : "127.0.0.1";
		const target = mode === "relative" ? rel : `http://${host}:${hub.address().port}${rel}`;
		headers.Link = `<${target}>; rel="next"`;
	}
	res.writeHead(200, headers);
	res.end(JSON.stringify(all.slice(cursor, cursor + size)));
});
hub.listen(0, "127.0.0.1", () => console.log(hub.address().port));
