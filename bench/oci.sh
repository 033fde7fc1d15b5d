#!/bin/sh
# make bench (OCI part), on loopback: a ~1 GiB revision (one 1 GiB file and 16 small ones)
# pushed by `ferry push` to Debian's docker-registry and pulled back by `ferry clone oci://`
# (every byte verified), against skopeo copying the same artifact (oci: layout -> registry,
# registry -> oci: layout), each into a fresh registry or folder, best of $RUNS (default 3);
# and serve's registry blob GETs of the big file against nginx serving the same object file
# (curl, one stream). Ratios are baseline time / ferry time. Results: bench/results/oci.txt.
set -eu
FERRY=${1:-build/ferry}
BIG_MB=${BENCH_OCI_MB:-1024}
work=$(mktemp -d /tmp/ferry-bench-oci-XXXXXX)
out=bench/results/oci.txt
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"
mkdir -p bench/results "$work/src"
for c in docker-registry skopeo nginx curl; do
	command -v $c >/dev/null || { echo "bench oci: $c is missing (make deps)" >&2; exit 1; }
done

head -c $((BIG_MB * 1048576)) /dev/urandom >"$work/src/model.safetensors"
i=0
while [ $i -lt 16 ]; do head -c 8192 /dev/urandom >"$work/src/f$i.json"; i=$((i + 1)); done
export FERRY_HOME="$work/up"
"$FERRY" -q init
"$FERRY" -q --no-progress add bench/oci "$work/src" -m bench
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# registry NAME: a fresh docker-registry with its storage under $work/NAME; sets $reg
registry() {
	_p=$(free_port)
	rm -rf "$work/$1"
	mkdir -p "$work/$1"
	printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
		"$work/$1/data" "$_p" >"$work/$1/config.yml"
	docker-registry serve "$work/$1/config.yml" >/dev/null 2>&1 &
	pids="$pids $!"
	reg=127.0.0.1:$_p
	_i=0
	until curl -s -o /dev/null "http://$reg/v2/" || [ $_i -gt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
}
# timed CMD...: sets $t to CMD's wall time in milliseconds
timed() {
	sync
	_t0=$(now_ns)
	"$@" >/dev/null 2>&1 || { echo "bench oci: failed: $*" >&2; exit 1; }
	t=$(ms_since "$_t0")
}
keep() { # keep VAR: VAR = min(VAR, $t) (VAR unset or 0: $t)
	eval "_v=\${$1:-0}"
	if [ "$_v" -eq 0 ] || [ "$t" -lt "$_v" ]; then eval "$1=$t"; fi
}

# the artifact as an oci: layout: skopeo's source for its push
registry seed
"$FERRY" -q push bench/oci "oci://$reg/bench/oci:v1"
skopeo copy -q --src-tls-verify=false "docker://$reg/bench/oci:v1" "oci:$work/layout:v1"
seed=$reg

k=0
while [ $k -lt "${RUNS:-3}" ]; do
	registry "p$k"
	timed "$FERRY" -q push bench/oci "oci://$reg/bench/oci:v1"
	keep push_ferry
	registry "s$k"
	timed skopeo copy -q --dest-tls-verify=false "oci:$work/layout:v1" "docker://$reg/bench/oci:v1"
	keep push_skopeo
	rm -rf "$work/down" "$work/l2"
	FERRY_HOME="$work/down" "$FERRY" -q init
	timed env FERRY_HOME="$work/down" "$FERRY" -q clone "oci://$seed/bench/oci:v1"
	keep pull_ferry
	timed skopeo copy -q --src-tls-verify=false "docker://$seed/bench/oci:v1" "oci:$work/l2:v1"
	keep pull_skopeo
	k=$((k + 1))
done

# serve's registry blob GET against nginx serving the same object file
"$FERRY" -q key generate
"$FERRY" -q publish bench/oci --force --reason bench >/dev/null 2>&1
"$FERRY" serve --listen 127.0.0.1:0 --port-file "$work/port" 2>/dev/null &
pids="$pids $!"
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sha=$(sha256sum "$work/src/model.safetensors" | cut -c1-64)
np=$(free_port)
mkdir -p "$work/ngx"
[ "$(id -u)" -eq 0 ] && nuser="user root;" || nuser=""
cat >"$work/ngx/nginx.conf" <<NGX
$nuser
worker_processes 1;
error_log $work/ngx/error.log;
pid $work/ngx/nginx.pid;
events { worker_connections 64; }
http {
	access_log off;
	sendfile on;
	client_body_temp_path $work/ngx; proxy_temp_path $work/ngx; fastcgi_temp_path $work/ngx;
	uwsgi_temp_path $work/ngx; scgi_temp_path $work/ngx;
	server { listen 127.0.0.1:$np; location /objects/ { alias $work/up/objects/; } }
}
NGX
nginx -c "$work/ngx/nginx.conf" -p "$work/ngx"
pids="$pids $(cat "$work/ngx/nginx.pid")"
blob="http://127.0.0.1:$(cat "$work/port")/v2/bench/oci/blobs/sha256:$sha"
obj="http://127.0.0.1:$np/objects/sha256/$(echo "$sha" | cut -c1-2)/$(echo "$sha" | cut -c3-)"
curl -sf -o /dev/null "$blob" || { echo "bench oci: serve's blob GET failed" >&2; exit 1; }
k=0
while [ $k -lt "${GET_RUNS:-5}" ]; do # a GET is short: more runs against this VM's noise
	timed curl -sf -o /dev/null "$blob"
	keep get_ferry
	timed curl -sf -o /dev/null "$obj"
	keep get_nginx
	k=$((k + 1))
done

size=$(du -sb "$work/src" | cut -f1)
{
	echo "# ferry push/clone oci:// and serve's registry blobs ($(date -u +%Y-%m-%d), $(nproc) cores;" \
		"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
	echo "# CPU flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
		grep -E '^(avx2|avx512f|sha_ni)$' | tr '\n' ' ')"
	echo "# revision: $(awk -v b="$size" 'BEGIN {printf "%.2f", b / 1073741824}') GiB (one ${BIG_MB} MiB file, 16 of 8 KiB);" \
		"loopback docker-registry $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null)," \
		"skopeo $(dpkg-query -W -f='${Version}' skopeo 2>/dev/null); best of ${RUNS:-3} (GETs: ${GET_RUNS:-5}); ratio = baseline ms / ferry ms"
	printf "%-40s %10s %12s %7s\n" what ferry_ms baseline_ms ratio
	printf "%-40s %10s %12s %7s\n" "push (skopeo copy oci: -> registry)" "$push_ferry" "$push_skopeo" "$(ratio "$push_skopeo" "$push_ferry")"
	printf "%-40s %10s %12s %7s\n" "clone oci:// (skopeo copy -> oci:)" "$pull_ferry" "$pull_skopeo" "$(ratio "$pull_skopeo" "$pull_ferry")"
	printf "%-40s %10s %12s %7s\n" "serve blob GET (nginx, same file)" "$get_ferry" "$get_nginx" "$(ratio "$get_nginx" "$get_ferry")"
} | tee "$out"
