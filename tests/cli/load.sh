#!/bin/sh
# Load on `ferry serve` (docs/RELIABILITY.md): 10,000 mixed requests at 64 and at 256 concurrent
# connections and 1,000 stalled half-requests held open while more are served, every response
# byte checked (tests/node/load.mjs), and the server's memory bounded.
# Environment: FERRY, LOAD_REQUESTS (10000), LOAD_IDLE (1000). Ends with "load: N passed, N failed".
set -u
FERRY=${FERRY:?set FERRY}
DATA=${FERRY_TEST_DATA:-tests/data}
N=${LOAD_REQUESTS:-10000}
IDLE=${LOAD_IDLE:-1000}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ferry-load-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
. "$here/lib.sh"
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export FERRY_HOME="$work/store"
mkdir "$work/files"
find "$DATA/models/llama-stories260K" -maxdepth 1 -type f -exec cp {} "$work/files/" \;
head -c 16777216 /dev/urandom >"$work/files/big.bin"
"$FERRY" -q init
"$FERRY" -q --no-progress add demo/load "$work/files" -m load
start_serve "$FERRY_HOME" --all --max-connections 4096 --timeout 120
pid=$serve_pid url=$serve_url

if node "$here/../node/load.mjs" "$url" demo/load "$work/files" "$pid" "$N" "$IDLE" >"$work/out" 2>&1; then
	ok
else
	bad "a wrong, failed or 5xx response under load"
fi
cat "$work/out"
# bounded memory: the peak stays within 512 MiB (the files served are 17 MiB)
peak=$(sed -n 's/.*server RSS peak \([0-9.]*\) MiB/\1/p' "$work/out" | sort -n | tail -1)
awk -v p="${peak:-0}" 'BEGIN {exit !(p > 0 && p < 512)}' && ok || bad "server memory peaked at ${peak:-?} MiB"
kill -0 "$pid" 2>/dev/null && ok || bad "the server died under load"
echo "load: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
