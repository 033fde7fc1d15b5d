#!/bin/sh
# Integration tests of `ferry serve` on an ephemeral loopback port: every endpoint, header,
# range and error case with curl; revision forms; tokens, private and gated repos; path
# traversal; index refresh; SIGHUP and SIGTERM; nginx in front (docs/deploy/nginx.conf); the
# npm @huggingface/hub client, 500 concurrent random ranges and slow clients (tests/node/hub.mjs).
# Ends with "N passed, N failed".
set -u

FERRY=${FERRY:?set FERRY}
DATA=${FERRY_TEST_DATA:-tests/data}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-serve-XXXXXX)
. "$here/lib.sh"
export FERRY_HOME="$work/store"
export SOURCE_DATE_EPOCH=1700000000
pid=
ngx=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$ngx" ] && kill "$ngx" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

TOKEN_A=hf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
TOKEN_B=hf_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
"$FERRY" -q init
"$FERRY" -q add tiny/stories "$DATA/models/llama-stories260K" -m import
"$FERRY" -q tag tiny/stories v1
"$FERRY" -q add gguf/stories "$DATA/models/stories260K" -m import
"$FERRY" -q add org/secret "$DATA/models/qwen3-tiny" -m import
"$FERRY" -q add org/gated "$DATA/models/qwen3-tiny" -m import
"$FERRY" -q add datasets/org/tok "$DATA/models/qwen2-tokenizer" -m import
cat >"$work/tokens" <<EOF
# name token globs
private org/secret
gated org/gated
token alice $TOKEN_A org/*
token bob $TOKEN_B tiny/*
EOF

start() {
	rm -f "$work/port"
	"$FERRY" serve --all --listen 127.0.0.1:0 --port-file "$work/port" --tokens "$work/tokens" \
		--access-log "$work/access.log" --refresh-ms 100 --timeout 5 "$@" 2>>"$work/serve.err" &
	pid=$!
	i=0
	while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	port=$(cat "$work/port")
	url="http://127.0.0.1:$port"
}
start
commit=$(sed -n 's/.*"sha":"\([0-9a-f]*\)".*/\1/p' <<EOF
$(curl -s "$url/api/models/tiny/stories")
EOF
)
[ ${#commit} -eq 40 ] && ok || bad "E1 sha: '$commit'"
# starting says where it serves, and nothing from libmicrohttpd's own logger
if grep -q "serving " "$work/serve.err" && ! grep -q "MHD_" "$work/serve.err"; then ok; else
	bad "serve's start-up messages: $(head -c 300 "$work/serve.err")"
fi

hdr() { # hdr CURL-ARGS...: headers of a request into $work/h, body into $work/b
	curl -s -D "$work/h" -o "$work/b" "$@"
}
has() { # has TEXT DESCRIPTION (in the headers, case-insensitive)
	if grep -qi -- "$1" "$work/h"; then ok; else bad "$2: no '$1' in $(tr -d '\r' <"$work/h" | head -c 500)"; fi
}
body_has() {
	if grep -qF -- "$1" "$work/b"; then ok; else bad "$2: body lacks '$1': $(head -c 300 "$work/b")"; fi
}
status() { # status WANT DESCRIPTION
	s=$(head -1 "$work/h" | cut -d' ' -f2)
	if [ "$s" = "$1" ]; then ok; else bad "$2: status $s, wanted $1"; fi
}

# --- E1 info ---------------------------------------------------------------------------------
hdr "$url/api/models/tiny/stories/revision/main?blobs=true&expand=unknownThing&expand=sha"
status 200 "E1 with blobs and an unknown expand"
body_has '"blobId":"bf23def028b7a013846aa3aaa52ff7b5b73c3ba7"' "E1 blobs: git blob id of config.json"
body_has '"lfs":{"sha256":"' "E1 blobs: lfs object"
body_has '"pointerSize":13' "E1 blobs: pointerSize"
hdr "$url/api/models/tiny/stories/revision/v1"
body_has "\"sha\":\"$commit\"" "E1 by tag"
hdr "$url/api/models/tiny/stories/revision/HEAD"
body_has "\"sha\":\"$commit\"" "E1 by HEAD"
hdr "$url/api/models/tiny/stories/revision/$commit"
status 200 "E1 by commit"
hdr "$url/api/models/tiny/stories/revision/nope"
status 404 "unknown revision"
has "X-Error-Code: RevisionNotFound" "unknown revision code"
hdr "$url/api/models/no/such"
status 404 "unknown repo"
has "X-Error-Code: RepoNotFound" "unknown repo code"
hdr "$url/api/datasets/org/tok"
status 200 "dataset info"
body_has '"id":"org/tok"' "dataset id"

# --- E2 tree, E3 paths-info, E4 refs -----------------------------------------------------------
hdr "$url/api/models/tiny/stories/tree/main?recursive=true&expand=false"
body_has '"type":"directory","oid":"' "tree: directories"
body_has '"path":"golden/nll.bin","lfs":{"oid":"' "tree: LFS entries"
hdr "$url/api/models/tiny/stories/tree/main/golden"
body_has '"path":"golden/eval.txt"' "tree of a folder"
hdr "$url/api/models/tiny/stories/tree/main"
if grep -q 'golden/eval.txt' "$work/b"; then bad "non-recursive tree lists nested files"; else ok; fi
hdr "$url/api/models/tiny/stories/tree/main/nope"
status 404 "tree of a missing folder"
hdr -X POST -H 'Content-Type: application/json' -d '{"paths":["config.json","golden","x"],"expand":true}' \
	"$url/api/models/tiny/stories/paths-info/main"
body_has '"path":"config.json"' "paths-info JSON body"
body_has '"type":"directory","oid":"378adc1c4d0d98c8b1f85530a7dcbdc9b9776ce5"' "paths-info folder oid = git tree id"
hdr -X POST -d 'paths=config.json&paths=tokenizer.model&expand=false' \
	"$url/api/models/tiny/stories/paths-info/main"
body_has '"path":"tokenizer.model"' "paths-info form body"
hdr "$url/api/models/tiny/stories/refs"
body_has "{\"name\":\"main\",\"ref\":\"refs/heads/main\",\"targetCommit\":\"$commit\"}" "refs: branches"
body_has '"tags":[{"name":"v1"' "refs: tags"
body_has '"converts":[]' "refs: converts"

# --- E5 resolve --------------------------------------------------------------------------------
f="$DATA/models/llama-stories260K/model.safetensors"
sha=$(sha256sum "$f" | cut -d' ' -f1)
size=$(stat -c %s "$f")
hdr -I "$url/tiny/stories/resolve/main/model.safetensors"
status 200 "HEAD resolve"
has "ETag: \"$sha\"" "LFS ETag is the sha256"
has "X-Linked-Etag: \"$sha\"" "X-Linked-Etag"
has "X-Linked-Size: $size" "X-Linked-Size"
has "X-Repo-Commit: $commit" "X-Repo-Commit"
has "Content-Length: $size" "HEAD Content-Length"
has "Accept-Ranges: bytes" "Accept-Ranges"
hdr "$url/tiny/stories/resolve/main/model.safetensors"
if cmp -s "$work/b" "$f"; then ok; else bad "GET body differs"; fi
hdr -H "Accept-Encoding: identity" "$url/tiny/stories/resolve/main/config.json"
has 'ETag: "bf23def028b7a013846aa3aaa52ff7b5b73c3ba7"' "regular file ETag is the git blob id"
if grep -qi "Content-Encoding" "$work/h"; then bad "Content-Encoding sent"; else ok; fi
if grep -qi "xet" "$work/h"; then bad "X-Xet header sent"; else ok; fi
hdr -H "Range: bytes=0-0" "$url/tiny/stories/resolve/main/model.safetensors"
status 206 "Range 0-0"
has "Content-Range: bytes 0-0/$size" "Content-Range 0-0"
hdr -H "Range: bytes=100-" "$url/tiny/stories/resolve/main/model.safetensors"
if tail -c +101 "$f" | cmp -s - "$work/b"; then ok; else bad "bytes=100- body"; fi
hdr -H "Range: bytes=-10" "$url/tiny/stories/resolve/main/model.safetensors"
has "Content-Range: bytes $((size - 10))-$((size - 1))/$size" "suffix range"
if tail -c 10 "$f" | cmp -s - "$work/b"; then ok; else bad "bytes=-10 body"; fi
hdr -H "Range: bytes=10-19" "$url/tiny/stories/resolve/main/model.safetensors"
if [ "$(wc -c <"$work/b")" -eq 10 ]; then ok; else bad "bytes=10-19 length"; fi
hdr -H "Range: bytes=$size-" "$url/tiny/stories/resolve/main/model.safetensors"
status 416 "unsatisfiable range"
has "Content-Range: bytes \*/$size" "416 Content-Range"
hdr -I -H "Range: bytes=0-0" "$url/tiny/stories/resolve/main/model.safetensors"
status 206 "HEAD with a range"
hdr "$url/tiny/stories/resolve/main/nope.txt"
status 404 "missing file"
has "X-Error-Code: EntryNotFound" "missing file code"
has "X-Repo-Commit: $commit" "missing file still names the commit"
for rev in v1 HEAD "$commit" "refs%2Fheads%2Fmain"; do
	hdr -I "$url/tiny/stories/resolve/$rev/config.json"
	status 200 "resolve at $rev"
done
hdr "$url/tiny/stories/raw/main/model.safetensors"
body_has "oid sha256:$sha" "raw of an LFS file is its pointer"
hdr "$url/datasets/org/tok/resolve/main/vocab.json"
if cmp -s "$work/b" "$DATA/models/qwen2-tokenizer/vocab.json"; then ok; else bad "dataset resolve body"; fi

# --- pull-request refs, raw and encoded ------------------------------------------------------
mkdir -p "$FERRY_HOME/repos/tiny/stories/refs/pr"
printf '%s\n' "$commit" >"$FERRY_HOME/repos/tiny/stories/refs/pr/1"
sleep 0.5
hdr -I "$url/tiny/stories/resolve/refs%2Fpr%2F1/config.json"
status 200 "resolve at refs/pr/1 (encoded)"
hdr -I "$url/tiny/stories/resolve/refs/pr/1/config.json"
status 200 "resolve at refs/pr/1 (raw)"
hdr "$url/api/models/tiny/stories/tree/refs/pr/1/golden"
body_has '"path":"golden/eval.txt"' "tree at refs/pr/1 (raw) with a path"

# --- E6, whoami ----------------------------------------------------------------------------------
hdr "$url/v2/gguf/stories/manifests/latest"
body_has '"ggufFile":{"rfilename":"stories260K.gguf"' "llama.cpp manifest"
hdr "$url/api/whoami-v2"
status 401 "whoami without a token"
hdr -H "Authorization: Bearer $TOKEN_A" "$url/api/whoami-v2"
body_has '"name":"alice"' "whoami with a token"

# --- private and gated -------------------------------------------------------------------------
hdr "$url/api/models/org/secret"
status 404 "private repo, anonymous"
has "X-Error-Code: RepoNotFound" "private repo looks missing"
hdr -H "Authorization: Bearer $TOKEN_B" "$url/org/secret/resolve/main/config.json"
status 404 "private repo, token without access"
hdr -H "Authorization: Bearer $TOKEN_A" "$url/org/secret/resolve/main/config.json"
status 200 "private repo, token with access"
hdr "$url/api/models/org/gated"
status 404 "gated repo, anonymous"
hdr -H "Authorization: Bearer $TOKEN_B" "$url/api/models/org/gated"
status 403 "gated repo, token without access"
has "X-Error-Code: GatedRepo" "gated code"
hdr -H "Authorization: Bearer $TOKEN_A" "$url/api/models/org/gated"
status 200 "gated repo, token with access"

# --- hostile paths -------------------------------------------------------------------------------
for p in "/tiny/stories/resolve/main/..%2F..%2Fconfig.json" "/tiny/stories/resolve/main/%2e%2e/x" \
	"/tiny/stories/resolve/main/golden/../config.json" "/tiny/stories/resolve/main/a%00b" \
	"/tiny/stories/resolve/main/a%5Cb" "/tiny/stories/resolve/..%2F..%2F..%2Fetc/passwd" \
	"/..%2F..%2Fetc/passwd/resolve/main/x" "/tiny/stories/resolve/main//etc/passwd"; do
	hdr --path-as-is "$url$p"
	s=$(head -1 "$work/h" | cut -d' ' -f2)
	case "$s" in 400 | 404) ok ;; *) bad "hostile path $p: status $s" ;; esac
	if grep -q "root:" "$work/b"; then bad "hostile path $p leaked a file"; fi
