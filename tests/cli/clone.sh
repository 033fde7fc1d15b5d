#!/bin/sh
# Integration tests of `ferry clone` against a real `ferry serve` upstream (a second store):
# same commit ids, byte-identical files, selection globs, datasets, reuse of objects already in
# the store (counted in the upstream's access log), tokens, a corrupted upstream object (refused,
# nothing enters the store), a hostile listing (refused before any file system call), HTTPS and
# HTTP/2 through nginx.
# Ends with "N passed, N failed".
set -u

FERRY=${FERRY:?set FERRY}
DATA=${FERRY_TEST_DATA:-tests/data}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-clone-XXXXXX)
. "$here/lib.sh"
pid=
fake=
nginx_pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
	[ -n "$fake" ] && kill "$fake" 2>/dev/null
	chmod -R u+w "$work" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
TOKEN=hf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA

up="$work/up"
FERRY_HOME=$up "$FERRY" -q init
FERRY_HOME=$up "$FERRY" -q add tiny/stories "$DATA/models/llama-stories260K" -m import
FERRY_HOME=$up "$FERRY" -q add org/secret "$DATA/models/qwen3-tiny" -m import
FERRY_HOME=$up "$FERRY" -q add datasets/org/tok "$DATA/models/qwen2-tokenizer" -m import
printf 'private org/secret\ntoken t %s org/*\n' "$TOKEN" >"$work/tokens"
start_serve "$up" --all --tokens "$work/tokens" --access-log "$work/access.log"
pid=$serve_pid
export HF_ENDPOINT="$serve_url"
export FERRY_HOME="$work/down"
"$FERRY" -q init
upcommit=$(FERRY_HOME=$up "$FERRY" --json show tiny/stories | sed -n 's/^  "id": "\([0-9a-f]*\)",/\1/p')

run "$FERRY" clone tiny/stories
expect_rc 0 "clone"
expect_out "tiny/stories@$upcommit: 20 files (20 fetched" "clone keeps the upstream commit id"
run "$FERRY" verify tiny/stories
expect_rc 0 "cloned revision verifies"
"$FERRY" -q checkout tiny/stories "$work/co"
if diff -r "$work/co" "$DATA/models/llama-stories260K" >/dev/null; then ok; else bad "cloned files differ"; fi
run "$FERRY" show --json tiny/stories
expect_out '"kind": "hub"' "origin records the hub"
expect_out "\"endpoint\": \"$HF_ENDPOINT\"" "origin records the endpoint"

# objects already in the store are not fetched again
before=$(grep -c 'resolve/.*model.safetensors' "$work/access.log")
run "$FERRY" clone tiny/stories@main
expect_out "(0 fetched, 0 B; 20 already in the store)" "a second clone fetches nothing"
after=$(grep -c 'resolve/.*model.safetensors' "$work/access.log")
[ "$before" = "$after" ] && ok || bad "model.safetensors fetched again ($before -> $after)"

run "$FERRY" clone org/tok --type dataset --include '*.json' --exclude 'added_*'
expect_out "3 files" "selection globs on a dataset"
run "$FERRY" ls datasets/org/tok
if grep -q merges.txt "$work/out" || grep -q added_tokens "$work/out"; then bad "excluded files cloned"; else ok; fi

run "$FERRY" clone org/secret
expect_rc 1 "private repo without a token"
expect_err "not found" "private repo looks missing"
run "$FERRY" clone org/secret --token "$TOKEN"
expect_rc 0 "private repo with a token"
run "$FERRY" clone no/such
expect_rc 1 "missing repo"
run "$FERRY" clone tiny/stories@nope
expect_err "RevisionNotFound" "missing revision"

