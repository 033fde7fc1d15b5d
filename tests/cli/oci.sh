#!/bin/sh
# Integration tests of OCI registries (docs/OCI.md): `ferry push` to Debian's docker-registry
# (the CNCF distribution registry) started on loopback, skopeo (a second real client) reading
# and copying what ferry pushed, `ferry clone oci://` reading back what skopeo copied with the
# same revision id, blobs not sent twice (present, or mounted from another repository), chunked,
# retried and resumed uploads, pull and sync from a registry, a tampered blob refused
# with nothing committed, an htpasswd-protected registry (Basic authentication), one trusting a
# token service (Bearer tokens: tests/node/token_server.mjs signs them), and `ferry
# serve` as a read-only registry of the published revisions (skopeo and ferry clone read it).
# Environment: FERRY. Ends with "N passed, N failed".
set -u
unset FERRY_MIRROR FERRY_OCI_USER FERRY_OCI_PASSWORD FERRY_OCI_TOKEN

FERRY=${FERRY:?set FERRY}
DATA=${FERRY_TEST_DATA:-tests/data}
work=$(mktemp -d /tmp/ferry-oci-XXXXXX)
regs=""
serve_pid=
tok_pid=
trap 'for p in $regs $serve_pid $tok_pid; do kill $p 2>/dev/null; done; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start_registry NAME [AUTH-YAML]: docker-registry on a free loopback port (or $reg_port), its
# storage under $work/NAME; sets $reg (host:port)
start_registry() {
	_port=${reg_port:-$(free_port)}
	mkdir -p "$work/$1"
	{
		printf 'version: 0.1\nlog:\n  level: error\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s\n' "$work/$1/data"
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$_port"
		[ $# -gt 1 ] && printf '%s\n' "$2"
	} >"$work/$1/config.yml"
	docker-registry serve "$work/$1/config.yml" >"$work/$1/log" 2>&1 &
	regs="$regs $!"
	reg=127.0.0.1:$_port
	i=0
	until curl -s -o /dev/null "http://$reg/v2/" || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
}

if ! command -v docker-registry >/dev/null || ! command -v skopeo >/dev/null; then
	echo "FAIL: docker-registry and skopeo are needed (make deps)" >&2
	echo "oci: 0 passed, 1 failed"
	exit 1
fi

up="$work/up"
export FERRY_HOME="$up"
stories_store
"$FERRY" -q key generate
"$FERRY" -q sign demo/stories-GGUF
gid=$("$FERRY" --json show demo/stories-GGUF | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
sid=$("$FERRY" --json show demo/stories | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
start_registry reg
reg1=$reg
[ -n "$gid" ] && [ -n "$sid" ] && ok || bad "no revision ids from show --json"

# --- references ------------------------------------------------------------------------------
run "$FERRY" push demo/stories-GGUF "docker://$reg/x"
expect_rc 1 "push needs oci://"
expect_err "not an oci://" "says so"
run "$FERRY" push demo/stories-GGUF "oci://$reg/"
expect_rc 1 "a reference without a name"
run "$FERRY" push demo/stories-GGUF "oci://$reg/a/b:bad/tag"
expect_rc 1 "a bad tag"
run "$FERRY" push demo/stories-GGUF "oci://$reg/a/b@sha256:00"
expect_rc 1 "a short digest"
run "$FERRY" push demo/nothing "oci://$reg/a/b:t"
expect_rc 1 "an unknown repository"

# --- push, skopeo reads it ---------------------------------------------------------------------
run "$FERRY" --json push demo/stories-GGUF "oci://$reg/Demo/Stories-GGUF:q4" --chunk-size 1
expect_rc 0 "push to the registry (chunked: 1 MiB chunks)"
json_valid "$work/out" "push --json"
node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));process.exit(j.sent===j.blobs&&j.present===0&&j.bytes>1e6?0:1)' "$work/out" &&
	ok || bad "first push sends every blob: $(cat "$work/out")"
digest=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).digest)' "$work/out")
run "$FERRY" --json push demo/stories-GGUF "oci://$reg/demo/stories-gguf:again"
expect_rc 0 "push again under another tag"
node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));process.exit(j.sent===0&&j.present===j.blobs&&j.digest===process.argv[2]?0:1)' "$work/out" "$digest" &&
	ok || bad "blobs in the registry are not sent again; same manifest: $(cat "$work/out")"
run skopeo inspect --tls-verify=false --raw "docker://$reg/demo/stories-gguf:q4"
expect_rc 0 "skopeo reads the manifest (the name was lowercased)"
cp "$work/out" "$work/manifest.json"
node -e '
const m = JSON.parse(require("fs").readFileSync(process.argv[1]));
const ok = m.mediaType === "application/vnd.oci.image.manifest.v1+json" &&
	m.artifactType === "application/vnd.cncf.model.manifest.v1+json" &&
	m.config.mediaType === "application/vnd.cncf.model.config.v1+json" &&
	m.layers.some(l => l.mediaType === "application/vnd.cncf.model.weight.v1.raw" &&
		(l.annotations || {})["org.cncf.model.filepath"] === "stories-Q4_K_M.gguf") &&
	m.layers.some(l => l.mediaType === "application/vnd.ferry.revision.v1+json") &&
	m.layers.some(l => l.mediaType === "application/vnd.ferry.signatures.v1+json") &&
	m.annotations["io.ferry.revision"] === process.argv[2];