done
hdr -X PUT "$url/tiny/stories/resolve/main/config.json"
status 405 "read-only: PUT refused"
hdr -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)" "$url/api/models/tiny/stories"
s=$(head -1 "$work/h" | cut -d' ' -f2)
case "$s" in 413 | 414 | 431 | 400) ok ;; *) bad "oversized header: status '$s'" ;; esac

# --- a revision added while serving becomes visible --------------------------------------------
"$FERRY" -q add late/model "$DATA/models/qwen3-tiny" -m late
sleep 0.6
hdr "$url/api/models/late/model"
status 200 "a revision added while serving (refresh)"

# --- SIGHUP reloads the tokens --------------------------------------------------------------------
echo "token carol hf_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC org/secret" >>"$work/tokens"
kill -HUP "$pid"
sleep 0.3
hdr -H "Authorization: Bearer hf_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC" "$url/api/models/org/secret"
status 200 "token added by SIGHUP"

# --- GET /api/models: the listing (HfApi.list_models, listModels) -----------------------------
ids() { node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1])).map(m => m.id).join(" "))' "$work/b"; }
hdr "$url/api/models"
status 200 "listing"
[ "$(ids)" = "gguf/stories late/model tiny/stories" ] && ok || bad "listing, anonymous: $(ids)"
body_has '"sha":"'"$commit"'"' "a listed repo's main revision"
if grep -q '"siblings"' "$work/b"; then bad "the listing names files without full or expand=siblings"; else ok; fi
hdr -H "Authorization: Bearer $TOKEN_A" "$url/api/models?full=true"
[ "$(ids)" = "gguf/stories late/model org/gated org/secret tiny/stories" ] && ok || bad "listing with a token: $(ids)"
body_has '"rfilename":"config.json"' "full=true lists the files"
hdr "$url/api/models?author=TINY"
[ "$(ids)" = "tiny/stories" ] && ok || bad "listing by author, without case: $(ids)"
hdr "$url/api/models?search=STORIES&sort=id&direction=-1"
[ "$(ids)" = "tiny/stories gguf/stories" ] && ok || bad "search, sorted by id descending: $(ids)"
hdr "$url/api/models?filter=text-generation"
[ "$(ids)" = "" ] && ok || bad "a tag filter matches nothing (no tags here): $(ids)"
hdr "$url/api/models?limit=1&search=stories"
[ "$(ids)" = "gguf/stories" ] && ok || bad "first page of one: $(ids)"
next=$(tr -d '\r' <"$work/h" | sed -n 's/^[Ll]ink: <\(.*\)>; rel="next"$/\1/p')
[ "$next" = "$url/api/models?limit=1&search=stories&cursor=1" ] && ok || bad "the next page's link: '$next'"
hdr "$next"
[ "$(ids)" = "tiny/stories" ] && ok || bad "second page: $(ids)"
if grep -qi '^link:' "$work/h"; then bad "the last page links further"; else ok; fi
hdr "$url/api/models?limit=0"
status 400 "limit 0"
hdr "$url/api/models?direction=up"
status 400 "a direction that is not 1 or -1"

