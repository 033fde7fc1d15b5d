# The starting stores, inputs and operations of the crash-consistency tests (sourced by
# tests/crash/run.sh and tests/crash/diskfull.sh): FERRY and FERRY_TEST_DATA as there; sets
# $work (removed on exit), serves a mirror of demo/big for clone and install, and defines tpl-<op> starting
# stores, op NAME STORE and state STORE.
unset FERRY_MIRROR HF_ENDPOINT
FERRY=${FERRY:?set FERRY}
case $FERRY in /*) ;; *) FERRY=$PWD/$FERRY ;; esac
DATA=${FERRY_TEST_DATA:-tests/data}
case $DATA in /*) ;; *) DATA=$PWD/$DATA ;; esac
work=$(mktemp -d /tmp/ferry-crash-XXXXXX)
srv=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
. "$(dirname "$0")/../cli/lib.sh"
# manifests record their time: fixed, an interrupted and an uninterrupted run write the same bytes
export SOURCE_DATE_EPOCH=1790000000

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- the starting stores and inputs ------------------------------------------------------------
echo "crash: preparing inputs in $work"
mkdir -p "$work/in"
cp -r "$DATA/models/llama-stories260K" "$work/in/big"
head -c 25165824 /dev/urandom >"$work/in/big/shard-1.bin"
head -c 25165824 /dev/urandom >"$work/in/big/shard-2.bin"
# a mirror publishing demo/big, for import (a bundle of it) and clone (served)
mirror="$work/mirror"
FERRY_HOME=$mirror "$FERRY" -q init
FERRY_HOME=$mirror "$FERRY" -q key generate
FERRY_HOME=$mirror "$FERRY" -q --no-progress add demo/big "$work/in/big" -m import
FERRY_HOME=$mirror "$FERRY" -q --no-progress publish demo/big --force --reason "crash test fixture" >/dev/null 2>&1
FERRY_HOME=$mirror "$FERRY" -q --no-progress bundle create --all -o "$work/in/big.ferry"
start_serve "$mirror" --all
srv=$serve_pid U=$serve_url

tpl() { # tpl NAME: an empty store
	FERRY_HOME="$work/tpl-$1" "$FERRY" -q init
}
tpl add
tpl clone
tpl import
FERRY_HOME="$work/tpl-import" "$FERRY" -q key trust "$mirror/keys/signing.pub"
tpl checkout
FERRY_HOME="$work/tpl-checkout" "$FERRY" -q --no-progress add demo/big "$work/in/big" -m import
tpl install
FERRY_HOME="$work/tpl-install" "$FERRY" -q key trust "$mirror/keys/signing.pub"
tpl convert
FERRY_HOME="$work/tpl-convert" "$FERRY" -q --no-progress add demo/shake "$DATA/models/qwen2-shakespeare" -m import
tpl quant
FERRY_HOME="$work/tpl-quant" "$FERRY" -q --no-progress add demo/shake "$DATA/models/qwen2-shakespeare" -m import
FERRY_HOME="$work/tpl-quant" "$FERRY" -q --no-progress convert demo/shake --outtype f32
tpl publish
FERRY_HOME="$work/tpl-publish" "$FERRY" -q key generate
FERRY_HOME="$work/tpl-publish" "$FERRY" -q --no-progress add demo/shake "$DATA/models/qwen2-shakespeare" -m import
FERRY_HOME="$work/tpl-publish" "$FERRY" -q --no-progress convert demo/shake --outtype q8_0

# op NAME STORE: the operation; ferry replaces the shell it runs in (exec), so that the pid of
# `op ... &` is ferry's own. Call it in a subshell: ( op NAME STORE ).
op() {
	export FERRY_HOME="$2"
	case $1 in
	add) exec "$FERRY" -q --no-progress add demo/big "$work/in/big" -m import ;;
	import) exec "$FERRY" -q --no-progress bundle import "$work/in/big.ferry" ;;
	clone) exec "$FERRY" -q --no-progress clone demo/big --endpoint "$U" ;;
	checkout) exec "$FERRY" -q checkout demo/big "$2/out" --copy ;;
	install) exec "$FERRY" -q --no-progress install demo/big --from "$U" --dir "$2/out" ;;
	convert) exec "$FERRY" -q --no-progress convert demo/shake --outtype f32 ;;
	quant) exec "$FERRY" -q --no-progress quant demo/shake-GGUF --type Q8_0 ;;
	publish) exec "$FERRY" -q --no-progress publish demo/shake-GGUF ;;
	esac
}

# state STORE: what must be the same after a crash and a re-run as after one clean run
state() {
	(
		cd "$1" || exit 1
		find objects -type f | sort
		find repos -type f ! -path '*/verify/*' ! -path '*/smoke/*' | sort | xargs -r sha256sum
		[ -d out ] && find out -type f | sort | xargs -r sha256sum # what install, checkout laid out
		if [ -f published/current ]; then
			node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));for(const [k,r] of Object.entries(j.repos)){console.log(k,JSON.stringify(r.refs));for(const [id,e] of Object.entries(r.revisions))console.log(k,id,e.manifest_sha256)}' \
				"published/index-$(cat published/current).json" | sort
		fi
	)
}