process.exit(ok ? 0 : 1);' "$work/manifest.json" "$gid" && ok || bad "the manifest is a ModelPack artifact with ferry's layers: $(head -c 600 "$work/manifest.json")"
[ "sha256:$(sha256sum "$work/manifest.json" | cut -c1-64)" = "$digest" ] && ok ||
	bad "the registry's manifest is the one push reported"
cfg=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).config.digest)' "$work/manifest.json")
curl -s "http://$reg/v2/demo/stories-gguf/blobs/$cfg" >"$work/config.json"
node -e '
const c = JSON.parse(require("fs").readFileSync(process.argv[1]));
process.exit(c.descriptor.revision === process.argv[2] && c.config.format === "gguf" &&
	c.modelfs.type === "layers" && c.modelfs.diffIds.length > 2 ? 0 : 1);' "$work/config.json" "$gid" &&
	ok || bad "the ModelPack config: $(head -c 400 "$work/config.json")"
# a file's layer is the file, byte for byte
curl -s "http://$reg/v2/demo/stories-gguf/tags/list" | grep -q '"q4"' && ok || bad "tags/list lists q4"
run skopeo copy --src-tls-verify=false "docker://$reg/demo/stories-gguf:q4" "oci:$work/layout:q4"
expect_rc 0 "skopeo copies the artifact to an oci: layout"
[ -f "$work/layout/blobs/sha256/${digest#sha256:}" ] && ok || bad "the layout holds the same manifest"
run skopeo copy --dest-tls-verify=false "oci:$work/layout:q4" "docker://$reg/elsewhere/copy:x"
expect_rc 0 "skopeo copies it back to another repository"

# --- clone oci:// ------------------------------------------------------------------------------
down="$work/down"
FERRY_HOME=$down "$FERRY" -q init
FERRY_HOME=$down "$FERRY" -q key trust "$up/keys/signing.pub"
run env FERRY_HOME="$down" "$FERRY" --json clone "oci://$reg/elsewhere/copy:x"
expect_rc 0 "clone what skopeo copied"
expect_out "\"revision\": \"$gid\"" "the same revision id"
expect_out '"repo": "demo/stories-GGUF"' "the revision's own repository"
run env FERRY_HOME="$down" "$FERRY" verify --strict demo/stories-GGUF
expect_rc 0 "the cloned revision verifies, its signature with it (--strict: unsigned fails)"
cmp -s "$up/repos/demo/stories-GGUF/revisions/$gid.json" "$down/repos/demo/stories-GGUF/revisions/$gid.json" &&
	ok || bad "the manifest is byte-identical"
run env FERRY_HOME="$down" "$FERRY" --json clone "oci://$reg/demo/stories-gguf@$digest"
expect_rc 0 "clone by digest"
expect_out '"fetched": 0' "every object already there: nothing fetched"
run env FERRY_HOME="$down" "$FERRY" clone "oci://$reg/demo/stories-gguf:nope"
expect_rc 1 "an unknown tag"
expect_err "not found" "says so"
run env FERRY_HOME="$down" "$FERRY" clone "oci://$reg/demo/stories-gguf@sha256:$(printf %064d 0)"
expect_rc 1 "an unknown digest"

# a plain OCI artifact (no ferry manifest layer): refused, naming what is missing
printf '{}' >"$work/empty.json"
run skopeo copy --dest-tls-verify=false "oci:$work/layout:q4" "docker://$reg/plain/x:y"
node -e '
const fs = require("fs"), crypto = require("crypto");
const m = JSON.parse(fs.readFileSync(process.argv[1]));
m.layers = m.layers.filter(l => !l.mediaType.startsWith("application/vnd.ferry."));
fs.writeFileSync(process.argv[2], JSON.stringify(m));' "$work/manifest.json" "$work/plain.json"
curl -s -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary "@$work/plain.json" \
	"http://$reg/v2/plain/x/manifests/bare" -o /dev/null -w '%{http_code}' | grep -q 201 && ok || bad "put a bare manifest"
run env FERRY_HOME="$down" "$FERRY" clone "oci://$reg/plain/x:bare"
expect_rc 1 "an artifact without ferry's manifest layer"
expect_err "no ferry revision layer" "says what is missing"

