#!/bin/sh
# Integration tests of the sovereign mirror (docs/PUBLISH.md): publish and its gates, the signed
# index, `serve` showing only published revisions, ferry-to-ferry clone and install with every
# check a client makes (untrusted key, tampered index, rollback, expiry, mix-and-match,
# duplicated signatures, trailing bytes, a tampered blob), and the Hugging Face cache layout.
# Environment: FERRY. Ends with "N passed, N failed".
set -u
unset FERRY_MIRROR

FERRY=${FERRY:?set FERRY}
DATA=${FERRY_TEST_DATA:-tests/data}
work=$(mktemp -d /tmp/ferry-publish-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
resign() { node "$(dirname "$0")/resign.mjs" "$@"; }
# a good index again, signed as a new version by the mirror
refresh_mirror() { FERRY_HOME=$up "$FERRY" -q publish --refresh; }

up="$work/up"
export FERRY_HOME="$up"
stories_store

# --- publish and its gates ------------------------------------------------------------------
run "$FERRY" publish demo/stories-GGUF
expect_rc 1 "publish without a signing key"
expect_err "no signing key" "names the missing key"
[ ! -d "$up/published" ] && ok || bad "a refused publish wrote an index"
"$FERRY" -q key generate
run "$FERRY" publish --refresh
expect_rc 1 "nothing to refresh before the first publish"
expect_err "nothing is published" "says so"
run "$FERRY" unpublish demo/stories-GGUF
expect_rc 1 "unpublishing what is not published"
expect_err "is not published" "says so"
run "$FERRY" publish --list
expect_out "nothing is published" "an empty list says so"
run "$FERRY" publish demo/stories-GGUF --force
expect_rc 2 "--force needs --reason"
run "$FERRY" publish --list demo/stories-GGUF
expect_rc 2 "--list takes no revision"
run "$FERRY" publish demo/stories-GGUF
expect_rc 0 "publish runs verify and smoke"
expect_out "verified" "verify ran"
expect_out "gate: PASS" "smoke ran against the lineage's source"
expect_out "published demo/stories-GGUF@" "publish reports"
expect_out "(index version 1)" "first index version"
ls "$up/repos/demo/stories-GGUF/verify/"*.json >/dev/null 2>&1 && ok || bad "verify result not recorded"
run "$FERRY" publish demo/stories-GGUF
expect_rc 0 "publishing again"
expect_out "verify: passed (recorded" "a recorded verify is reused"
expect_out "smoke: passed (recorded" "a recorded smoke is reused"
expect_out "(index version 2)" "each publish is a new version"
# a failing smoke gate: limits no quantization meets
"$FERRY" -q smoke demo/stories-GGUF:stories-Q4_K_M.gguf --max-kl 0.0000001 -t 2 >/dev/null 2>&1
run "$FERRY" publish demo/stories-GGUF
expect_rc 1 "a failed smoke refuses publish"
expect_err "fails the smoke gate" "names the gate"
run "$FERRY" publish demo/stories-GGUF --force --reason "accepted by the model owner"
expect_rc 0 "--force --reason overrides"
run "$FERRY" publish --list --json
expect_out '"reason": "accepted by the model owner"' "the override is recorded in the index"
expect_out '"smoke": "fail"' "with the failed gate"
"$FERRY" -q smoke demo/stories-GGUF:stories-Q4_K_M.gguf -t 2 >/dev/null 2>&1
# a revision without lineage is its own reference
run "$FERRY" publish demo/stories
expect_rc 0 "publish an imported checkpoint"
expect_out "no lineage" "says what the self-reference checks"
run "$FERRY" publish --list
expect_out "demo/stories" "listed"
expect_out "heads/main" "with its refs"
run "$FERRY" rm demo/stories
expect_rc 1 "a published repository cannot be removed"
expect_err "unpublish" "says to unpublish first"
# a revision without a model file: the smoke gate does not apply
"$FERRY" -q --no-progress add demo/tok "$DATA/models/qwen2-tokenizer" -m import
run "$FERRY" publish demo/tok
expect_rc 0 "a tokenizer-only revision publishes"
expect_out "smoke: not applicable (no model file)" "smoke does not apply"
# several GGUF files and no lineage: which one to gate is the user's call
mkdir "$work/two"
cp "$work/gguf/stories-f32.gguf" "$work/two/a-F32.gguf"
cp "$DATA/models/stories260K/stories260K.gguf" "$work/two/b.gguf"
"$FERRY" -q --no-progress add demo/two "$work/two" -m import
run "$FERRY" publish demo/two
expect_rc 1 "several GGUF files without a smoke result are refused"
expect_err "several GGUF files" "says which gate to run"
# a corrupt object fails verify
"$FERRY" -q --no-progress add demo/broken "$DATA/models/qwen2-tokenizer" -m import
obj=$("$FERRY" --json show demo/broken | node -e 'const j=JSON.parse(require("fs").readFileSync(0));process.stdout.write(j.files[0].sha256)')
f="$up/objects/sha256/$(echo "$obj" | cut -c1-2)/$(echo "$obj" | cut -c3-)"
chmod u+w "$f"
printf 'X' | dd of="$f" bs=1 seek=1 conv=notrunc 2>/dev/null
run "$FERRY" publish demo/broken
expect_rc 1 "a revision that fails verify is refused"
expect_err "fails the verify gate" "names the verify gate"

# --- serve shows only what is published -----------------------------------------------------
"$FERRY" -q --no-progress add demo/hidden "$DATA/models/qwen2-tokenizer" -m import
start_serve "$FERRY_HOME" --refresh-ms 100
pid=$serve_pid U=$serve_url
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$U/api/models/demo/stories-GGUF")" = 200 ] && ok || bad "published repo not served"
[ "$(code "$U/api/models/demo/hidden")" = 404 ] && ok || bad "unpublished repo served"
[ "$(code "$U/api/models/demo/broken")" = 404 ] && ok || bad "refused repo served"
listed=$(curl -s "$U/api/models?search=demo/" | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0)).map(m => m.id).join(" "))')
case " $listed " in
*" demo/stories-GGUF "*" demo/hidden "* | *" demo/hidden "* | *" demo/broken "*) bad "the listing shows unpublished repos: $listed" ;;
*" demo/stories-GGUF "*) ok ;;
*) bad "the listing lacks the published repo: $listed" ;;
esac
[ "$(code "$U/api/ferry/index")" = 200 ] && ok || bad "no index served"
curl -s "$U/api/ferry/index" | cmp -s - "$up/published/index-$(cat "$up/published/current").json" &&
	ok || bad "the index is not served byte for byte"
