#!/bin/sh
# make bench (clone part), on loopback: one 2 GiB file and 64 small files served by `ferry
# serve`, fetched by `ferry clone` (verification included: every byte hashed), by curl (one
# stream, no verification) and by aria2c (-x8 -s8 for the big file, without and then with its
# own --checksum verification; -j8 for the small ones), and the big file copied by cp and
# hashed alone (the floor of any verified fetch), in the same run. Ratios are throughput
# ratios (baseline time / ferry time). Results: bench/results/clone.txt.
set -eu
FERRY=${1:-build/ferry}
BIG_MB=${BENCH_CLONE_MB:-2048}
work=$(mktemp -d /tmp/ferry-bench-clone-XXXXXX)
out=bench/results/clone.txt
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p bench/results "$work/src/small"

head -c $((BIG_MB * 1048576)) /dev/urandom >"$work/src/big.safetensors"
i=0
while [ $i -lt 64 ]; do head -c 65536 /dev/urandom >"$work/src/small/f$i.json"; i=$((i + 1)); done
FERRY_HOME="$work/up" "$FERRY" -q init
FERRY_HOME="$work/up" "$FERRY" -q --no-progress add bench/clone "$work/src" -m bench
FERRY_HOME="$work/up" "$FERRY" serve --all --listen 127.0.0.1:0 --port-file "$work/port" \
	--threads 4 2>/dev/null &
pids="$pids $!"
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
url="http://127.0.0.1:$(cat "$work/port")"
big="$url/bench/clone/resolve/main/big.safetensors"

# new_store: an empty store in $work/down (made before a clone's clock starts)
new_store() {
	rm -rf "$work/down"
	FERRY_HOME="$work/down" "$FERRY" -q init
	sync
}
ms() { # ms CMD...: wall time in milliseconds (now_ns and ms_since: bench/lib.sh)
	_t0=$(now_ns)
	"$@" >/dev/null 2>&1
	ms_since "$_t0"
}
fresh_clone() {
	FERRY_HOME="$work/down" "$FERRY" -q --no-progress clone bench/clone --endpoint "$url" -j 8
}
fresh_clone_big() {
	FERRY_HOME="$work/down" "$FERRY" -q --no-progress clone bench/clone --endpoint "$url" \
		-j 8 --include big.safetensors
}
curl_big() { curl -s -o "$work/curl.bin" "$big"; sync -f "$work/curl.bin"; }
aria_big() {
	rm -f "$work/aria.bin"
	aria2c -q -x8 -s8 -k1M --file-allocation=none -d "$work" -o aria.bin "$big"
	sync -f "$work/aria.bin"
}
aria_big_verified() {
	rm -f "$work/aria.bin"
	aria2c -q -x8 -s8 -k1M --file-allocation=none --checksum="sha-256=$sha" -d "$work" -o aria.bin "$big"
	sync -f "$work/aria.bin"
}
# the 64 small files: ferry, aria2c (8 at once, its connection pool) and curl (one process, one
# reused connection, one after another)
fresh_clone_small() {
	FERRY_HOME="$work/down" "$FERRY" -q --no-progress clone bench/clone --endpoint "$url" \
		-j 8 --include 'small/*'
}
aria_small() {
	rm -rf "$work/aria-small"
	aria2c -q -j8 -x1 --file-allocation=none -d "$work/aria-small" -i "$work/small.list"
	sync -f "$work/aria-small/f0.json"
}
curl_small() {
	rm -rf "$work/curl-small"
	mkdir -p "$work/curl-small"
	(cd "$work/curl-small" && curl -s --remote-name-all $(cat "$work/small.list"))
	sync -f "$work/curl-small/f0.json"
}
hash_big() { openssl dgst -sha256 "$work/src/big.safetensors"; }
cp_big() { rm -f "$work/cp.bin"; cp "$work/src/big.safetensors" "$work/cp.bin"; sync -f "$work/cp.bin"; }
. "$(dirname "$0")/lib.sh"

cat "$work/src/big.safetensors" >/dev/null # warm the page cache for every contender
new_store
t_ferry=$(ms fresh_clone_big)
t_curl=$(ms curl_big)
t_aria=$(ms aria_big)
sha=$(openssl dgst -sha256 -r "$work/src/big.safetensors" | cut -d' ' -f1)
t_ariav=$(ms aria_big_verified)
t_cp=$(ms cp_big)
t_hash=$(ms hash_big)
new_store
t_all=$(ms fresh_clone)
i=0
while [ $i -lt 64 ]; do echo "$url/bench/clone/resolve/main/small/f$i.json"; i=$((i + 1)); done >"$work/small.list"
new_store
t_small=$(ms fresh_clone_small)
t_small_aria=$(ms aria_small)
t_small_curl=$(ms curl_small)
{
	echo "# ferry clone on loopback ($(date -u +%Y-%m-%d), $(nproc) cores, a ${BIG_MB} MiB file; ratio = baseline ms / ferry ms)"
	printf "%-44s %10s %10s %8s\n" case baseline_ms ferry_ms ratio
	printf "%-44s %10s %10s %8s\n" "clone (verified) vs curl, one stream" "$t_curl" "$t_ferry" "$(ratio "$t_curl" "$t_ferry")"
	printf "%-44s %10s %10s %8s\n" "clone (verified) vs aria2c -x8 -s8" "$t_aria" "$t_ferry" "$(ratio "$t_aria" "$t_ferry")"
	printf "%-44s %10s %10s %8s\n" "clone (verified) vs aria2c, --checksum sha-256" "$t_ariav" "$t_ferry" "$(ratio "$t_ariav" "$t_ferry")"
	printf "%-44s %10s %10s %8s\n" "clone (verified) vs cp" "$t_cp" "$t_ferry" "$(ratio "$t_cp" "$t_ferry")"
	printf "%-44s %10s %10s %8s\n" "clone (verified) vs SHA-256 of the file alone" "$t_hash" "$t_ferry" "$(ratio "$t_hash" "$t_ferry")"
	printf "%-44s %10s %10s %8s\n" "64 x 64 KiB: clone vs aria2c -j8" "$t_small_aria" "$t_small" "$(ratio "$t_small_aria" "$t_small")"
	printf "%-44s %10s %10s %8s\n" "64 x 64 KiB: clone vs curl, one connection" "$t_small_curl" "$t_small" "$(ratio "$t_small_curl" "$t_small")"
	echo "# the big file and 64 small files in one clone: ${t_all} ms"
	echo "# SHA-256 alone (openssl dgst, same libcrypto, file in the page cache) is the floor of a"
	echo "# verified clone: one file's digest is one sequential chain. CPU SHA extensions:" \
		"$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
} | tee "$out"