# manifests that lie about the files: each refused before a byte of a file is fetched
# put_manifest NAME FILE: the edited manifest, tagged bad, in repository NAME of the registry
put_manifest() {
	curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" \
		--data-binary "@$2" "http://$reg/v2/$1/manifests/bad"
}
# put_blob NAME FILE: FILE as a blob of NAME (a monolithic upload)
put_blob() {
	_loc=$(curl -s -D - -o /dev/null -X POST "http://$reg/v2/$1/blobs/uploads/" | tr -d '\r' |
		sed -n 's/^[Ll]ocation: //p')
	case "$_loc" in http*) ;; *) _loc="http://$reg$_loc" ;; esac
	curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: application/octet-stream" \
		--data-binary "@$2" "$_loc&digest=sha256:$(sha256sum "$2" | cut -c1-64)"
}
edit() { # edit SCRIPT: $work/manifest.json through a node expression on m, into $work/edit.json
	node -e "const fs=require('fs');const m=JSON.parse(fs.readFileSync(process.argv[1]));$1;fs.writeFileSync(process.argv[2],JSON.stringify(m))" \
		"$work/manifest.json" "$work/edit.json"
}
edit 'const g=m.layers.find(l=>(l.annotations||{})["org.cncf.model.filepath"]==="stories-Q4_K_M.gguf");const c=m.config;g.digest=c.digest;g.size=c.size'
[ "$(put_manifest demo/stories-gguf "$work/edit.json")" = 201 ] && ok || bad "put a manifest whose GGUF layer is another blob"
run env FERRY_HOME="$down" "$FERRY" clone "oci://$reg/demo/stories-gguf:bad"
expect_rc 1 "a layer that is not the file ferry's manifest names"
expect_err "'stories-Q4_K_M.gguf' is not the file ferry's manifest names" "names the file"
edit 'm.layers=m.layers.filter(l=>(l.annotations||{})["org.cncf.model.filepath"]!=="stories-f32.gguf")'
put_manifest demo/stories-gguf "$work/edit.json" >/dev/null
run env FERRY_HOME="$down" "$FERRY" clone "oci://$reg/demo/stories-gguf:bad"
expect_rc 1 "a file without its layer"
expect_err "no layer for 'stories-f32.gguf'" "names it"
edit 'const r=m.layers.find(l=>l.mediaType==="application/vnd.ferry.revision.v1+json");m.layers.push(r)'
put_manifest demo/stories-gguf "$work/edit.json" >/dev/null
run env FERRY_HOME="$down" "$FERRY" clone "oci://$reg/demo/stories-gguf:bad"
expect_rc 1 "two ferry manifest layers"
expect_err "two ferry" "says so"
# a signature that does not verify: the signature layer replaced by a forged document
sl=$(node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(m.layers.find(l=>l.mediaType==="application/vnd.ferry.signatures.v1+json").digest.slice(7))' "$work/manifest.json")
curl -s "http://$reg/v2/demo/stories-gguf/blobs/sha256:$sl" |
	node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);const b=Buffer.from(j.signatures[0].sig,"base64");b[5]^=1;j.signatures[0].sig=b.toString("base64");process.stdout.write(JSON.stringify(j))})' >"$work/forged.json"
[ "$(put_blob demo/stories-gguf "$work/forged.json")" = 201 ] && ok || bad "upload the forged signatures"
fs=$(sha256sum "$work/forged.json" | cut -c1-64)
edit "const l=m.layers.find(l=>l.mediaType==='application/vnd.ferry.signatures.v1+json');l.digest='sha256:$fs';l.size=$(wc -c <"$work/forged.json")"
put_manifest demo/stories-gguf "$work/edit.json" >/dev/null
run env FERRY_HOME="$work/fresh4" "$FERRY" init -q
run env FERRY_HOME="$work/fresh4" "$FERRY" key trust "$up/keys/signing.pub"
run env FERRY_HOME="$work/fresh4" "$FERRY" clone "oci://$reg/demo/stories-gguf:bad"
expect_rc 1 "a forged signature refuses the clone"
expect_err "does not verify" "says so"
[ ! -d "$work/fresh4/repos/demo" ] && ok || bad "nothing committed after a forged signature"
run "$FERRY" push demo/stories-GGUF "oci://$reg/demo/x@$digest"
expect_rc 1 "push names a tag, not a digest"
expect_err "not a digest" "says so"

# a tampered blob in the registry's storage: refused, nothing committed
fresh="$work/fresh"
FERRY_HOME=$fresh "$FERRY" -q init
ggl=$(node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(m.layers.find(l=>(l.annotations||{})["org.cncf.model.filepath"]==="stories-Q4_K_M.gguf").digest.slice(7))' "$work/manifest.json")
blob="$work/reg/data/docker/registry/v2/blobs/sha256/$(echo "$ggl" | cut -c1-2)/$ggl/data"
[ -f "$blob" ] && ok || bad "the registry stores the GGUF blob at $blob"
cp "$blob" "$work/blob.orig"
printf 'X' | dd of="$blob" bs=1 seek=1000 conv=notrunc 2>/dev/null
run env FERRY_HOME="$fresh" "$FERRY" clone "oci://$reg/demo/stories-gguf:q4" --retries 0
expect_rc 1 "a tampered blob is refused"
expect_err "stories-Q4_K_M.gguf" "names the file"
[ ! -e "$fresh/repos/demo/stories-GGUF/refs/heads/main" ] && ok || bad "nothing committed after a tampered blob"
run env FERRY_HOME="$fresh" "$FERRY" fsck
expect_rc 0 "the store stays clean"
cp "$work/blob.orig" "$blob"
run env FERRY_HOME="$fresh" "$FERRY" clone "oci://$reg/demo/stories-gguf:q4"
expect_rc 0 "the mended blob clones"

# a tampered ferry manifest layer: its digest no longer matches
rl=$(node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(m.layers.find(l=>l.mediaType==="application/vnd.ferry.revision.v1+json").digest.slice(7))' "$work/manifest.json")
rblob="$work/reg/data/docker/registry/v2/blobs/sha256/$(echo "$rl" | cut -c1-2)/$rl/data"
cp "$rblob" "$work/rev.orig"
sed -i 's/"message"/"messagE"/' "$rblob"
run env FERRY_HOME="$work/fresh2" "$FERRY" init -q
run env FERRY_HOME="$work/fresh2" "$FERRY" clone "oci://$reg/demo/stories-gguf:q4"
expect_rc 1 "a tampered manifest layer is refused"
expect_err "does not match its digest" "says so"
cp "$work/rev.orig" "$rblob"

# --- an interrupted push resumes -----------------------------------------------------------------
big="$work/big"
mkdir -p "$big"
head -c 6000000 /dev/urandom >"$big/payload.raw"
printf '{"model_type":"llama"}' >"$big/config.json"
"$FERRY" -q --no-progress add demo/big "$big" -m big
run timeout -s TERM 2 "$FERRY" push demo/big "oci://$reg/demo/big:v1" --chunk-size 1 --limit-rate 1000000
expect_rc 124 "SIGTERM stops a push after the chunk in flight (timeout's status)"
expect_err "push again to resume" "says how to go on"
[ -n "$(ls "$up/tmp/" | grep oci-upload)" ] && ok || bad "a stopped push keeps its upload's location"
run "$FERRY" --json push demo/big "oci://$reg/demo/big:v1" --chunk-size 1
expect_rc 0 "the push runs again"
node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));process.exit(j.bytes_resumed>0&&j.bytes_resumed+j.bytes>=6000000?0:1)' "$work/out" &&
	ok || bad "it resumed where the registry stopped: $(cat "$work/out")"
