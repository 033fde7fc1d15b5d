# Shared helpers of the CLI test scripts (sourced). They count into $pass and $fail and keep the
# last command's output in $work/out and $work/err.
pass=0
fail=0
# A sanitizer report must not look like ferry's own "failure" exit status 1.
export ASAN_OPTIONS="detect_leaks=1:exitcode=99"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=99"

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*" >&2
}
# run CMD...: runs with stdout/stderr captured in $work/out, $work/err; sets $rc.
run() {
	"$@" >"$work/out" 2>"$work/err"
	rc=$?
}
expect_rc() { # expect_rc WANT DESCRIPTION
	if [ "$rc" -eq "$1" ]; then ok; else bad "$2: exit $rc, wanted $1: $(head -c 400 "$work/err")"; fi
}
expect_err() { # expect_err TEXT DESCRIPTION
	if grep -qF -- "$1" "$work/err"; then ok; else bad "$2: stderr lacks '$1': $(head -c 400 "$work/err")"; fi
}
expect_out() { # expect_out TEXT DESCRIPTION
	if grep -qF -- "$1" "$work/out"; then ok; else bad "$2: stdout lacks '$1': $(head -c 400 "$work/out")"; fi
}
json_valid() { # json_valid FILE DESCRIPTION
	if node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$1" 2>/dev/null; then
		ok
	else
		bad "$2: not valid JSON"
	fi
}
# stories_store: a store in $FERRY_HOME holding demo/stories (the fixture checkpoint) and
# demo/stories-GGUF (its F32 conversion, then a Q4_K_M quantization); uses $work/gguf.
stories_store() {
	"$FERRY" -q init
	"$FERRY" -q --no-progress add demo/stories "$DATA/models/llama-stories260K" -m import
	mkdir "$work/gguf"
	"$FERRY" -q convert "$DATA/models/llama-stories260K" -o "$work/gguf/stories-f32.gguf" --outtype f32
	"$FERRY" -q --no-progress add demo/stories-GGUF "$work/gguf" -m import
	"$FERRY" -q --no-progress quant demo/stories-GGUF --type Q4_K_M 2>/dev/null
}
# start_node SCRIPT ARGS...: a node server that prints its loopback port; sets $node_pid and
# $node_url once it listens (uses $work/node.port).
start_node() {
	rm -f "$work/node.port"
	node "$@" >"$work/node.port" &
	node_pid=$!
	i=0
	while [ ! -s "$work/node.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	node_url="http://127.0.0.1:$(cat "$work/node.port")"
}
# start_proxy UPSTREAM FAULTS: tests/node/faultproxy.mjs in front of UPSTREAM; sets $proxy_url
# and $proxy_pid.
start_proxy() {
	start_node "$(dirname "$0")/../node/faultproxy.mjs" "$1" "$2"
	proxy_pid=$node_pid
	proxy_url=$node_url
}
# start_serve STORE ARGS...: `ferry serve ARGS` over STORE on a free loopback port; sets
# $serve_pid and $serve_url (stderr in $work/serve.err).
start_serve() {
	rm -f "$work/port"
	_store=$1
	shift
	FERRY_HOME="$_store" "$FERRY" serve --listen 127.0.0.1:0 --port-file "$work/port" "$@" \
		2>"$work/serve.err" &
	serve_pid=$!
	i=0
	while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	serve_url="http://127.0.0.1:$(cat "$work/port")"
}

# private_mounts CMD...: CMD in a private mount namespace (a user namespace as well when not
# root), where it may mount without touching the rest of the system
private_mounts() {
	if [ "$(id -u)" -eq 0 ]; then
		unshare --mount --propagation private "$@"
	else
		unshare --user --map-root-user --mount --propagation private "$@"
	fi
}
# on_read_only DIR CMD...: CMD with DIR bind-mounted read-only over itself (a disk mounted so)
on_read_only() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	private_mounts sh -c 'd=$1; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" &&
		exec "$@"' _ "$@"
}

# json_field FILE EXPR: prints a JavaScript expression over the parsed JSON document `d`
json_field() {
	node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(eval(process.argv[2]))' "$1" "$2"
}

# damage_q8 FILE TENSOR: zeroes the scale of every Q8_0 block of TENSOR in FILE, in place
damage_q8() {
	"$FERRY" inspect --json "$1" >"$work/damage.json" &&
		node "$(dirname "$0")/damage.mjs" "$1" \
			"$(json_field "$work/damage.json" "d.data_offset + d.tensors.find(t => t.name === '$2').offset")" \
			"$(json_field "$work/damage.json" "d.tensors.find(t => t.name === '$2').bytes")" 34
}

