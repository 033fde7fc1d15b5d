// node redirecthub.mjs UPSTREAM LOGFILE
// A hub on 127.0.0.1 that answers the API itself (proxied to UPSTREAM) but redirects every
// /resolve/ request to a file server on another host (127.0.0.2, a CDN stand-in), which
// records the Authorization header each request carried into LOGFILE ("auth" or "none").
// Prints the hub's port.
import http from "node:http";
import { appendFileSync } from "node:fs";

const [upstream, log] = process.argv.slice(2);
const cdn = http.createServer((req, res) => {
	appendFileSync(log, (req.headers.authorization ? "auth" : "none") + "\n");
	const u = new URL(req.url, upstream);
	http.get(u, (ur) => {
		res.writeHead(ur.statusCode, ur.headers);
		ur.pipe(res);
	});
});
cdn.listen(0, "127.0.0.2", () => {
	const cdnPort = cdn.address().port;
	const hub = http.createServer((req, res) => {
		if (req.url.includes("/resolve/")) {
			res.writeHead(302, { Location: `http://127.0.0.2:${cdnPort}${req.url}` });
			return res.end();
		}
		const u = new URL(req.url, upstream);
		http.get(u, { headers: { authorization: req.headers.authorization || "" } }, (ur) => {
			res.writeHead(ur.statusCode, ur.headers);
			ur.pipe(res);
		});
	});
	hub.listen(0, "127.0.0.1", () => console.log(hub.address().port));
});