[ -z "$(ls "$up/tmp/" | grep oci-upload)" ] && ok || bad "the upload record goes once the blob is in"
run env FERRY_HOME="$fresh" "$FERRY" clone "oci://$reg/demo/big:v1"
expect_rc 0 "the resumed push clones"
run env FERRY_HOME="$fresh" "$FERRY" verify demo/big
expect_rc 0 "and verifies"

# --- Basic authentication (htpasswd) -------------------------------------------------------------
htpasswd -Bbc "$work/htpasswd" mirror s3cret >/dev/null 2>&1
start_registry sec "auth:
  htpasswd:
    realm: ferry-test
    path: $work/htpasswd"
run "$FERRY" push demo/stories "oci://$reg/demo/stories:v1"
expect_rc 1 "no credentials for a protected registry"
expect_err "user name and password" "says what it needs"
run env FERRY_OCI_PASSWORD=wrong "$FERRY" push demo/stories "oci://$reg/demo/stories:v1" --user mirror
expect_rc 1 "a wrong password"
expect_err "access denied" "says so"
run env FERRY_OCI_PASSWORD=s3cret "$FERRY" push demo/stories "oci://$reg/demo/stories:v1" --user mirror
expect_rc 0 "push with the right credentials"
run skopeo inspect --tls-verify=false --creds mirror:s3cret --raw "docker://$reg/demo/stories:v1"
expect_rc 0 "skopeo reads it with the same credentials"
run env FERRY_HOME="$fresh" "$FERRY" clone "oci://$reg/demo/stories:v1"
expect_rc 1 "clone without credentials"
run env FERRY_HOME="$fresh" FERRY_OCI_USER=mirror FERRY_OCI_PASSWORD=s3cret "$FERRY" --json clone "oci://$reg/demo/stories:v1"
expect_rc 0 "clone with credentials from the environment"
expect_out "\"revision\": \"$sid\"" "the same revision id"

# --- Bearer tokens: a registry trusting a token service ------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ferry-test-tokens \
	-keyout "$work/tok.key" -out "$work/tok.crt" 2>/dev/null
start_node "$(dirname "$0")/../node/token_server.mjs" "$work/tok.key" "$work/tok.crt" ferry-issuer mirror:s3cret
tok_pid=$node_pid
start_registry tok "auth:
  token:
    realm: $node_url/token
    service: ferry-registry
    issuer: ferry-issuer
    rootcertbundle: $work/tok.crt"
run curl -s -D - -o /dev/null "http://$reg/v2/"
expect_out 'Bearer realm=' "the registry asks for a bearer token"
run "$FERRY" push demo/stories "oci://$reg/demo/stories:v1"
expect_rc 1 "no credentials for the token service"
expect_err "access denied" "says so"
run env FERRY_OCI_PASSWORD=s3cret "$FERRY" --json push demo/stories "oci://$reg/demo/stories:v1" --user mirror
expect_rc 0 "push with a token the token service gave for the credentials"
run env FERRY_HOME="$fresh" FERRY_OCI_USER=mirror FERRY_OCI_PASSWORD=s3cret "$FERRY" --json clone "oci://$reg/demo/stories:v1"
expect_rc 0 "clone with a token (pull scope), blobs fetched with it"
expect_out "\"revision\": \"$sid\"" "the same revision id"
run skopeo inspect --tls-verify=false --creds mirror:s3cret --raw "docker://$reg/demo/stories:v1"
expect_rc 0 "skopeo reads it through the same token service"
run env FERRY_OCI_PASSWORD=s3cret "$FERRY" --json push demo/stories "oci://$reg/other/stories:v1" --user mirror
expect_rc 0 "push to a second repository of the token registry"
[ "$(json_field "$work/out" 'd.mounted > 0 && d.bytes < 100000')" = true ] && ok ||
	bad "the weights are mounted from the first repository (a token for both scopes): $(cat "$work/out")"
kill "$tok_pid" 2>/dev/null

# --- blobs mounted from another repository, pull and sync from a registry ----------------------
reg=$reg1
run "$FERRY" --json push demo/stories-GGUF "oci://$reg/mirror/stories-gguf:q4"
expect_rc 0 "push to another repository of the same registry"
[ "$(json_field "$work/out" 'd.mounted >= 1 && d.present === 0 && d.sent + d.mounted === d.blobs && d.bytes < 100000')" = true ] && ok ||
	bad "every file the registry holds elsewhere is mounted, not sent: $(cat "$work/out")"
run skopeo copy --src-tls-verify=false "docker://$reg/mirror/stories-gguf:q4" "oci:$work/layout2:q4"
expect_rc 0 "skopeo copies the artifact whose blobs were mounted"
run env FERRY_HOME="$fresh" "$FERRY" --json clone "oci://$reg/mirror/stories-gguf:q4"
expect_rc 0 "clone what was mounted"
expect_out "\"revision\": \"$gid\"" "the same revision id"
run env FERRY_HOME="$down" "$FERRY" --json push demo/stories-GGUF "oci://$reg/down/again:v1"
expect_rc 0 "a store that cloned from this registry pushes to it"
[ "$(json_field "$work/out" 'd.mounted >= 1 && d.bytes < 100000')" = true ] && ok ||
	bad "its blobs are mounted from the repository it cloned from: $(cat "$work/out")"