old=$("$FERRY" --json show demo/stories-GGUF | node -e 'const j=JSON.parse(require("fs").readFileSync(0));process.stdout.write(j.parent)')
[ "$(code "$U/demo/stories-GGUF/resolve/$old/stories-f32.gguf")" = 404 ] && ok ||
	bad "an unpublished revision of a published repo is served by id"
[ "$(code "$U/api/ferry/manifests/demo/stories-GGUF/$old")" = 404 ] && ok ||
	bad "an unpublished manifest is served"
"$FERRY" -q unpublish demo/stories
sleep 0.5
[ "$(code "$U/api/models/demo/stories")" = 404 ] && ok || bad "unpublished repo still served"
"$FERRY" -q publish demo/stories
# a split model: quantized into shards, gated and published as one model, served by its first
"$FERRY" -q quant demo/stories-GGUF --type Q8_0 --file stories-f32.gguf --split-max-tensors 25 \
	--to demo/tiny-split-GGUF 2>/dev/null
run "$FERRY" publish demo/tiny-split-GGUF
expect_rc 0 "publish a revision that adds a split model"
expect_out "gate: PASS" "the split model passes the smoke gate against its source"
sleep 0.3
curl -s "$U/v2/demo/tiny-split-GGUF/manifests/Q8_0" | grep -q '"rfilename":"stories-Q8_0-00001-of-00002.gguf"' &&
	ok || bad "llama.cpp's manifest does not name the first shard"