# edited_checkpoint SRC DST SED: a copy of checkpoint SRC at DST whose config.json went through
# the sed script SED
edited_checkpoint() {
	rm -rf "$2" && cp -r "$1" "$2" && sed "$3" "$1/config.json" >"$2/config.json"
}
# start_nginx UPSTREAM_PORT [tls]: nginx configured by docs/deploy/nginx.conf in front of the
# ferry serve on 127.0.0.1:UPSTREAM_PORT, on a free loopback port: plain HTTP/1.1, or with
# `tls` its TLS + HTTP/2 listener and a fresh self-signed certificate for 127.0.0.1
# ($work/nginx/cert.pem). Sets $nginx_url and $nginx_pid; the access log
# ($work/nginx/logs/access.log) has "PROTOCOL CONNECTION REQUEST-ON-IT STATUS BYTES URI" lines.
start_nginx() {
	_ngx="$work/nginx"
	mkdir -p "$_ngx/logs" "$_ngx/tmp"
	_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
	if [ "${2:-}" = tls ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
			-keyout "$_ngx/key.pem" -out "$_ngx/cert.pem" 2>/dev/null
		sed -e "s/127.0.0.1:8080/127.0.0.1:$1/" -e "s/listen 443 /listen 127.0.0.1:$_port /" \
			-e "s#ssl_certificate .*#ssl_certificate $_ngx/cert.pem;#" \
			-e "s#ssl_certificate_key .*#ssl_certificate_key $_ngx/key.pem;#" \
			"$(dirname "$0")/../../docs/deploy/nginx.conf" >"$_ngx/site.conf"
		nginx_url="https://127.0.0.1:$_port"
	else
		sed -e "s/127.0.0.1:8080/127.0.0.1:$1/" -e "s/listen 443 .*/listen 127.0.0.1:$_port;/" \
			-e '/ssl_certificate/d' "$(dirname "$0")/../../docs/deploy/nginx.conf" >"$_ngx/site.conf"
		nginx_url="http://127.0.0.1:$_port"
	fi
	cat >"$_ngx/nginx.conf" <<NGX
worker_processes 1;
error_log $_ngx/logs/error.log;
pid $_ngx/nginx.pid;
events { worker_connections 256; }
http {
	log_format proto '\$server_protocol \$connection \$connection_requests \$status \$body_bytes_sent \$request_uri';
	access_log $_ngx/logs/access.log proto;
	client_body_temp_path $_ngx/tmp;
	proxy_temp_path $_ngx/tmp;
	include $_ngx/site.conf;
}
NGX
	nginx -p "$_ngx" -c "$_ngx/nginx.conf" -g 'daemon off;' 2>"$_ngx/logs/stderr" &
	nginx_pid=$!
	i=0
	while ! curl -sk -o /dev/null "$nginx_url/" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	: >"$_ngx/logs/access.log"
}

# greedy_same ARTIFACT MODEL [N]: `ferry run` of the fixture $M/MODEL's golden/prompt.txt gives its
# golden/prompt_ids.json and the first N (default 32, all) ids of golden/greedy.json
greedy_same() {
	run "$FERRY" run "$1" -f "$M/$2/golden/prompt.txt" --temp 0 -n "${3:-32}" --json -t 2 --activations f32
	[ "$rc" -eq 0 ] && node -e '
const fs = require("fs");
const [out, dir, n] = process.argv.slice(1);
const g = JSON.parse(fs.readFileSync(dir + "/golden/greedy.json"));
const p = JSON.parse(fs.readFileSync(dir + "/golden/prompt_ids.json"));
const w = JSON.parse(fs.readFileSync(out));
const ok = JSON.stringify(p.ids) === JSON.stringify(w.prompt_ids) &&
	JSON.stringify(g.new_ids.slice(0, n)) === JSON.stringify(w.ids.slice(0, n));
process.exit(ok ? 0 : 1);' "$work/out" "$M/$2" "${3:-32}"
}
# greedy_differs ARTIFACT MODEL: `ferry run` succeeds and gives other ids than the golden ones
# (a run that fails is not a difference)
greedy_differs() {
	greedy_same "$@" && return 1
	[ "$rc" -eq 0 ]
}