grep -q '"how": "clone"' "$down/repos/demo/stories-GGUF/oci.json" && grep -q '"how": "push"' "$down/repos/demo/stories-GGUF/oci.json" &&
	ok || bad "the store records where the repository came from and went: $(cat "$down/repos/demo/stories-GGUF/oci.json")"

# a registry down when the push starts: its requests are sent again until it answers
late=$(free_port)
"$FERRY" --json push demo/stories "oci://127.0.0.1:$late/late/stories:v1" --retries 8 >"$work/late.out" 2>"$work/late.err" &
late_pid=$!
sleep 1.5
reg_port=$late
start_registry late
reg_port=
reg=$reg1
wait "$late_pid"
[ $? -eq 0 ] && ok || bad "a push to a registry that comes up late: $(cat "$work/late.err")"
[ "$(json_field "$work/late.out" 'd.retries > 0 && d.sent === d.blobs')" = true ] && ok ||
	bad "it retried, then sent everything: $(cat "$work/late.out")"
run "$FERRY" push demo/stories "oci://127.0.0.1:$(free_port)/gone/stories:v1" --retries 0
expect_rc 1 "no registry and no retries"
expect_err "GET http://127.0.0.1:" "names what failed"

# pull: a main cloned from a registry follows its tag there
pv="$work/pullme"
mkdir -p "$pv"
printf '{"model_type":"llama"}' >"$pv/config.json"
head -c 300000 /dev/urandom >"$pv/weights.raw"
"$FERRY" -q --no-progress add demo/pullme "$pv" -m v1
run "$FERRY" push demo/pullme "oci://$reg/pull/me:stable"
expect_rc 0 "push v1"
pulled="$work/pulled"
FERRY_HOME=$pulled "$FERRY" -q init
run env FERRY_HOME="$pulled" "$FERRY" --json clone "oci://$reg/pull/me:stable"
expect_rc 0 "clone the tag"
v1=$(json_field "$work/out" d.revision)
run env FERRY_HOME="$pulled" "$FERRY" pull demo/pullme
expect_rc 0 "pull with nothing new"
expect_out "up to date" "says so"
head -c 200000 /dev/urandom >"$pv/more.raw"
"$FERRY" -q --no-progress add demo/pullme "$pv" -m v2
v2=$("$FERRY" --json show demo/pullme | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
run "$FERRY" push demo/pullme "oci://$reg/pull/me:stable"
expect_rc 0 "push v2 to the same tag"
run env FERRY_HOME="$pulled" "$FERRY" pull demo/pullme
expect_rc 0 "pull from the registry it was cloned from"
expect_out "${v1%"${v1#????????????}"} -> ${v2%"${v2#????????????}"}" "main moves to the tag's new revision"
[ "$(cat "$pulled/repos/demo/pullme/refs/heads/main")" = "$v2" ] && ok || bad "main is v2"
run env FERRY_HOME="$pulled" "$FERRY" verify demo/pullme
expect_rc 0 "the pulled revision verifies"
run "$FERRY" push demo/stories "oci://$reg/pull/me:stable"
expect_rc 0 "another repository's revision under the tag"
run env FERRY_HOME="$pulled" "$FERRY" pull demo/pullme
expect_rc 1 "pull refuses an artifact of another repository"
expect_err "holds a revision of demo/stories, not of demo/pullme" "says so"
[ "$(cat "$pulled/repos/demo/pullme/refs/heads/main")" = "$v2" ] && ok || bad "main stays at v2"

# sync: a list naming artifacts, continuing past a failure
printf '# registry artifacts\noci://%s/mirror/stories-gguf:q4\noci://%s/nothing/here:x\noci://%s/pull/me:stable *.json\n' "$reg" "$reg" "$reg" >"$work/oci.list"
synced="$work/synced"
FERRY_HOME=$synced "$FERRY" -q init
FERRY_HOME=$synced "$FERRY" -q key trust "$up/keys/signing.pub"
run env FERRY_HOME="$synced" "$FERRY" --json sync --list "$work/oci.list"
expect_rc 1 "sync with one unknown artifact and one with globs fails as a whole"
node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1]));
process.exit(d.ok === 1 && d.failed === 2 && d.repos[0].repo === "demo/stories-GGUF" &&
	d.repos[0].revision === process.argv[2] && /not found/.test(d.repos[1].error) &&
	d.repos[1].source.endsWith("/nothing/here:x") && /no globs/.test(d.repos[2].error) ? 0 : 1);' "$work/out" "$gid" &&
	ok || bad "one artifact synced with its revision; an unknown one and one with globs reported: $(cat "$work/out")"
run env FERRY_HOME="$synced" "$FERRY" sync --list "$work/oci.list"
expect_rc 1 "the same sync without --json"
expect_err "no globs" "says why a line failed"
run env FERRY_HOME="$synced" "$FERRY" verify demo/stories-GGUF
expect_rc 0 "the synced revision verifies"