# --- a ferry client ---------------------------------------------------------------------------
export FERRY_HOME="$work/down"
"$FERRY" -q init
sleep 0.3
run "$FERRY" clone demo/stories-GGUF --from "$U"
expect_rc 1 "an index signed by an untrusted key is refused"
expect_err "does not trust" "names the untrusted key"
[ ! -d "$work/down/repos/demo" ] && ok || bad "a refused clone left a repository"
"$FERRY" -q key trust "$up/keys/signing.pub"
run "$FERRY" clone demo/stories-GGUF --from "$U"
expect_rc 0 "clone from a trusted mirror"
run "$FERRY" verify demo/stories-GGUF
expect_rc 0 "the cloned revision verifies"
run "$FERRY" fsck
expect_rc 0 "fsck clean"

# install into the HF cache layout
hub="$work/hf"
run "$FERRY" install demo/stories-GGUF:Q4_K_M --from "$U" --cache-dir "$hub"
expect_rc 0 "install a quantization"
top="$hub/models--demo--stories-GGUF"
id=$(cat "$top/refs/main")
link=$(readlink "$top/snapshots/$id/stories-Q4_K_M.gguf")
blob=$(basename "$link")
[ "$link" = "../../blobs/$blob" ] && ok || bad "snapshot link is $link"
[ "$(sha256sum "$top/blobs/$blob" | cut -c1-64)" = "$blob" ] && ok || bad "LFS blob not named by its sha256"
[ "$(ls "$top/snapshots/$id")" = "stories-Q4_K_M.gguf" ] && ok || bad "a quant tag installs only its file"
run "$FERRY" install demo/tiny-split-GGUF:Q8_0 --from "$U" --cache-dir "$hub"
expect_rc 0 "install a split model by its quantization"
tops="$hub/models--demo--tiny-split-GGUF"
ids=$(cat "$tops/refs/main")
[ "$(ls "$tops/snapshots/$ids" | grep -c 'stories-Q8_0-0000[12]-of-00002.gguf')" -eq 2 ] && ok ||
	bad "both shards of the split model installed"
run "$FERRY" run "$tops/snapshots/$ids/stories-Q8_0-00002-of-00002.gguf" -p Once -n 3 --temp 0
expect_rc 0 "the installed split model runs from the HF cache"
run "$FERRY" install demo/stories --from "$U" --cache-dir "$hub"
expect_rc 0 "install a whole revision"
top2="$hub/models--demo--stories"
id2=$(cat "$top2/refs/main")
cfg=$(basename "$(readlink "$top2/snapshots/$id2/config.json")")
[ "$(git hash-object "$top2/snapshots/$id2/config.json")" = "$cfg" ] && ok ||
	bad "a regular file's blob is not named by its git blob id"
