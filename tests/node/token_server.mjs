// node token_server.mjs KEY.pem CERT.pem ISSUER USER:PASSWORD
// A registry token service (the distribution spec's token authentication) for ferry's tests: GET
// /token?service=S&scope=repository:NAME:ACTIONS with Basic USER:PASSWORD answers {token,
// access_token}, a JWT signed RS256 by KEY with CERT in its x5c header (docker-registry trusts
// CERT as its root bundle) granting the scope's actions; wrong or missing credentials get 401.
// Prints the port it listens on.
import http from "node:http";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";

const [keyPath, certPath, issuer, creds] = process.argv.slice(2);
const key = crypto.createPrivateKey(readFileSync(keyPath));
const der = new crypto.X509Certificate(readFileSync(certPath)).raw;
const b64u = (b) => Buffer.from(b).toString("base64url");

function jwt(service, access) {
	const now = Math.floor(Date.now() / 1000);
	const head = { typ: "JWT", alg: "RS256", x5c: [der.toString("base64")] };
	const claims = { iss: issuer, sub: creds.split(":")[0], aud: service, exp: now + 300,
		nbf: now - 10, iat: now, jti: crypto.randomUUID(), access };
	const input = `${b64u(JSON.stringify(head))}.${b64u(JSON.stringify(claims))}`;
	return `${input}.${b64u(crypto.sign("sha256", Buffer.from(input), key))}`;
}

const server = http.createServer((req, res) => {
	const u = new URL(req.url, "http://x");
	const auth = req.headers.authorization || "";
	if (u.pathname !== "/token" || auth !== `Basic ${Buffer.from(creds).toString("base64")}`) {
		res.writeHead(401, { "Content-Type": "application/json" });
		return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
	}
	const access = [];
	for (const sc of u.searchParams.getAll("scope")) {
		const [type, name, actions] = sc.split(":");
		if (type === "repository" && name && actions) access.push({ type, name, actions: actions.split(",") });
	}
	const t = jwt(u.searchParams.get("service"), access);
	res.writeHead(200, { "Content-Type": "application/json" });
	res.end(JSON.stringify({ token: t, access_token: t, expires_in: 300 }));
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