# --- serve as a read-only registry --------------------------------------------------------------
run "$FERRY" publish demo/stories-GGUF
expect_rc 0 "publish the GGUF revision"
# a GGUF whose chat template is ChatML (Qwen's): Ollama gets a template layer and stop strings
mkdir -p "$work/shk"
"$FERRY" -q convert "$DATA/models/qwen2-shakespeare" -o "$work/shk/shakespeare-Q8_0.gguf" --outtype q8_0
"$FERRY" -q --no-progress add demo/shakespeare-GGUF "$work/shk" -m import
"$FERRY" -q publish demo/shakespeare-GGUF
start_serve "$up"
code() { curl -s -o "$work/body" -w '%{http_code}' "$@"; }
[ "$(code "$serve_url/v2/")" = 200 ] && ok || bad "GET /v2/ answers 200"
curl -s -D - -o /dev/null "$serve_url/v2/" | grep -qi '^Docker-Distribution-API-Version: registry/2.0' && ok ||
	bad "/v2/ says the API version"
M="Accept: application/vnd.oci.image.manifest.v1+json"
[ "$(code -H "$M" "$serve_url/v2/demo/stories-gguf/manifests/latest")" = 200 ] && ok ||
	bad "the published revision's manifest, the name matched without case: $(cat "$work/body")"
cmp -s "$work/body" "$work/manifest.json" && ok || bad "serve's manifest is the one push wrote"
curl -s -D - -o /dev/null -H "$M" "$serve_url/v2/demo/stories-gguf/manifests/latest" |
	grep -qi "^Docker-Content-Digest: $digest" && ok || bad "Docker-Content-Digest names it"
[ "$(code -I -H "$M" "$serve_url/v2/demo/stories-gguf/manifests/$digest")" = 200 ] && ok ||
	bad "HEAD of the manifest by digest"
[ "$(code -H "$M" "$serve_url/v2/demo/stories/manifests/latest")" = 404 ] && ok ||
	bad "an unpublished repository is unknown"
grep -q NAME_UNKNOWN "$work/body" && ok || bad "in the registry's words: $(cat "$work/body")"
[ "$(code -H "$M" "$serve_url/v2/demo/stories-gguf/manifests/nope")" = 404 ] && ok || bad "an unknown tag"
grep -q MANIFEST_UNKNOWN "$work/body" && ok || bad "MANIFEST_UNKNOWN: $(cat "$work/body")"
[ "$(code "$serve_url/v2/demo/stories-gguf/tags/list")" = 200 ] && grep -q '"latest"' "$work/body" &&
	grep -q '"main"' "$work/body" && ok || bad "tags/list: $(cat "$work/body")"
[ "$(code -r 0-3 "$serve_url/v2/demo/stories-gguf/blobs/sha256:$ggl")" = 206 ] &&
	[ "$(cat "$work/body")" = GGUF ] && ok || bad "a blob in ranges"
[ "$(code "$serve_url/v2/demo/stories-gguf/blobs/$cfg")" = 200 ] && cmp -s "$work/body" "$work/config.json" &&
	ok || bad "the config blob"
[ "$(code "$serve_url/v2/demo/stories-gguf/blobs/sha256:$(printf %064d 0)")" = 404 ] && ok ||
	bad "an unknown blob"
some=$(node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1]));console.log(m.layers[0].digest)' "$work/manifest.json")
[ "$(code "$serve_url/v2/demo/stories/blobs/$some")" = 404 ] && ok || bad "no blob of an unpublished repository"
[ "$(code -H 'Accept: application/json' "$serve_url/v2/demo/stories-GGUF/manifests/Q4_K_M")" = 200 ] &&
	grep -q ggufFile "$work/body" && ok || bad "llama.cpp's JSON manifest still answers: $(head -c 300 "$work/body")"
# Ollama's pull: a Docker manifest with the GGUF as its model layer
D="Accept: application/vnd.docker.distribution.manifest.v2+json"
O="User-Agent: ollama/0.9.0 (amd64 linux) Go/go1.24"
[ "$(code -H "$D" -H "$O" "$serve_url/v2/demo/stories-gguf/manifests/Q4_K_M")" = 200 ] && ok ||
	bad "Ollama's manifest for a quantization tag: $(cat "$work/body")"
cp "$work/body" "$work/ollama.json"
node -e '
const m = JSON.parse(require("fs").readFileSync(process.argv[1]));
const model = m.layers.find(l => l.mediaType === "application/vnd.ollama.image.model");
process.exit(m.schemaVersion === 2 && m.mediaType === "application/vnd.docker.distribution.manifest.v2+json" &&
	m.config.mediaType === "application/vnd.docker.container.image.v1+json" &&
	model && model.digest === "sha256:" + process.argv[2] ? 0 : 1);' "$work/ollama.json" "$ggl" &&
	ok || bad "the GGUF is its model layer: $(cat "$work/ollama.json")"
ocfg=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).config.digest)' "$work/ollama.json")
[ "$(code -H "$O" "$serve_url/v2/demo/stories-gguf/blobs/$ocfg")" = 200 ] && ok || bad "Ollama's config blob"
node -e '
const c = JSON.parse(require("fs").readFileSync(process.argv[1]));
process.exit(c.model_format === "gguf" && c.model_family === "llama" && c.file_type === "Q4_K_M" &&
	c.rootfs.type === "layers" && c.os === "linux" ? 0 : 1);' "$work/body" && ok ||
	bad "its config names family and file type: $(cat "$work/body")"
[ "$(code -H "$D" -H "$O" "$serve_url/v2/demo/stories-gguf/manifests/latest")" = 200 ] && cmp -s "$work/body" "$work/ollama.json" &&
	ok || bad "latest is Q4_K_M for Ollama"