diff -r -q "$top2/snapshots/$id2" "$DATA/models/llama-stories260K" >/dev/null && ok || bad "installed files differ"
# a tag of the index: the cache's ref is named by it
FERRY_HOME=$up "$FERRY" -q tag demo/stories v1
FERRY_HOME=$up "$FERRY" -q publish demo/stories
sleep 0.3
run "$FERRY" install demo/stories:v1 --from "$U" --cache-dir "$hub"
expect_rc 0 "install a tag"
[ "$(cat "$top2/refs/v1" 2>/dev/null)" = "$id2" ] && ok || bad "refs/v1 does not name the tagged commit"
run "$FERRY" install "demo/stories:$(echo "$id2" | cut -c1-8)" --from "$U" --dir "$work/byid"
expect_rc 0 "install a revision by id prefix"
run "$FERRY" run "$top/snapshots/$id/stories-Q4_K_M.gguf" -p "Once upon a time" -n 8 --temp 0 -t 2
expect_rc 0 "the installed file runs"
run "$FERRY" install demo/stories --from "$U" --dir "$work/plain"
expect_rc 0 "install into a folder"
diff -r -q "$work/plain" "$DATA/models/llama-stories260K" >/dev/null && ok || bad "folder install differs"
# installed again over itself (the files already hardlinks of the objects, where rename(2) of a
# second link onto the first does nothing), and with what a killed install left (a dead
# process's temp file): no temp file stays behind, in the folder or in the cache
dead=$(sh -c 'echo $$')
echo partial >"$work/plain/.config.json.ferry-tmp.$dead.0"
echo partial >"$hub/models--demo--stories/blobs/x.ferry-tmp.$dead"
run "$FERRY" install demo/stories --from "$U" --dir "$work/plain"
expect_rc 0 "install into a folder again"
run "$FERRY" install demo/stories --from "$U" --cache-dir "$hub"
expect_rc 0 "install into the cache again"
left=$(find "$work/plain" "$hub" -name '*.ferry-tmp.*')
[ -z "$left" ] && ok || bad "temp files left behind: $left"
diff -r -q "$work/plain" "$DATA/models/llama-stories260K" >/dev/null && ok || bad "folder install again differs"
run "$FERRY" install demo/stories-GGUF:Q9_Z --from "$U" --cache-dir "$hub"
expect_rc 1 "an unknown tag"
expect_err "no branch, tag, revision or GGUF file for 'Q9_Z'" "names the tag"
run "$FERRY" install demo/stories --cache-dir "$hub"
expect_rc 2 "install needs a mirror"
run "$FERRY" install demo/stories --from "$U" --dir "$work/x" --hf-cache
expect_rc 2 "--dir and --hf-cache exclude each other"
run "$FERRY" clone demo/stories --from "$U" --include '*.json'
expect_rc 2 "--from clones whole revisions"
run "$FERRY" install demo/stories-GGUF:Q4_K --from "$U" --cache-dir "$hub"
expect_rc 1 "a tag is matched as a whole (Q4_K is not Q4_K_M)"
run "$FERRY" install demo/hidden --from "$U" --cache-dir "$hub"
expect_rc 1 "an unpublished repo"
expect_err "not published" "says so"

