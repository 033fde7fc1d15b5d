#!/bin/sh
# Integration tests of the store verbs with the real binary (and its sanitizer build):
# every verb, ids equal to real git commits, corruption, crashes (SIGKILL at random points),
# concurrent writers, signatures. Ends with "N passed, N failed".
set -u

FERRY=${FERRY:?set FERRY}
FERRY_SAN=${FERRY_SAN:-}
DATA=${FERRY_TEST_DATA:-tests/data}
KILLS=${STORE_KILLS:-25}
export SOURCE_DATE_EPOCH=1700000000

work=$(mktemp -d /tmp/ferry-store-XXXXXX)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
json_ok() { json_valid "$work/out" "$1"; }

# --- every verb, with both binaries --------------------------------------------------------
flow() { # flow BIN
	bin=$1
	name=$(basename "$bin")
	export FERRY_HOME="$work/$name/store"
	src="$DATA/models/llama-stories260K"
	run "$bin" init
	expect_rc 0 "$name init"
	run "$bin" add tiny/stories "$src" -m "first import"
	expect_rc 0 "$name add"
	id=$(sed -E 's/.*@([0-9a-f]{40}).*/\1/' "$work/out")
	run "$bin" add tiny/stories "$src" -m "again"
	expect_out "no change" "$name add unchanged"
	run "$bin" add qwen/moe "$DATA/models/qwen3-moe-tiny"
	expect_rc 0 "$name add sharded"
	run "$bin" ls
	expect_out "tiny/stories" "$name ls"
	run "$bin" ls tiny/stories
	expect_out "lfs model.safetensors" "$name ls files with lfs flag"
	run "$bin" --json ls
	json_ok "$name ls --json"
	run "$bin" show "tiny/stories@${id%??????????????????????????????}"
	expect_rc 0 "$name show by id prefix"
	expect_out "first import" "$name show message"
	expect_out "origin   {\"kind\":\"local\"" "$name show origin"
	run "$bin" show tiny/stories --json
	json_ok "$name show --json"
	run "$bin" log tiny/stories
	expect_out "revision $id" "$name log"
	run "$bin" tag tiny/stories v1
	expect_rc 0 "$name tag"
	run "$bin" tag tiny/stories v1
	expect_rc 1 "$name tag exists"
	run "$bin" checkout tiny/stories@v1 "$work/$name/co"
	expect_rc 0 "$name checkout"
	if diff -r "$src" "$work/$name/co" >/dev/null; then ok; else bad "$name checkout differs"; fi
	run "$bin" checkout --copy tiny/stories "$work/$name/co2"
	expect_out "20 copied" "$name checkout --copy"
	run "$bin" verify tiny/stories qwen/moe
	expect_rc 0 "$name verify"
	expect_out "20 files" "$name verify summary"
	run "$bin" verify --json --deep tiny/stories
	json_ok "$name verify --json"
	run "$bin" fsck
	expect_out "clean" "$name fsck"
	run "$bin" key generate
	expect_rc 0 "$name key generate"
	if [ "$(stat -c %a "$FERRY_HOME/keys/signing.key")" = 600 ]; then ok; else bad "$name key mode"; fi
	run "$bin" sign tiny/stories
	expect_rc 0 "$name sign"
	run "$bin" verify tiny/stories
	expect_rc 0 "$name verify signed"
	run "$bin" key list
	expect_out "signing" "$name key list"
	run "$bin" key export
	expect_out "BEGIN PUBLIC KEY" "$name key export"
	run "$bin" rm tiny/stories@v1
	expect_out "removed tag" "$name rm tag"
	run "$bin" rm qwen/moe
	expect_rc 0 "$name rm repo"
	run "$bin" gc
	expect_out "removed 19" "$name gc"
	run "$bin" fsck
	expect_rc 0 "$name fsck after gc"
	run "$bin" show nosuch/repo
	expect_rc 1 "$name show missing repo"
	expect_err "no repository 'nosuch/repo'" "$name missing repo message"
	run "$bin" add bad..name/x "$src"
	expect_rc 2 "$name bad repo name"
}
flow "$FERRY"
[ -n "$FERRY_SAN" ] && flow "$FERRY_SAN"
export FERRY_HOME="$work/store"
"$FERRY" -q init