# --- clients, concurrency, slow clients (node) ----------------------------------------------------
if node "$here/../node/hub.mjs" "$url" "$DATA/models/llama-stories260K" "$TOKEN_A" >"$work/node.out" 2>&1; then
	pass=$((pass + $(grep -c '^ok ' "$work/node.out")))
else
	fail=$((fail + 1))
	echo "FAIL: node hub client tests:" >&2
	cat "$work/node.out" >&2
fi

# --- nginx in front (docs/deploy/nginx.conf) ----------------------------------------------------------
if command -v nginx >/dev/null; then
	start_nginx "$port"
	ngx=$nginx_pid
	hdr -H "Range: bytes=0-0" "$nginx_url/tiny/stories/resolve/main/model.safetensors"
	status 206 "through nginx: range"
	has "X-Repo-Commit: $commit" "through nginx: X-Repo-Commit"
	has "ETag: \"$sha\"" "through nginx: ETag"
	hdr "$nginx_url/tiny/stories/resolve/main/model.safetensors"
	if cmp -s "$work/b" "$f"; then ok; else bad "through nginx: body"; fi
	kill "$ngx"
	ngx=
fi

# --- the access log, and SIGTERM ---------------------------------------------------------------------
if grep -q '"GET /tiny/stories/resolve/main/model.safetensors HTTP/1.1" 206 1 ' "$work/access.log"; then
	ok
else
	bad "access log line: $(tail -2 "$work/access.log")"
fi
curl -s --limit-rate 200k -o "$work/slow" "$url/tiny/stories/resolve/main/model.safetensors" &
cpid=$!
sleep 0.3
kill -TERM "$pid"
wait "$cpid"
if cmp -s "$work/slow" "$f"; then ok; else bad "SIGTERM cut a download in flight"; fi
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] && ok || bad "serve exit status after SIGTERM: $rc"

echo "serve: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