# sync --from: everything the mirror publishes, into a store that trusts it
sy="$work/sync"
FERRY_HOME="$sy" "$FERRY" -q init
FERRY_HOME="$sy" run "$FERRY" --no-progress sync --from "$U"
expect_rc 1 "sync from an untrusted mirror"
expect_err "does not trust" "names the trust failure"
FERRY_HOME="$sy" "$FERRY" -q key trust "$up/keys/signing.pub"
FERRY_HOME="$sy" run "$FERRY" --no-progress sync --from "$U" --list "$work/x"
expect_rc 2 "--from and --list"
FERRY_HOME="$sy" run "$FERRY" --no-progress sync --from "$U" --stall-timeout 0
expect_rc 2 "sync: transfer options out of range"
FERRY_HOME="$sy" run "$FERRY" --no-progress install demo/stories --from "$U" -j 0
expect_rc 2 "install: transfer options out of range"
FERRY_HOME="$sy" run "$FERRY" --no-progress sync --from "$U"
# demo/tok shares an object with demo/broken, corrupted on the mirror above: refused, the rest goes on
expect_rc 1 "sync --from: one repository's file is corrupt on the mirror"
expect_err "'added_tokens.json': content does not match" "names the corrupt file"
expect_err "3 repositories synced, 1 failed" "the summary counts it (stories, stories-GGUF, tiny-split-GGUF)"
expect_out "ok      demo/stories " "the checkpoint"
expect_out "ok      demo/stories-GGUF " "the GGUF repository"
FERRY_HOME="$sy" run "$FERRY" ls demo/hidden
expect_rc 1 "an unpublished repository is not synced"
npub=$(node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));let n=0;for(const r of Object.values(j.repos))n+=Object.keys(r.revisions).length;process.stdout.write(String(n))' "$up/published/index-$(cat "$up/published/current").json")
nsync=$(ls "$sy"/repos/*/*/revisions/*.json | wc -l)
[ "$((npub - 1))" -eq "$nsync" ] && ok || bad "sync fetched $nsync revisions, the index publishes $npub (one refused)"
[ ! -d "$sy/repos/demo/tok" ] && ok || bad "the refused repository was committed"
for r in demo/stories demo/stories-GGUF; do
	[ "$(FERRY_HOME=$sy "$FERRY" show "$r" | head -1)" = "$(FERRY_HOME=$up "$FERRY" show "$r" | head -1)" ] && ok ||
		bad "$r: the synced main is not the mirror's"
done
[ "$(cat "$sy/repos/demo/stories/refs/tags/v1" 2>/dev/null)" = "$(cat "$up/repos/demo/stories/refs/tags/v1")" ] && ok ||
	bad "the published tag was not synced"
FERRY_HOME="$sy" run "$FERRY" --no-progress verify demo/stories demo/stories-GGUF
expect_rc 0 "the synced revisions verify"
FERRY_HOME="$sy" run "$FERRY" --no-progress sync --from "$U"
expect_out "ok      demo/stories (0 new revisions, 0 files fetched" "again: nothing new, nothing fetched"

# hostile indexes, each validly signed where that matters
v=$(cat "$up/published/current")
cp -r "$up/published" "$work/published.good"
resign "$up" "$up/keys/signing.key" expired
sleep 0.3
run "$FERRY" clone demo/stories --from "$U"
expect_rc 1 "an expired index is refused"
expect_err "expired at 2020-01-01T00:00:00Z" "names the expiry"
run "$FERRY" clone demo/stories --from "$U" --allow-expired
expect_rc 0 "--allow-expired accepts it"
# rollback: serve the older version again
printf '%s\n' "$v" >"$up/published/current"
sleep 0.3
run "$FERRY" clone demo/stories --from "$U"
expect_rc 1 "an older index is refused"
expect_err "rollback refused" "names the rollback"
# mix-and-match: a signed index pinning another manifest
resign "$up" "$up/keys/signing.key" mixmatch
sleep 0.3
run "$FERRY" clone demo/stories-GGUF --from "$U" --allow-expired
expect_rc 1 "a manifest the index does not pin is refused"
expect_err "not the one the signed index lists" "names the mismatch"
# a tampered index (the signature no longer matches)
cur=$(cat "$up/published/current")
sed -i 's/"version": '"$cur"'/"version": '"$((cur + 50))"'/' "$up/published/index-$cur.json"
printf '%s\n' "$cur" >"$up/published/current"
sleep 0.3
run "$FERRY" clone demo/stories --from "$U" --allow-expired
expect_rc 1 "a tampered index is refused"
expect_err "is invalid" "the signature is invalid"
# start again from a fresh good index for the signature-document attacks
rm -rf "$up/published" && cp -r "$work/published.good" "$up/published"
refresh_mirror
resign "$up" "$up/keys/signing.key" dupsig
sleep 0.3
run "$FERRY" clone demo/stories --from "$U"
expect_rc 1 "duplicated signatures are refused"
expect_err "duplicated" "names the duplicate"
refresh_mirror
resign "$up" "$up/keys/signing.key" garbage
sleep 0.3
run "$FERRY" clone demo/stories --from "$U"
expect_rc 1 "bytes after the signature document are refused"
expect_err "index.sig" "names the signature document"
# a tampered blob on the mirror: the file never enters the client's store
refresh_mirror
export FERRY_HOME="$work/fresh"
"$FERRY" -q init
"$FERRY" -q key trust "$up/keys/signing.pub"
obj=$(FERRY_HOME=$up "$FERRY" --json show demo/stories | node -e 'const j=JSON.parse(require("fs").readFileSync(0));process.stdout.write(j.files.find(f=>f.path==="config.json").sha256)')
f="$up/objects/sha256/$(echo "$obj" | cut -c1-2)/$(echo "$obj" | cut -c3-)"
chmod u+w "$f"
printf '{' | dd of="$f" bs=1 seek=0 conv=notrunc 2>/dev/null
sed -i '1s/^{/ /' "$f"
sleep 0.3
run "$FERRY" clone demo/stories --from "$U"
expect_rc 1 "a tampered blob is refused"
expect_err "config.json" "names the file"
[ ! -e "$work/fresh/repos/demo/stories/refs/heads/main" ] && ok || bad "a ref was written"
[ ! -e "$work/fresh/objects/sha256/$(echo "$obj" | cut -c1-2)/$(echo "$obj" | cut -c3-)" ] && ok ||
	bad "the tampered object entered the store"

kill $pid 2>/dev/null
wait $pid 2>/dev/null
pid=
echo "publish: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