# --- revision ids are real git commit ids ---------------------------------------------------
if command -v git >/dev/null; then
	g="$work/git"
	cp -r "$DATA/models/qwen2-shakespeare" "$g"
	chmod -R u+w "$g"
	"$FERRY" -q add org/qwen "$g" -m "import"
	(
		cd "$g" || exit 1
		for f in $(find . -type f | sed 's|^\./||'); do
			case "$f" in
			*.safetensors | *.bin | *.model | *.gguf)
				printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %s\n' \
					"$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" >"$f.ptr"
				mv "$f.ptr" "$f" ;;
			esac
		done
		git init -q && git add -A &&
			GIT_AUTHOR_DATE="@0 +0000" GIT_COMMITTER_DATE="@0 +0000" git -c user.name=ferry \
				-c user.email=ferry@localhost commit -q -m import
	)
	want=$(git -C "$g" rev-parse HEAD)
	run "$FERRY" show org/qwen
	expect_out "revision $want" "revision id equals git's commit id"
fi

# --- corruption ------------------------------------------------------------------------------
"$FERRY" -q add org/c "$DATA/models/qwen3-tiny"
obj=$(find "$FERRY_HOME/objects" -type f | head -1)
chmod u+w "$obj"
printf 'X' | dd of="$obj" bs=1 seek=7 conv=notrunc 2>/dev/null
run "$FERRY" verify org/c org/qwen
expect_rc 1 "verify a flipped byte"
expect_err "hash mismatch" "verify names the mismatch"
run "$FERRY" fsck
expect_rc 1 "fsck a flipped byte"
expect_err "corrupt object" "fsck names the corrupt object"
run "$FERRY" fsck --repair
expect_err "revision broken" "fsck --repair names the broken revisions"
run "$FERRY" verify org/c org/qwen
expect_err "missing object" "verify a deleted object"
"$FERRY" -q add org/c "$DATA/models/qwen3-tiny"
"$FERRY" -q add org/qwen "$DATA/models/qwen2-shakespeare" -m import 2>/dev/null
run "$FERRY" fsck
expect_rc 0 "re-adding restores the store"
rev=$(ls "$FERRY_HOME/repos/org/c/revisions" | head -1)
chmod u+w "$FERRY_HOME/repos/org/c/revisions/$rev"
truncate -s 200 "$FERRY_HOME/repos/org/c/revisions/$rev"
run "$FERRY" fsck
expect_err "bad manifest" "fsck a truncated manifest"
run "$FERRY" show org/c
expect_rc 1 "show a truncated manifest"
rm "$FERRY_HOME/repos/org/c/revisions/$rev"
run "$FERRY" fsck
expect_err "dangling ref" "fsck a dangling ref"
"$FERRY" -q rm org/c

# --- verify on file paths ----------------------------------------------------------------------
head -c 3000 "$DATA/models/stories260K/stories260K.gguf" >"$work/cut.gguf"
run "$FERRY" verify "$work/cut.gguf"
expect_rc 1 "verify a truncated GGUF file"
expect_err "bad structure" "verify names the structural problem"
run "$FERRY" verify "$DATA/models/qwen3-tiny/model.safetensors" "$DATA/models/qwen3-tiny/config.json"
expect_rc 0 "verify valid files"
run "$FERRY" verify "$work/nope.bin"
expect_rc 1 "verify a target that is neither a file nor a revision"