[ "$(code -H "$D" "$serve_url/v2/demo/stories-gguf/manifests/q4_k_m")" = 200 ] && cmp -s "$work/body" "$work/ollama.json" &&
	ok || bad "a quantization tag (not a ref) gives Ollama's manifest to any client, without case"
[ "$(code -H "$D" -H "$O" "$serve_url/v2/demo/stories-gguf/manifests/IQ2_XXS")" = 404 ] && ok || bad "no GGUF for a tag"
node -e 'process.exit(JSON.parse(require("fs").readFileSync(process.argv[1])).layers.some(l => /template|params/.test(l.mediaType)) ? 1 : 0)' "$work/ollama.json" &&
	ok || bad "a GGUF without a chat template has no template or params layer"
[ "$(code -H "$D" -H "$O" "$serve_url/v2/demo/shakespeare-gguf/manifests/latest")" = 200 ] && ok ||
	bad "Ollama's manifest of a GGUF with a chat template: $(cat "$work/body")"
cp "$work/body" "$work/ollama-shk.json"
node -e '
const m = JSON.parse(require("fs").readFileSync(process.argv[1]));
const t = m.layers.map(l => l.mediaType);
process.exit(t[0] === "application/vnd.ollama.image.model" && t[1] === "application/vnd.ollama.image.template" &&
	t[2] === "application/vnd.ollama.image.params" && t.length === 3 ? 0 : 1);' "$work/ollama-shk.json" &&
	ok || bad "model, template and params layers, in Ollama's order: $(cat "$work/ollama-shk.json")"
tdg=$(json_field "$work/ollama-shk.json" 'd.layers[1].digest')
pdg=$(json_field "$work/ollama-shk.json" 'd.layers[2].digest')
[ "$(code -H "$O" "$serve_url/v2/demo/shakespeare-gguf/blobs/$tdg")" = 200 ] && ok || bad "the template blob"
printf '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n' >"$work/chatml.want"
cmp -s "$work/body" "$work/chatml.want" && ok || bad "the template is ChatML's as Ollama renders it: $(cat "$work/body")"
[ "sha256:$(sha256sum "$work/body" | cut -c1-64)" = "$tdg" ] && ok || bad "the template blob has its digest"
[ "$(code -H "$O" "$serve_url/v2/demo/shakespeare-gguf/blobs/$pdg")" = 200 ] && ok || bad "the params blob"
[ "$(json_field "$work/body" 'JSON.stringify(d)')" = '{"stop":["<|im_start|>","<|im_end|>"]}' ] && ok ||
	bad "params: ChatML's stop strings: $(cat "$work/body")"
FERRY_HOME=$work/site-shk "$FERRY" -q init
FERRY_HOME=$work/site-shk "$FERRY" -q key trust "$up/keys/signing.pub"
run env FERRY_HOME="$work/site-shk" "$FERRY" install demo/shakespeare-GGUF --from "$serve_url" --ollama --dir "$work/om-shk"
expect_rc 0 "install --ollama of the ChatML GGUF"
cmp -s "$work/om-shk/manifests/registry.ollama.ai/demo/shakespeare-gguf/latest" "$work/ollama-shk.json" &&
	cmp -s "$work/om-shk/blobs/sha256-${tdg#sha256:}" "$work/chatml.want" &&
	[ -f "$work/om-shk/blobs/sha256-${pdg#sha256:}" ] && ok ||
	bad "the installed manifest names the template and params blobs laid beside it: $(ls "$work/om-shk/blobs")"
# install --ollama: the same manifest and blobs, laid into Ollama's model store
site="$work/site"
FERRY_HOME=$site "$FERRY" -q init
FERRY_HOME=$site "$FERRY" -q key trust "$up/keys/signing.pub"
om="$work/ollama-models"
run env FERRY_HOME="$site" "$FERRY" install demo/stories-GGUF:Q4_K_M --from "$serve_url" --ollama --dir "$om"
expect_rc 0 "install --ollama"
mf="$om/manifests/registry.ollama.ai/demo/stories-gguf/Q4_K_M"
cmp -s "$mf" "$work/ollama.json" && ok || bad "the manifest Ollama would pull, at its path: $(ls -R "$om" | head -20)"
cmp -s "$om/blobs/sha256-$ggl" "$up/objects/sha256/$(echo "$ggl" | cut -c1-2)/$(echo "$ggl" | cut -c3-)" &&
	ok || bad "the GGUF as its blob"
[ -f "$om/blobs/sha256-${ocfg#sha256:}" ] && ok || bad "the config blob"
[ "$(ls "$om/blobs" | wc -l)" -eq 2 ] && ok || bad "model and config only (no licence or params here): $(ls "$om/blobs")"
run env FERRY_HOME="$site" OLLAMA_MODELS="$om" "$FERRY" install demo/stories-GGUF --from "$serve_url" --ollama
expect_rc 0 "install --ollama without a tag, into \$OLLAMA_MODELS"
cmp -s "$om/manifests/registry.ollama.ai/demo/stories-gguf/latest" "$mf" && ok || bad "latest: the Q4_K_M manifest"
run env FERRY_HOME="$site" "$FERRY" install demo/stories-GGUF:IQ2_XXS --from "$serve_url" --ollama --dir "$om"
expect_rc 1 "no GGUF for the tag"
run env FERRY_HOME="$site" "$FERRY" install demo/stories-GGUF:Q4_K_M --from "$serve_url" --ollama --cache-dir x
expect_rc 2 "--ollama and --cache-dir exclude each other"
run env FERRY_HOME="$site" "$FERRY" installed
expect_out "ollama" "installed lists the Ollama installs"
run env FERRY_HOME="$site" "$FERRY" uninstall demo/stories-GGUF:Q4_K_M
expect_rc 0 "uninstall one of them"
[ ! -e "$mf" ] && [ -f "$om/blobs/sha256-$ggl" ] && ok || bad "its manifest goes, the blobs latest still names stay"
run env FERRY_HOME="$site" "$FERRY" uninstall demo/stories-GGUF:latest
expect_rc 0 "uninstall the other"
[ ! -e "$om/blobs/sha256-$ggl" ] && [ ! -d "$om/manifests/registry.ollama.ai/demo" ] && ok ||
	bad "then the blobs go, and the empty folders: $(ls -R "$om")"
