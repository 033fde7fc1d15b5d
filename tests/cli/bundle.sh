#!/bin/sh
# Integration tests of bundles (docs/BUNDLE.md): create (full, incremental, in volumes), verify
# and import into other stores, every row of SECURITY.md's bundle table as a crafted archive
# (tests/cli/bundle_forge.c writes them with libarchive), rollback and expiry of the carried
# index, an interrupted import resuming, and importing twice changing nothing.
# Environment: FERRY, FORGE (build/bundle-forge). Ends with "bundle: N passed, N failed".
set -u
unset FERRY_MIRROR

FERRY=${FERRY:?set FERRY}
case $FERRY in /*) ;; *) FERRY=$PWD/$FERRY ;; esac
FORGE=${FORGE:?set FORGE}
DATA=${FERRY_TEST_DATA:-tests/data}
work=$(mktemp -d /tmp/ferry-bundle-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

up="$work/up"
# a store that trusts the mirror's key, fresh each time
fresh() {
	rm -rf "$work/$1"
	FERRY_HOME="$work/$1" "$FERRY" -q init
	FERRY_HOME="$work/$1" "$FERRY" -q key trust "$up/keys/signing.pub"
}
# the store's files and their digests, except what a reader may rewrite
snapshot() { (cd "$1" && find . -type f ! -name lock | sort | xargs sha256sum); }
nrepos() { ls "$1/repos" 2>/dev/null | wc -l; }
out_field() { node -e 'const j=JSON.parse(require("fs").readFileSync(0));process.stdout.write(String(j[process.argv[1]]))' "$1" <"$work/out"; }

export FERRY_HOME="$up"
stories_store
"$FERRY" -q key generate

# --- usage -----------------------------------------------------------------------------------
run "$FERRY" bundle
expect_rc 2 "bundle needs a command"
run "$FERRY" bundle pack -o "$work/x"
expect_rc 2 "an unknown bundle command"
expect_err "create, verify, import" "lists the commands"
run "$FERRY" bundle create
expect_rc 2 "create needs -o"
run "$FERRY" bundle create -o "$work/x" --split-size 12Q
expect_rc 2 "a malformed --split-size"
run "$FERRY" bundle create -o "$work/x" --level 40
expect_rc 2 "--level out of range"
run "$FERRY" bundle create --all demo/stories -o "$work/x"
expect_rc 2 "--all and a repository"
run "$FERRY" bundle verify
expect_rc 2 "verify needs a file"
run "$FERRY" bundle import "$work/x" --since abcd
expect_rc 2 "--since is for create"

# --- create ----------------------------------------------------------------------------------
run "$FERRY" bundle create --all -o "$work/b1.ferry"
expect_rc 1 "nothing published: nothing to bundle"
expect_err "ferry publish first" "says to publish"
[ ! -e "$work/b1.ferry" ] && ok || bad "a refused create left a file"
"$FERRY" -q publish demo/stories-GGUF >/dev/null 2>&1
run "$FERRY" bundle create demo/stories -o "$work/b1.ferry"
expect_rc 1 "an unpublished repository"
expect_err "is not published" "says so"
"$FERRY" -q publish demo/stories >/dev/null 2>&1
run "$FERRY" --no-progress bundle create --all -o "$work/b1.ferry"
expect_rc 0 "create a full bundle"
expect_out "2 revisions, 22 objects" "counts what it holds"
expect_out "written to $work/b1.ferry" "names the file"
ls "$up/bundles/"*.json >/dev/null 2>&1 && ok || bad "the bundle is not recorded in bundles/"
ls "$work"/b1.ferry.* >/dev/null 2>&1 && bad "temp volumes left behind" || ok
# a standard tool reads it: zstd, then a pax tar with the description and signature first
tar -I zstd -tf "$work/b1.ferry" >"$work/list" 2>&1 && ok || bad "tar cannot list the bundle"
[ "$(sed -n 1p "$work/list")" = "bundle.json" ] && [ "$(sed -n 2p "$work/list")" = "bundle.sig" ] &&
	[ "$(sed -n 3p "$work/list")" = "index.json" ] && [ "$(sed -n 4p "$work/list")" = "index.sig" ] &&
	ok || bad "entries out of order: $(head -4 "$work/list" | tr '\n' ' ')"
[ "$(grep -c '^manifests/' "$work/list")" -eq 2 ] && [ "$(grep -c '^objects/' "$work/list")" -eq 22 ] &&
	ok || bad "not 2 manifests and 22 objects"
run "$FERRY" --no-progress bundle verify "$work/b1.ferry"
expect_rc 0 "the mirror verifies its own bundle"
expect_out "every object check out" "says what it checked"
id1=$(ls "$up/bundles" | sed -n 's/\.json$//p' | head -1)
# from a store on a read-only disk: the bundle is made, with a warning that it is not recorded
# (a later --since names it by its file); before, the bundle was written and the exit was 1
abs=$FERRY
case $abs in /*) ;; *) abs=$PWD/$abs ;; esac
run on_read_only "$up" "$abs" --no-progress bundle create demo/stories -o "$work/ro.ferry"
expect_rc 0 "bundle create from a read-only store"
expect_err "warning: the bundle is complete but not recorded in the store" "says it is not recorded"
expect_err "Read-only file system" "says why"
[ -s "$work/ro.ferry" ] && [ "$(ls "$up/bundles" | wc -l)" -eq 1 ] && ok ||
	bad "read-only store: no bundle, or a record after all"
run "$FERRY" --no-progress bundle verify "$work/ro.ferry"
expect_rc 0 "the bundle made from a read-only store verifies"

# --- import into a store that does not trust the mirror ----------------------------------------
export FERRY_HOME="$work/down"
"$FERRY" -q init
run "$FERRY" --no-progress bundle import "$work/b1.ferry"
expect_rc 1 "an untrusted key is refused"
expect_err "does not trust" "names the trust failure"
[ "$(ls "$work/down/objects/sha256" 2>/dev/null | wc -l)" -eq 0 ] && [ "$(nrepos "$work/down")" -eq 0 ] &&
	ok || bad "an untrusted bundle wrote to the store"
"$FERRY" -q key trust "$up/keys/signing.pub"
run "$FERRY" --no-progress --json bundle import "$work/b1.ferry"
expect_rc 0 "import"
[ "$(out_field objects)" = 22 ] && [ "$(out_field objects_present)" = 0 ] && [ "$(out_field revisions_new)" = 2 ] &&
	ok || bad "import counts: $(cat "$work/out")"
run "$FERRY" fsck
expect_rc 0 "the store is clean after import"
run "$FERRY" --no-progress verify demo/stories demo/stories-GGUF
expect_rc 0 "the imported revisions verify"
for r in demo/stories demo/stories-GGUF; do
	[ "$("$FERRY" show "$r" | head -1)" = "$(FERRY_HOME=$up "$FERRY" show "$r" | head -1)" ] && ok ||
		bad "$r: main differs from the mirror's"
done
"$FERRY" -q checkout demo/stories "$work/co"
diff -r "$work/co" "$DATA/models/llama-stories260K" >/dev/null && ok || bad "checked-out files differ from the source"
snapshot "$work/down" >"$work/snap1"
run "$FERRY" --no-progress bundle import "$work/b1.ferry"
expect_rc 0 "importing twice"
expect_out "0 objects written (22 already in the store), 0 new revisions, 0 refs moved" "the second import does nothing"
snapshot "$work/down" >"$work/snap2"
cmp -s "$work/snap1" "$work/snap2" && ok || bad "importing twice changed the store"

# --- hostile archives (SECURITY.md), each into a fresh store that trusts the mirror -------------
attack() { # attack MODE EXPECTED-MESSAGE DESCRIPTION [FORGE ARGS]
	mode=$1 msg=$2 what=$3
	shift 3
	"$FORGE" "$mode" "$work/b1.ferry" "$work/h-$mode.ferry" "$@" || bad "forge $mode failed"
	fresh h
	FERRY_HOME="$work/h" run "$FERRY" --no-progress bundle import "$work/h-$mode.ferry"
	expect_rc 1 "$what"
	expect_err "$msg" "$what: the message"
	[ "$(nrepos "$work/h")" -eq 0 ] && ok || bad "$what: something was committed"
	[ -z "$(ls -A "$work/h/tmp" 2>/dev/null)" ] && ok || bad "$what: partial data left in tmp/"
	FERRY_HOME="$work/h" run "$FERRY" fsck
	expect_rc 0 "$what: the store stays clean"
}
rm -f /tmp/ferry-evil
attack symlink "is a symbolic link" "a symbolic link entry"
attack hardlink "is a hard link" "a hard link entry"
attack device "is a device" "a device entry"
attack traversal "climbs out with '..'" "a path climbing out"
attack absolute "is an absolute path" "an absolute path"
[ ! -e /tmp/ferry-evil ] && ok || bad "an entry was written outside the store"
attack bomb "decompression bomb" "an entry larger than declared"
[ "$(ls "$work/h/objects/sha256" 2>/dev/null | wc -l)" -eq 0 ] && ok || bad "the bomb was refused after writing"
attack endless "trailing garbage" "zeros streaming on after the archive"
attack garbage "trailing garbage" "bytes after the compressed stream"
attack blob "does not match its digest" "a tampered object"
attack manifest "not the manifest bundle.json lists" "a tampered manifest"
attack desc "is invalid" "a tampered bundle.json (its signature no longer matches)"
attack dupsig "is duplicated" "a duplicated signature"
# mix-and-match: a validly re-signed bundle.json listing a manifest the index does not pin
other=$(ls "$up/repos/demo/stories-GGUF/revisions/"*.json | head -1)
attack mixmatch "mix-and-match" "a manifest the signed index does not pin" "$other" "$up/keys/signing.key"
# an expired index, re-signed by the mirror's key (tests/cli/resign.mjs)
cp -r "$up" "$work/up-expired"
node "$(dirname "$0")/resign.mjs" "$work/up-expired" "$up/keys/signing.key" expired
v=$(cat "$work/up-expired/published/current")
attack index "expired at 2020-01-01T00:00:00Z" "an expired index" \
	"$work/up-expired/published/index-$v.json" "$work/up-expired/published/index-$v.sig" "$up/keys/signing.key"
FERRY_HOME="$work/h" run "$FERRY" --no-progress bundle import "$work/h-index.ferry" --allow-expired
expect_rc 0 "--allow-expired accepts it"
# a manifest signed for nothing: bundle.json's digest of index.json no longer matches
cp "$work/up-expired/published/index-$v.json" "$work/ix.json"
"$FORGE" index "$work/b1.ferry" "$work/h-ixsig.ferry" "$work/ix.json" "$up/published/index-$(cat "$up/published/current").sig" "$up/keys/signing.key"
fresh h
FERRY_HOME="$work/h" run "$FERRY" --no-progress bundle import "$work/h-ixsig.ferry" --allow-expired
expect_rc 1 "an index with another index's signature"
expect_err "signature" "the index signature fails"
# not a bundle at all
head -c 5000 /dev/urandom >"$work/random.ferry"
FERRY_HOME=$up run "$FERRY" --no-progress bundle create --since "$work/random.ferry" -o "$work/x.ferry"
expect_rc 1 "--since a file that is not a bundle"
expect_err "not a ferry bundle" "says so"
[ ! -e "$work/x.ferry" ] && ok || bad "a refused create left a file"
run "$FERRY" --no-progress bundle verify "$work/random.ferry"
expect_rc 1 "random bytes"
expect_err "not a ferry bundle" "says so"
: >"$work/empty.ferry"
run "$FERRY" --no-progress bundle verify "$work/empty.ferry"
expect_rc 1 "an empty file"
run "$FERRY" --no-progress bundle verify "$work/missing.ferry"
expect_rc 1 "a missing file"
expect_err "missing.ferry" "names it"

# --- incremental bundles and rollback ----------------------------------------------------------
export FERRY_HOME="$up"
"$FERRY" -q --no-progress quant demo/stories-GGUF --type Q8_0 2>/dev/null
"$FERRY" -q publish demo/stories-GGUF >/dev/null 2>&1
run "$FERRY" --no-progress --json bundle create --since "$work/b1.ferry" -o "$work/b2.ferry"
expect_rc 0 "an incremental bundle on a bundle file"
[ "$(out_field objects)" = 1 ] && [ "$(out_field objects_from_base)" = 22 ] && ok ||
	bad "incremental counts: $(cat "$work/out")"
[ "$(out_field base)" = "$id1" ] && ok || bad "the base is not b1"
run "$FERRY" --no-progress bundle create --since "$(echo "$id1" | cut -c1-8)" -o "$work/b2b.ferry"
expect_rc 0 "an incremental bundle on a recorded bundle id"
expect_out "1 object (" "the same object"
run "$FERRY" --no-progress bundle create --since 0000beef -o "$work/b2c.ferry"
expect_rc 1 "an unknown base id"
expect_err "no bundle of that id" "says so"
export FERRY_HOME="$work/down"
run "$FERRY" --no-progress bundle import "$work/b2.ferry"
expect_rc 0 "import the incremental bundle on its base"
expect_out "1 object written" "only the new object"
run "$FERRY" --no-progress verify demo/stories-GGUF
expect_rc 0 "the new revision verifies"
run "$FERRY" --no-progress bundle import "$work/b1.ferry"
expect_rc 1 "the older bundle again: its index is older"
expect_err "rollback refused" "names the rollback"
fresh solo
FERRY_HOME="$work/solo" run "$FERRY" --no-progress bundle import "$work/b2.ferry"
expect_rc 1 "an incremental bundle without its base"
expect_err "import that bundle first" "says which to import"
[ "$(nrepos "$work/solo")" -eq 0 ] && ok || bad "committed without the base"
FERRY_HOME="$work/solo" "$FERRY" -q --no-progress bundle import "$work/b1.ferry"
FERRY_HOME="$work/solo" run "$FERRY" --no-progress bundle import "$work/b2.ferry"
expect_rc 0 "base first, then the increment"

# --- volumes, a damaged volume, an interrupted import ------------------------------------------
export FERRY_HOME="$up"
run "$FERRY" --no-progress bundle create --all -o "$work/v.ferry" --split-size 256K
expect_rc 0 "create in volumes"
n=$(ls "$work"/v.ferry.[0-9][0-9][0-9] | wc -l)
[ "$n" -ge 4 ] && ok || bad "expected at least 4 volumes, got $n"
[ "$(stat -c %s "$work/v.ferry.001")" -eq 262144 ] && ok || bad "a volume is not 256 KiB"
export FERRY_HOME="$work/down"
run "$FERRY" --no-progress bundle verify "$work/v.ferry"
expect_rc 0 "verify by the volumes' name"
run "$FERRY" --no-progress bundle verify "$work/v.ferry.001"
expect_rc 0 "verify by the first volume"
cp "$work/v.ferry.001" "$work/renamed.ferry"
run "$FERRY" --no-progress bundle verify "$work/renamed.ferry"
expect_rc 1 "the first volume alone, renamed"
expect_err "written in volumes" "says the bundle has volumes"
cp "$work/v.ferry.002" "$work/v2.keep"
truncate -s 100000 "$work/v.ferry.002"
run "$FERRY" --no-progress bundle verify "$work/v.ferry"
expect_rc 1 "a truncated volume"
expect_err "v.ferry.002: 100000 bytes" "names the volume"
cp "$work/v2.keep" "$work/v.ferry.002"
last=$(ls "$work"/v.ferry.[0-9][0-9][0-9] | tail -1)
mv "$last" "$work/last.keep"
run "$FERRY" --no-progress bundle verify "$work/v.ferry"
expect_rc 1 "a missing last volume"
expect_err "ends early" "says the stream ends early"
fresh r
FERRY_HOME="$work/r" run "$FERRY" --no-progress bundle import "$work/v.ferry"
expect_rc 1 "an import cut short"
[ "$(nrepos "$work/r")" -eq 0 ] && ok || bad "an interrupted import committed"
got=$(ls "$work/r/objects/sha256" 2>/dev/null | wc -l)
[ "$got" -gt 0 ] && ok || bad "no verified object was kept for the next run"
mv "$work/last.keep" "$last"
FERRY_HOME="$work/r" run "$FERRY" --no-progress --json bundle import "$work/v.ferry"
expect_rc 0 "the import resumes"
[ "$(out_field objects_present)" -gt 0 ] && ok || bad "the resumed import wrote everything again: $(cat "$work/out")"
FERRY_HOME="$work/r" run "$FERRY" fsck
expect_rc 0 "clean after resuming"
# a new bundle of fewer volumes under the same name: the old extra volumes go
export FERRY_HOME="$up"
run "$FERRY" --no-progress bundle create demo/stories-GGUF -o "$work/v.ferry" --split-size 1M
expect_rc 0 "rewrite under the same name"
run "$FERRY" --no-progress bundle verify "$work/v.ferry"
expect_rc 0 "stale volumes of the older bundle are gone"

# --- install from a bundle; installed; uninstall ---------------------------------------------
fresh site
export FERRY_HOME="$work/site"
hub="$work/hub"
run "$FERRY" --no-progress install demo/stories-GGUF:Q4_K_M --bundle "$work/b2.ferry" --cache-dir "$hub"
expect_rc 1 "install from an incremental bundle without its base"
expect_err "import that bundle first" "says so"
run "$FERRY" --no-progress install demo/stories-GGUF:Q4_K_M --bundle "$work/b1.ferry" --from http://127.0.0.1:9
expect_rc 2 "--bundle and --from"
run "$FERRY" --no-progress install demo/stories-GGUF:Q4_K_M --bundle "$work/b1.ferry" --cache-dir "$hub"
expect_rc 0 "install a quantization from a bundle into the HF cache"
FERRY_HOME=$up "$FERRY" -q --no-progress bundle create demo/stories -o "$work/only-stories.ferry"
run "$FERRY" --no-progress install demo/stories-GGUF --bundle "$work/only-stories.ferry" --dir "$work/nope"
expect_rc 1 "a revision the bundle's index names but the bundle does not carry"
expect_err "the bundle does not carry demo/stories-GGUF@" "names it"
[ ! -e "$work/nope" ] && ok || bad "something was installed"
run env FERRY_MIRROR=http://127.0.0.1:9 "$FERRY" --no-progress install demo/stories --bundle "$work/only-stories.ferry" --dir "$work/env"
expect_rc 0 "\$FERRY_MIRROR does not conflict with --bundle"
rm -rf "$work/env"
"$FERRY" -q uninstall demo/stories --dir "$(cd "$work" && pwd)/env"
top="$hub/models--demo--stories-GGUF"
rev=$(cat "$top/refs/main")
blob=$(FERRY_HOME=$up "$FERRY" --json show "demo/stories-GGUF@$rev" | node -e 'const j=JSON.parse(require("fs").readFileSync(0));process.stdout.write(j.files.find(f=>f.path.endsWith("Q4_K_M.gguf")).sha256)')
[ -L "$top/snapshots/$rev/stories-Q4_K_M.gguf" ] && [ -f "$top/blobs/$blob" ] &&
	[ "$(readlink "$top/snapshots/$rev/stories-Q4_K_M.gguf")" = "../../blobs/$blob" ] && ok ||
	bad "the HF cache layout: $(find "$top" | tr '\n' ' ')"
# the npm @huggingface/hub client's own cache scanner reads the install
node "$(dirname "$0")/../node/hfcache.mjs" "$hub" >"$work/scan" 2>&1
size=$(stat -L -c %s "$top/snapshots/$rev/stories-Q4_K_M.gguf")
grep -qx "demo/stories-GGUF $rev main stories-Q4_K_M.gguf $size $blob" "$work/scan" && ok ||
	bad "scanCacheDir does not see the install: $(cat "$work/scan")"
grep -qx "warnings 0" "$work/scan" && ok || bad "scanCacheDir warns: $(cat "$work/scan")"
"$FERRY" -q --no-progress bundle import "$work/b2.ferry"
run "$FERRY" --no-progress install demo/stories-GGUF:Q8_0 --bundle "$work/b2.ferry" --cache-dir "$hub"
expect_rc 0 "install another quantization from the incremental bundle"
run "$FERRY" --no-progress install demo/stories --bundle "$work/b1.ferry" --dir "$work/plain"
expect_rc 1 "the older bundle's index is a rollback now"
expect_err "rollback refused" "says so"
run "$FERRY" --no-progress install demo/stories --bundle "$work/b2.ferry" --dir "$work/plain"
expect_rc 0 "install a checkpoint into a plain folder"
diff -r "$work/plain" "$DATA/models/llama-stories260K" >/dev/null && ok || bad "the plain folder differs from the source"
run "$FERRY" installed
expect_rc 0 "installed"
expect_out "demo/stories-GGUF:Q4_K_M" "lists the first install"
expect_out "demo/stories-GGUF:Q8_0" "lists the second"
expect_out "$work/plain" "lists the folder, as an absolute path"
run "$FERRY" --json installed
json_valid "$work/out" "installed --json"
run "$FERRY" uninstall demo/stories-GGUF
expect_rc 1 "two installs match"
expect_err "--all" "says how to pick"
rev8=$(cat "$top/refs/main")
run "$FERRY" uninstall demo/stories-GGUF:Q4_K_M
expect_rc 0 "uninstall one quantization"
[ ! -e "$top/blobs/$blob" ] && [ ! -e "$top/snapshots/$rev/stories-Q4_K_M.gguf" ] && ok ||
	bad "the Q4_K_M blob or link is still there"
[ -n "$(ls "$top/snapshots/$rev8/"*Q8_0.gguf 2>/dev/null)" ] && [ -e "$top/refs/main" ] &&
	ok || bad "uninstalling Q4_K_M touched the Q8_0 install"
(cd / && FERRY_HOME="$work/site" "$FERRY" -q uninstall demo/stories) && [ ! -e "$work/plain" ] && ok ||
	bad "uninstall from another folder left the plain install"
run "$FERRY" uninstall demo/stories-GGUF:Q8_0 --cache-dir "$hub"
expect_rc 0 "uninstall the last one"
[ ! -e "$top" ] && ok || bad "the emptied repository folder is still there: $(find "$top" | tr '\n' ' ')"
run "$FERRY" installed
expect_out "nothing is installed" "nothing left"
run "$FERRY" uninstall demo/stories
expect_rc 1 "uninstall what is not installed"
run "$FERRY" uninstall demo/stories --dir "$work/a" --cache-dir "$work/b"
expect_rc 2 "--dir and --cache-dir together"
run "$FERRY" fsck
expect_rc 0 "the store keeps its objects, clean"

echo "bundle: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
