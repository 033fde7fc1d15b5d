#!/bin/sh
# Fault injection matrix (docs/RELIABILITY.md): `clone` from a hub and `install` from a ferry
# mirror, each through tests/node/faultproxy.mjs, for every fault (reset, 503, 429, truncate,
# corrupt, stall, redirect) x three file size classes (small files; one 6 MiB file in one GET;
# one 24 MiB file in ranges). A fault on one request must end in a correct result (the store
# verifies, the installed bytes are the source's); the same fault on every request must end in
# exit 1 with one line on stderr naming what failed. After each run fsck finds no corrupt object.
# Environment: FERRY, FAULT_SIZES (default "small medium large"; make test runs "medium", make
# faults all three). Ends with "faults: N passed, N failed".
set -u
unset FERRY_MIRROR HF_ENDPOINT
FERRY=${FERRY:?set FERRY}
DATA=${FERRY_TEST_DATA:-tests/data}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-faults-XXXXXX)
srv=
proxy_pid=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; [ -n "$proxy_pid" ] && kill $proxy_pid 2>/dev/null; rm -rf "$work"' EXIT
. "$here/lib.sh"

# the upstream: three repositories, published (install needs the signed index)
up="$work/up"
export FERRY_HOME="$up"
"$FERRY" -q init
"$FERRY" -q key generate
mkdir -p "$work/in/medium" "$work/in/large"
head -c 6291456 /dev/urandom >"$work/in/medium/weights.bin"
head -c 25165824 /dev/urandom >"$work/in/large/weights.bin"
"$FERRY" -q --no-progress add sizes/small "$DATA/models/llama-stories260K" -m small
"$FERRY" -q --no-progress add sizes/medium "$work/in/medium" -m medium
"$FERRY" -q --no-progress add sizes/large "$work/in/large" -m large
for r in small medium large; do
	"$FERRY" -q --no-progress publish sizes/$r --force --reason "fault test fixture" >/dev/null 2>&1
done
start_serve "$up"
srv=$serve_pid U=$serve_url

proxy() { start_proxy "$U" "$1"; } # sets $proxy_url and $proxy_pid
stop_proxy() {
	kill $proxy_pid 2>/dev/null
	wait $proxy_pid 2>/dev/null
	proxy_pid=
}
source_dir() { # the files of sizes/NAME
	case $1 in small) echo "$DATA/models/llama-stories260K" ;; *) echo "$work/in/$1" ;; esac
}
# the transfer options: small retries and stall timeout keep a persistent fault short; the
# large file goes in 4 MiB ranges
opts="--retries 2 --stall-timeout 1 -j 2"
clone_opts() { [ "$1" = large ] && echo "--range-size 4 --ranged-min 8" || true; }
# refused WHAT PATH: the last command failed with one line on stderr and left PATH absent
refused() {
	expect_rc 1 "$1 on every request"
	[ "$(wc -l <"$work/err")" -eq 1 ] && ok || bad "$1: not one line: $(cat "$work/err")"
	[ ! -e "$2" ] && ok || bad "$1: $2 was left behind"
}

for size in ${FAULT_SIZES:-small medium large}; do
	for fault in reset 503 429 truncate corrupt stall loop; do
		for mode in once always; do
			spec=$fault
			[ $mode = always ] && spec="$fault*"
			[ "$spec" = "loop" ] && what="a redirect" || what="$spec"
			# clone
			s="$work/s"
			rm -rf "$s"
			FERRY_HOME=$s "$FERRY" -q init
			proxy "$spec"
			# shellcheck disable=SC2046
			run env FERRY_HOME="$s" "$FERRY" --no-progress clone sizes/$size --endpoint "$proxy_url" $opts $(clone_opts $size)
			stop_proxy
			if [ $mode = once ]; then
				expect_rc 0 "clone $size through $what"
				run env FERRY_HOME="$s" "$FERRY" --no-progress verify sizes/$size
				expect_rc 0 "clone $size through $what: the revision verifies"
			else
				refused "clone $size through $what" "$s/repos/sizes/$size"
			fi
			run env FERRY_HOME="$s" "$FERRY" fsck
			expect_rc 0 "clone $size, $what: no corrupt object"
			# install from the mirror
			s="$work/site"
			rm -rf "$s" "$work/inst"
			FERRY_HOME=$s "$FERRY" -q init
			FERRY_HOME=$s "$FERRY" -q key trust "$up/keys/signing.pub"
			proxy "$spec"
			# shellcheck disable=SC2086
			run env FERRY_HOME="$s" "$FERRY" --no-progress install sizes/$size --from "$proxy_url" --dir "$work/inst" $opts
			stop_proxy
			if [ $mode = once ]; then
				expect_rc 0 "install $size through $what"
				diff -r "$work/inst" "$(source_dir $size)" >/dev/null && ok ||
					bad "install $size through $what: the installed files differ"
			else
				refused "install $size through $what" "$work/inst"
			fi
			run env FERRY_HOME="$s" "$FERRY" fsck
			expect_rc 0 "install $size, $what: no corrupt object"
		done
	done
done
echo "faults: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