hostport=${serve_url#http://}
# (skopeo copy refuses Ollama's layer types in a Docker manifest, as for registry.ollama.ai)
run skopeo inspect --tls-verify=false --raw "docker://$hostport/demo/stories-gguf:Q4_K_M"
expect_rc 0 "skopeo reads Ollama's manifest"
cmp -s "$work/out" "$work/ollama.json" && ok || bad "the same bytes"
run skopeo copy --src-tls-verify=false "docker://$hostport/demo/stories-gguf:latest" "oci:$work/layout2:s"
expect_rc 0 "skopeo copies from serve"
[ -f "$work/layout2/blobs/sha256/${digest#sha256:}" ] && ok || bad "the same manifest in its layout"
run env FERRY_HOME="$work/fresh3" "$FERRY" init -q
run env FERRY_HOME="$work/fresh3" "$FERRY" --json clone "oci://$hostport/demo/stories-gguf"
expect_rc 0 "ferry clones from serve as from a registry"
expect_out "\"revision\": \"$gid\"" "the same revision id"
kill "$serve_pid" 2>/dev/null

# --- serve --objects-from: metadata from serve, large files' bytes from elsewhere -----------------
FERRY_HOME=$up "$FERRY" -q checkout demo/stories-GGUF "$work/gguf-files"
run "$FERRY" serve --objects-from "ftp://x/y"
expect_rc 1 "--objects-from needs oci:// or HTTP(S)"
expect_err "neither oci://" "says so"
run "$FERRY" serve --objects-from "oci://h!/p/"
expect_rc 1 "a registry host that is not one"
start_serve "$up" --objects-from "oci://$reg1"
hdrs=$(curl -s -I "$serve_url/demo/stories-GGUF/resolve/main/stories-Q4_K_M.gguf")
echo "$hdrs" | grep -q '^HTTP/1.1 302' && ok || bad "an LFS file redirects: $hdrs"
echo "$hdrs" | grep -qi "^Location: http://$reg1/v2/demo/stories-gguf/blobs/sha256:$ggl" && ok ||
	bad "to the registry's blob: $hdrs"
echo "$hdrs" | grep -qi "^X-Linked-Etag: \"$ggl\"" && echo "$hdrs" | grep -qi '^X-Linked-Size: ' &&
	echo "$hdrs" | grep -qi "^X-Repo-Commit: $gid" && ok || bad "with the headers huggingface_hub reads: $hdrs"
run node "$(dirname "$0")/../node/objects.mjs" "$serve_url" demo/stories-GGUF "$work/gguf-files"
expect_rc 0 "@huggingface/hub downloads through the redirect to the registry: $(grep FAIL "$work/out")"
kill "$serve_pid" 2>/dev/null
# an HTTP object store: nginx serving a copy of the store's objects/
ngx="$work/ngx"
mkdir -p "$ngx/logs"
nport=$(free_port)
# as root, nginx's workers would run as nobody, who cannot read the test's private folder
[ "$(id -u)" -eq 0 ] && nuser="user root;" || nuser=""
cat >"$ngx/nginx.conf" <<NGX
$nuser
worker_processes 1;
error_log $ngx/logs/error.log;
pid $ngx/nginx.pid;
events { worker_connections 64; }
http {
	access_log $ngx/logs/access.log;
	client_body_temp_path $ngx/logs; proxy_temp_path $ngx/logs; fastcgi_temp_path $ngx/logs;
	uwsgi_temp_path $ngx/logs; scgi_temp_path $ngx/logs;
	server {
		listen 127.0.0.1:$nport;
		location /objects/ { alias $up/objects/; }
	}
}
NGX
nginx -c "$ngx/nginx.conf" -p "$ngx" 2>"$ngx/start.err"
start_serve "$up" --all --objects-from "http://127.0.0.1:$nport/objects/"
curl -s -I "$serve_url/demo/stories-GGUF/resolve/main/stories-Q4_K_M.gguf" |
	grep -qi "^Location: http://127.0.0.1:$nport/objects/sha256/$(echo "$ggl" | cut -c1-2)/$(echo "$ggl" | cut -c3-)" &&
	ok || bad "to the object store's layout"
curl -s -I "$serve_url/demo/stories/resolve/main/config.json" | grep -q '^HTTP/1.1 200' && ok ||
	bad "a small (non-LFS) file is served as it is"
run node "$(dirname "$0")/../node/objects.mjs" "$serve_url" demo/stories "$DATA/models/llama-stories260K"
expect_rc 0 "@huggingface/hub downloads through the redirect to nginx: $(grep FAIL "$work/out")"
grep -q "/objects/sha256/" "$ngx/logs/access.log" && ok || bad "the bytes came from nginx"
kill "$(cat "$ngx/nginx.pid")" 2>/dev/null
kill "$serve_pid" 2>/dev/null

echo "oci: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