# --- signatures --------------------------------------------------------------------------------
"$FERRY" -q key generate
"$FERRY" -q sign org/qwen
run "$FERRY" verify org/qwen
expect_rc 0 "verify signed"
other="$work/other"
FERRY_HOME=$other "$FERRY" -q init
FERRY_HOME=$other "$FERRY" -q key generate
cp "$FERRY_HOME/keys/signing.key" "$work/own.key"
cp "$other/keys/signing.key" "$FERRY_HOME/keys/signing.key"
"$FERRY" -q sign org/qwen
cp "$work/own.key" "$FERRY_HOME/keys/signing.key"
run "$FERRY" verify org/qwen
expect_rc 1 "signature by an untrusted key"
expect_err "untrusted-key signature" "untrusted key reported"
FERRY_HOME=$other "$FERRY" key export -o "$work/other.pub"
"$FERRY" -q key trust "$work/other.pub"
run "$FERRY" verify org/qwen
expect_rc 0 "trusted key"
sigs=$(ls "$FERRY_HOME"/repos/org/qwen/signatures/*.json)
node -e '
const fs = require("fs"); const p = process.argv[1]; const j = JSON.parse(fs.readFileSync(p));
j.signatures.push(j.signatures[0]); fs.writeFileSync(p, JSON.stringify(j));' "$sigs"
run "$FERRY" verify org/qwen
expect_rc 1 "duplicated signature"
expect_err "duplicated signature" "duplicate reported"
"$FERRY" -q sign org/qwen
man=$(ls "$FERRY_HOME"/repos/org/qwen/revisions/*.json)
chmod u+w "$man"
printf ' ' >>"$man"
run "$FERRY" verify org/qwen
expect_rc 1 "tampered manifest"
expect_err "invalid signature" "tampered manifest: invalid signature"
"$FERRY" -q rm org/qwen

# --- crashes: add killed at random points, fsck clean after each, result equals a clean run ---
big="$work/big"
mkdir -p "$big/shards"
cp -r "$DATA/models/qwen3-moe-tiny/." "$big/"
i=0
while [ $i -lt 24 ]; do
	head -c 3000000 /dev/urandom >"$big/shards/part-$i.safetensors"
	i=$((i + 1))
done
ref="$work/ref-store"
export FERRY_HOME="$work/crash-store"
"$FERRY" -q init
FERRY_HOME=$ref "$FERRY" -q init
t0=$(date +%s%N)
FERRY_HOME=$ref "$FERRY" -q add org/big "$big" -m crash -j 2
span=$((($(date +%s%N) - t0) / 1000000 * 6 / 5 + 1)) # ms: the whole add and a bit more
k=0
clean=0
hit=0
while [ $k -lt "$KILLS" ]; do
	"$FERRY" -q --no-progress add org/big "$big" -m crash -j 2 &
	pid=$!
	sleep "$(awk -v s=$k -v span=$span 'BEGIN {srand(s * 7919 + 1); printf "%.3f", rand() * span / 1000}')"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	[ $? -eq 137 ] && hit=$((hit + 1))
	if "$FERRY" -q fsck -j 2 >/dev/null 2>"$work/fsck.err"; then
		clean=$((clean + 1))
	else
		bad "fsck after kill $k: $(head -c 300 "$work/fsck.err")"
	fi
	k=$((k + 1))
done
[ "$clean" -eq "$KILLS" ] && ok
echo "store: $hit of $KILLS SIGKILLs (at random points of a ${span} ms add) interrupted it; fsck clean after $clean"
"$FERRY" -q add org/big "$big" -m crash
a=$(cd "$FERRY_HOME" && find objects repos -type f | sort | xargs sha256sum | sha256sum)
b=$(cd "$ref" && find objects repos -type f | sort | xargs sha256sum | sha256sum)
if [ "$a" = "$b" ]; then ok; else bad "store after $KILLS kills differs from an uninterrupted one"; fi

# --- two writers at once: one waits, both land, the store stays valid --------------------------
"$FERRY" -q add org/one "$DATA/models/qwen3-tiny" &
p1=$!
"$FERRY" -q add org/two "$DATA/models/deepseek-v3-tiny" &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ]; then ok; else bad "concurrent adds: exits $r1 $r2"; fi
run "$FERRY" ls
expect_out "org/one" "first concurrent add landed"
expect_out "org/two" "second concurrent add landed"
run "$FERRY" fsck
expect_rc 0 "fsck after concurrent adds"

echo "store: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
