#!/bin/sh
# make bench (serve part): `ferry serve` against nginx serving the same files statically, in the
# same run, at 16 and 64 connections (wrk for GETs, ab -i for HEADs):
#   large-file GETs (a 64 MiB file): bytes/s        (goal >= 0.9x nginx)
#   HEAD metadata requests on /resolve: requests/s   (goal >= 0.8x nginx)
# nginx serves a hardlinked checkout of the same objects (same page cache). Results:
# bench/results/serve.txt.
set -eu
FERRY=${1:-build/ferry}
SECS=${BENCH_SECONDS:-8}
# under /tmp: nginx's workers (user nobody) must be able to read it
work=$(mktemp -d /tmp/ferry-bench-serve-XXXXXX)
chmod 755 "$work"
out=bench/results/serve.txt
mkdir -p bench/results
pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export FERRY_HOME="$work/store"

free_port() { node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})'; }

mkdir -p "$work/src"
head -c 67108864 /dev/urandom >"$work/src/big.bin"
cp tests/data/models/llama-stories260K/config.json "$work/src/config.json"
"$FERRY" -q init
"$FERRY" -q --no-progress add bench/serve "$work/src" -m bench
"$FERRY" -q checkout bench/serve "$work/www"

"$FERRY" serve --all --listen 127.0.0.1:0 --port-file "$work/port" --threads 4 \
	--max-connections 4096 2>"$work/serve.err" &
pids="$pids $!"
nport=$(free_port)
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	client_body_temp_path $work/nginx/tmp;
	server { listen 127.0.0.1:$nport; root $work/www; }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids="$pids $!"
sleep 1
fport=$(cat "$work/port")

# rate URL CONNS: "requests/s bytes/s" of GETs, from wrk
rate() {
	wrk -t 2 -c "$2" -d "${SECS}s" "$1" 2>/dev/null | awk '
		/^Requests\/sec:/ {r = $2}
		/^Transfer\/sec:/ {v = $2; u = v; gsub(/[0-9.]/, "", u); gsub(/[A-Za-z]/, "", v);
			m = (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : 1;
			b = v * m}
		END {printf "%.0f %.0f\n", r, b}'
}
# heads URL CONNS: HEAD requests/s from ab (wrk cannot parse bodiless HEAD answers)
heads() {
	ab -q -k -i -c "$2" -t "$SECS" -n 10000000 "$1" 2>/dev/null |
		awk '/^Requests per second:/ {printf "%.0f\n", $4}'
}
. "$(dirname "$0")/lib.sh"

f_big="http://127.0.0.1:$fport/bench/serve/resolve/main/big.bin"
n_big="http://127.0.0.1:$nport/big.bin"
f_small="http://127.0.0.1:$fport/bench/serve/resolve/main/config.json"
n_small="http://127.0.0.1:$nport/config.json"
{
	echo "# ferry serve vs nginx ($(date -u +%Y-%m-%d), $(nproc) cores, wrk -t2 ${SECS}s each; ratio = ferry / nginx)"
	printf "%-28s %6s %16s %16s %8s\n" case conns nginx ferry ratio
	for c in 16 64; do
		set -- $(rate "$n_big" $c)
		nb=$2
		set -- $(rate "$f_big" $c)
		fb=$2
		printf "%-28s %6s %14.0fMB %14.0fMB %8s\n" "GET 64 MiB file (bytes/s)" $c \
			"$(awk -v x=$nb 'BEGIN {print x / 1048576}')" "$(awk -v x=$fb 'BEGIN {print x / 1048576}')" "$(ratio $fb $nb)"
		nh=$(heads "$n_small" $c)
		fh=$(heads "$f_small" $c)
		printf "%-28s %6s %16s %16s %8s\n" "HEAD /resolve (requests/s)" $c "$nh" "$fh" "$(ratio $fh $nh)"
	done
} | tee "$out"
