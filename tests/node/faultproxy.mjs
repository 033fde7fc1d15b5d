// node faultproxy.mjs UPSTREAM FAULTS
// An HTTP proxy in front of a hub that breaks file transfers on purpose, for ferry clone's
// tests. FAULTS is a comma-separated list applied to the successive GET /resolve/ requests
// (the first gets the first fault, ...), the rest pass through untouched:
//   reset     close the connection without an answer
//   503       answer 503
//   429       answer 429 with Retry-After: 1
//   truncate  send the headers and half the body, then close
//   corrupt   send the whole body with one byte changed
//   stall     send the headers and a few bytes, then nothing (the client must give up)
//   loop      redirect to the same URL (every time: a redirect loop)
//   corrupt*  (suffix *) the fault applies to every resolve request
//   pass      (or any other word) that request goes through untouched
// Prints the port it listens on.
import http from "node:http";

const [upstream, spec] = process.argv.slice(2);
const faults = (spec || "").split(",").filter(Boolean);
const always = faults.find((f) => f.endsWith("*"));
let n = 0;

function forward(req, res, fault) {
	const u = new URL(req.url, upstream);
	const up = http.request(u, { method: req.method, headers: { ...req.headers, host: u.host } }, (ur) => {
		const chunks = [];
		ur.on("data", (c) => chunks.push(c));
		ur.on("end", () => {
			let body = Buffer.concat(chunks);
			if (fault === "corrupt" && body.length > 0) {
				body = Buffer.from(body);
				body[Math.floor(body.length / 2)] ^= 0xff;
			}
			res.writeHead(ur.statusCode, ur.headers);
			if (fault === "truncate") {
				res.write(body.subarray(0, Math.floor(body.length / 2)));
				return res.socket.destroy();
			}
			if (fault === "stall") {
				res.write(body.subarray(0, Math.min(10, body.length)));
				return; // nothing more, ever
			}
			res.end(body);
		});
	});
	up.on("error", () => res.socket.destroy());
	req.pipe(up);
}

http.createServer((req, res) => {
	let fault;
	if (req.method === "GET" && req.url.includes("/resolve/")) fault = always ? always.slice(0, -1) : faults[n++];
	if (fault === "reset") return req.socket.destroy();
	if (fault === "503") return res.writeHead(503).end("busy");
	if (fault === "429") return res.writeHead(429, { "Retry-After": "1" }).end("slow down");
	if (fault === "loop") return res.writeHead(302, { Location: req.url }).end();
	forward(req, res, fault);
}).listen(0, "127.0.0.1", function () {
	console.log(this.address().port);
});