# a corrupted upstream object: refused after one retry, nothing enters the store
FERRY_HOME=$up "$FERRY" -q add org/bad "$DATA/models/qwen3-tiny" -m import
obj=$(ls "$up"/objects/sha256/*/* | while read -r f; do
	[ "$(stat -c %s "$f")" -gt 100000 ] && echo "$f" && break
done)
chmod u+w "$obj"
printf 'X' | dd of="$obj" bs=1 seek=99 conv=notrunc 2>/dev/null
FERRY_HOME="$work/down2" "$FERRY" -q init
sleep 1.2
run env FERRY_HOME="$work/down2" "$FERRY" clone org/bad
expect_rc 1 "corrupted upstream object refused"
expect_err "content does not match its sha256" "the bad file is named"
if ls "$work/down2/repos/org" 2>/dev/null | grep -q bad; then bad "a revision was committed"; else ok; fi
run env FERRY_HOME="$work/down2" "$FERRY" fsck
expect_rc 0 "store clean after a refused clone"

# a hostile listing: traversal names are refused before any file system call
cat >"$work/fake.js" <<'EOF'
const http = require("http");
const s = http.createServer((req, res) => {
	res.setHeader("Content-Type", "application/json");
	if (req.url.includes("/tree/"))
		return res.end(JSON.stringify([{ type: "file", oid: "0".repeat(40), size: 3, path: "../../etc/evil" }]));
	res.end(JSON.stringify({ id: "x/y", sha: "1".repeat(40), siblings: [] }));
});
s.listen(0, "127.0.0.1", () => console.log(s.address().port));
EOF
start_node "$work/fake.js"
fake=$node_pid
run "$FERRY" clone x/y --endpoint "$node_url"
expect_rc 1 "hostile listing refused"
expect_err "refusing a file name" "hostile name reported"
[ ! -e "$work/etc/evil" ] && ok || bad "hostile path written"

# pull: only what changed upstream; sync: many repos, past failures
cp -r "$DATA/models/llama-stories260K" "$work/v2"
chmod -R u+w "$work/v2"
echo "changed" >>"$work/v2/README.md"
FERRY_HOME=$up "$FERRY" -q add tiny/stories "$work/v2" -m v2
sleep 1.5
"$FERRY" -q add local/model "$DATA/models/qwen3-tiny"
run "$FERRY" pull local/model
expect_rc 1 "pull of a repository that was not cloned"
expect_err "was not cloned from a hub" "pull explains"
run "$FERRY" pull tiny/stories -j 0
expect_rc 2 "pull checks the transfer options as clone does"
run env CURL_CA_BUNDLE="$work/no-such.pem" "$FERRY" pull tiny/stories
expect_err "CA bundle '$work/no-such.pem' (from \$CURL_CA_BUNDLE) cannot be read" "pull checks the CA bundle"
run "$FERRY" pull tiny/stories
expect_rc 0 "pull"
expect_out "(1 files fetched, 19 unchanged)" "pull fetches only the changed file"
run "$FERRY" pull tiny/stories
expect_out "up to date" "pull again: up to date"
run "$FERRY" verify tiny/stories
expect_rc 0 "pulled revision verifies"
printf '# mirror list\ntiny/stories\ndatasets/org/tok *.json !added_*\nno/such\n' >"$work/list"
run "$FERRY" sync --list "$work/list"
expect_rc 1 "sync with a failing entry exits 1"
expect_err "sync: 2 repositories synced, 1 failed" "sync summary"
expect_out "ok      tiny/stories@" "sync continues past failures"

# a redirect to another host (a CDN) does not carry the token there
: >"$work/cdn.log"
start_node "$here/../node/redirecthub.mjs" "$HF_ENDPOINT" "$work/cdn.log"
FERRY_HOME="$work/redir-store" "$FERRY" -q init
run env FERRY_HOME="$work/redir-store" "$FERRY" clone tiny/stories --token "$TOKEN" \
	--endpoint "$node_url"
kill $node_pid 2>/dev/null
expect_rc 0 "clone through redirects to another host"
if [ -s "$work/cdn.log" ] && ! grep -q auth "$work/cdn.log"; then ok; else bad "token sent to another host: $(sort "$work/cdn.log" | uniq -c)"; fi

# a listing in pages (Link rel="next", as huggingface.co pages trees): every page is fetched,
# with the token; a next page on another host, the page itself, or a link too long to hold is
# refused with nothing committed
for mode in absolute relative foreign self long; do
	: >"$work/pages.log"
	start_node "$here/../node/pagehub.mjs" "$HF_ENDPOINT" 7 "$work/pages.log" "$mode"
	rm -rf "$work/page-store"
	FERRY_HOME="$work/page-store" "$FERRY" -q init
	run env FERRY_HOME="$work/page-store" "$FERRY" clone tiny/stories --token "$TOKEN" \
		--endpoint "$node_url"
	kill $node_pid 2>/dev/null
	case $mode in
	absolute | relative)
		expect_rc 0 "clone of a listing in pages ($mode next links)"
		expect_out ": 20 files" "every page of the listing is read ($mode)"
		[ "$(wc -l <"$work/pages.log")" -ge 3 ] && ! grep -q none "$work/pages.log" && ok ||
			bad "pages fetched ($mode): $(cat "$work/pages.log")"
		continue
		;;
	foreign)
		expect_err "the next page of the listing is not a URL on" "the foreign next page is refused"
		[ "$(cat "$work/pages.log")" = "0 auth" ] && ok || bad "pages after a foreign link: $(cat "$work/pages.log")"
		;;
	self) expect_err "the next page of the listing is itself" "the looping listing is refused" ;;
	long) expect_err "the next-page link is too long" "the over-long link is refused" ;;
	esac
	expect_rc 1 "a refused paged listing ($mode)"
	run env FERRY_HOME="$work/page-store" "$FERRY" ls
	[ ! -s "$work/out" ] && ok || bad "a refused paged listing left a revision ($mode)"
done

# large files in ranges; a clone killed at random points resumes without fetching finished
# ranges again (bytes counted in the upstream's access log)
mkdir -p "$work/big"
head -c 25165824 /dev/urandom >"$work/big/weights.bin"
FERRY_HOME=$up "$FERRY" -q add big/model "$work/big" -m big
sleep 1.5
: >"$work/access.log"
s="$work/resume-store"
FERRY_HOME=$s "$FERRY" -q init
k=0
while [ $k -lt 3 ]; do
	FERRY_HOME=$s "$FERRY" -q --no-progress clone big/model --range-size 2 --ranged-min 1 \
		--limit-rate 2000000 -j 2 &
	cpid=$!
	sleep 1.3
	kill -9 $cpid 2>/dev/null
	wait $cpid 2>/dev/null
	k=$((k + 1))
done
run env FERRY_HOME="$s" "$FERRY" fsck
expect_rc 0 "fsck of an interrupted clone"
expect_err "interrupted download (the next clone or pull resumes it" "fsck names the partial download"
run env FERRY_HOME="$s" "$FERRY" --json clone big/model --range-size 2 --ranged-min 1 -j 2
expect_rc 0 "resumed clone completes"
expect_out '"http2": false' "plain HTTP/1.1 from ferry serve"
if grep -q '"bytes_resumed": [1-9]' "$work/out"; then ok; else bad "nothing resumed: $(cat "$work/out")"; fi
run env FERRY_HOME="$s" "$FERRY" verify big/model
expect_rc 0 "resumed clone verifies"
served=$(awk '/big\/model\/resolve/ {s += $(NF-1)} END {print s + 0}' "$work/access.log")
limit=$((25165824 + 3 * 2 * 2097152 + 1048576)) # at most the ranges in flight at each kill
if [ "$served" -le "$limit" ]; then ok; else bad "resume re-fetched finished ranges: $served bytes served for a 25165824-byte file"; fi
echo "clone: a 24 MiB file in 2 MiB ranges, killed 3 times: $served bytes served in all"

# HTTPS and HTTP/2 through nginx (docs/deploy/nginx.conf) with a self-signed certificate, trusted
# through the first of $CURL_CA_BUNDLE, $REQUESTS_CA_BUNDLE, $SSL_CERT_FILE that is set: every
# request is HTTP/2, one transfer per connection, connections reused (at most -j for the whole
# clone, listing included); an untrusted certificate is a clean refusal that leaves nothing
start_nginx "${serve_url##*:}" tls
h2log="$work/nginx/logs/access.log"
s="$work/h2-store"
FERRY_HOME=$s "$FERRY" -q init
noca="env -u CURL_CA_BUNDLE -u REQUESTS_CA_BUNDLE -u SSL_CERT_FILE FERRY_HOME=$s"
run $noca "$FERRY" clone big/model --endpoint "$nginx_url"
expect_rc 1 "clone from a host whose certificate is not trusted"
expect_err "SSL certificate problem" "the certificate problem is named"
run $noca CURL_CA_BUNDLE="$work/no-such.pem" "$FERRY" clone big/model --endpoint "$nginx_url"
expect_rc 1 "an unreadable CA bundle"
expect_err "CA bundle '$work/no-such.pem' (from \$CURL_CA_BUNDLE) cannot be read" "the CA bundle and its variable are named"
run env FERRY_HOME="$s" "$FERRY" ls
[ ! -s "$work/out" ] && ok || bad "refused clones left a revision: $(cat "$work/out")"
: >"$h2log"
run $noca REQUESTS_CA_BUNDLE="$work/nginx/cert.pem" "$FERRY" --json clone big/model \
	--endpoint "$nginx_url" --range-size 2 --ranged-min 1 -j 3
expect_rc 0 "ranged clone over HTTPS and HTTP/2"
expect_out '"http2": true' "the JSON summary says HTTP/2"
[ "$(json_field "$work/out" d.connections)" -ge 1 ] && [ "$(json_field "$work/out" d.connections)" -le 3 ] && ok ||
	bad "the JSON summary counts $(json_field "$work/out" d.connections) new connections for -j 3"
run env FERRY_HOME="$s" "$FERRY" verify big/model
expect_rc 0 "the clone over HTTP/2 verifies"
bigcommit=$(FERRY_HOME=$up "$FERRY" --json show big/model | sed -n 's/^  "id": "\([0-9a-f]*\)",/\1/p')
FERRY_HOME=$s "$FERRY" --json show big/model | grep -q "\"id\": \"$bigcommit\"" && ok ||
	bad "the clone over HTTP/2 has another commit id"
reqs=$(wc -l <"$h2log")
conns=$(cut -d' ' -f2 "$h2log" | sort -u | wc -l)
[ "$reqs" -eq 14 ] && ok || bad "revision, tree and 12 ranges make 14 requests, not $reqs"
[ "$(grep -c '^HTTP/2.0 ' "$h2log")" -eq "$reqs" ] && ok || bad "requests not over HTTP/2: $(grep -v '^HTTP/2.0' "$h2log" | head -3)"
[ "$conns" -le 3 ] && ok || bad "$conns connections for -j 3"
[ "$(awk '$4 == 206 {s += $5} END {print s + 0}' "$h2log")" -eq 25165824 ] && ok ||
	bad "the ranges over HTTP/2 do not add up to the file: $(awk '{print $4, $5}' "$h2log" | sort | uniq -c)"
: >"$h2log"
run $noca SSL_CERT_FILE="$work/nginx/cert.pem" FERRY_HOME="$work/h2-store2" "$FERRY" -q init
run $noca SSL_CERT_FILE="$work/nginx/cert.pem" FERRY_HOME="$work/h2-store2" "$FERRY" clone tiny/stories \
	--endpoint "$nginx_url" -j 4
expect_rc 0 "clone of 20 files over HTTP/2"
FERRY_HOME="$work/h2-store2" "$FERRY" -q checkout tiny/stories "$work/co-h2"
diff -r "$work/co-h2" "$work/v2" >/dev/null && ok || bad "files cloned over HTTP/2 differ"
conns=$(cut -d' ' -f2 "$h2log" | sort -u | wc -l)
[ "$(grep -c '^HTTP/2.0 ' "$h2log")" -eq 22 ] && [ "$conns" -le 4 ] && ok ||
	bad "22 requests over HTTP/2 on at most 4 connections: $(cut -d' ' -f1,2 "$h2log" | sort | uniq -c)"
echo "clone: HTTP/2 through nginx: 20 files in $(wc -l <"$h2log") requests on $conns connections"
kill "$nginx_pid"
nginx_pid=

# progress on a terminal (script(1) gives the clone a pty): a total bar with the file count and
# a bar per file in flight (its ranges summed) with bytes, rate and ETA, redrawn in place and
# cleared before the summary; without a terminal, no escape sequences
s3="$work/tty-store"
FERRY_HOME=$s3 "$FERRY" -q init
FERRY_HOME=$s3 script -q -e -c "$FERRY clone big/model --range-size 2 --ranged-min 1 --limit-rate 6000000 -j 2" \
	"$work/tty.out" >/dev/null 2>&1 && ok || bad "clone under a terminal"
tr '\r' '\n' <"$work/tty.out" >"$work/tty.txt"
grep -aEq '^\[#* *\] +[0-9]+%  [0-9.]+ [KM]iB / 24.0 MiB  [0-9.]+ [KM]?i?B/s  ETA [0-9]+s  files 0/1' "$work/tty.txt" &&
	ok || bad "no total bar: $(head -c 600 "$work/tty.txt")"
grep -aEq '^  weights.bin +\[#* *\] +[0-9]+%  [0-9.]+ [KM]iB / 24.0 MiB  [0-9.]+ [KM]?i?B/s  ETA [0-9]+s' "$work/tty.txt" &&
	ok || bad "no per-file bar with rate and ETA: $(head -c 600 "$work/tty.txt")"
[ "$(grep -ac '^  weights.bin' "$work/tty.txt")" -ge 3 ] && ok || bad "the file bar was not redrawn"
grep -aq "$(printf '\033')\[2A" "$work/tty.out" && ok || bad "the block is not redrawn in place"
tail -c 300 "$work/tty.out" | grep -aq "$(printf '\033')\[J.*big/model@" && ok ||
	bad "the bars are not cleared before the summary: $(tail -c 300 "$work/tty.out" | od -c | tail -5)"
FERRY_HOME=$s3 "$FERRY" -q verify big/model && ok || bad "the clone under a terminal verifies"
run env FERRY_HOME="$work/tty2" "$FERRY" -q init
run env FERRY_HOME="$work/tty2" "$FERRY" clone big/model --range-size 2 --ranged-min 1
if grep -q "$(printf '\033')" "$work/err"; then bad "escape sequences without a terminal"; else ok; fi

# killed after the last range was journaled but before the file was adopted: the next run has
# nothing to fetch and must still verify and store the file (it used to commit without it)
s2="$work/done-store"
FERRY_HOME=$s2 "$FERRY" -q init
sha=$(sha256sum "$work/big/weights.bin" | cut -d' ' -f1)
cp "$work/big/weights.bin" "$s2/tmp/partial-$sha"
seq 0 11 >"$s2/tmp/partial-$sha.journal"
run env FERRY_HOME="$s2" "$FERRY" --json clone big/model --range-size 2 --ranged-min 1
expect_rc 0 "clone with every range already journaled"
expect_out '"bytes_resumed": 25165824' "all of it resumed"
run env FERRY_HOME="$s2" "$FERRY" fsck
expect_rc 0 "fsck: the object is there"
[ ! -e "$s2/tmp/partial-$sha" ] && ok || bad "partial file left behind"

# faults between clone and the hub (tests/node/faultproxy.mjs): each ends in a correct store or
# a clean error, never a corrupt object
proxy() { start_proxy "$HF_ENDPOINT" "$1"; } # sets $proxy_url and $proxy_pid
for faults in reset 503 429 truncate corrupt stall "reset,503,429,truncate,corrupt"; do
	proxy "$faults"
	s="$work/fault-store"
	rm -rf "$s"
	FERRY_HOME=$s "$FERRY" -q init
	run env FERRY_HOME="$s" "$FERRY" clone tiny/stories --endpoint "$proxy_url" -j 1 \
		--retries 3 --stall-timeout 2
	kill $proxy_pid 2>/dev/null
	expect_rc 0 "clone through faults: $faults"
	run env FERRY_HOME="$s" "$FERRY" verify tiny/stories
	expect_rc 0 "store correct after faults: $faults"
done
proxy "corrupt*"
rm -rf "$work/fault-store"
FERRY_HOME="$work/fault-store" "$FERRY" -q init
run env FERRY_HOME="$work/fault-store" "$FERRY" clone tiny/stories --endpoint "$proxy_url" -j 1
kill $proxy_pid 2>/dev/null
expect_rc 1 "a file corrupted on every try fails the clone"
expect_err "content does not match" "the corrupted file is named"
run env FERRY_HOME="$work/fault-store" "$FERRY" fsck
expect_rc 0 "no corrupt object after a corrupted transfer"

# a clone that fails part way keeps the files it verified: they enter objects/ at the failure
# (whole files go in batches), so the next run does not fetch them again
proxy "pass,pass,pass,pass,pass,503"
rm -rf "$work/fault-store"
FERRY_HOME="$work/fault-store" "$FERRY" -q init
run env FERRY_HOME="$work/fault-store" "$FERRY" clone tiny/stories --endpoint "$proxy_url" -j 1 \
	--retries 0
kill $proxy_pid 2>/dev/null
expect_rc 1 "a clone failing at its sixth file"
kept=$(find "$work/fault-store/objects" -type f | wc -l)
[ "$kept" -eq 5 ] && ok || bad "the 5 files verified before the failure: $kept objects kept"
run env FERRY_HOME="$work/fault-store" "$FERRY" fsck
expect_rc 0 "the objects kept after a failure are sound"

# the same for a file fetched in ranges, hashed while it downloads: a corrupted range is caught
# when the file completes, which is then fetched once more from scratch
for faults in corrupt "corrupt*"; do
	proxy "$faults"
	rm -rf "$work/fault-store"
	FERRY_HOME="$work/fault-store" "$FERRY" -q init
	run env FERRY_HOME="$work/fault-store" "$FERRY" clone big/model --endpoint "$proxy_url" \
		--range-size 2 --ranged-min 1 -j 2
	kill $proxy_pid 2>/dev/null
	if [ "$faults" = corrupt ]; then
		expect_rc 0 "ranged clone through a corrupted range"
		run env FERRY_HOME="$work/fault-store" "$FERRY" verify big/model
		expect_rc 0 "ranged file correct after a corrupted range"
	else
		expect_rc 1 "a ranged file corrupted on every try fails the clone"
		expect_err "content does not match" "the corrupted ranged file is named"
	fi
	run env FERRY_HOME="$work/fault-store" "$FERRY" fsck
	expect_rc 0 "no corrupt object after corrupted ranges ($faults)"
done

run "$FERRY" fsck
expect_rc 0 "downstream store clean"
echo "clone: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
