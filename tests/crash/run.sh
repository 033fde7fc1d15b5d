#!/bin/sh
# Crash consistency (docs/RELIABILITY.md): for each operation, CRASH_RUNS times (default 100):
# start it on a copy of its starting store, SIGKILL it at a random point within its
# uninterrupted duration, check that `ferry fsck` finds the store clean, run the operation again
# to completion, and compare the store with the one an uninterrupted run produced (every object,
# every manifest and ref byte for byte; for publish, what the signed index publishes; for
# install and checkout, every file they laid out).
#   FERRY=build/ferry sh tests/crash/run.sh
# Environment: FERRY, CRASH_RUNS (100), CRASH_OPS ("add import clone install checkout convert quant publish"),
# CRASH_SEED (1). Ends with "crash: N passed, N failed"; figures go to $CRASH_OUT when set.
set -u
RUNS=${CRASH_RUNS:-100}
OPS=${CRASH_OPS:-"add import clone install checkout convert quant publish"}
SEED=${CRASH_SEED:-1}
. "$(dirname "$0")/setup.sh"

report=""
for name in $OPS; do
	rm -rf "$work/s"
	cp -a "$work/tpl-$name" "$work/s"
	t0=$(now_ms)
	(op "$name" "$work/s") >/dev/null 2>&1 || bad "$name: the uninterrupted run failed"
	dur=$(($(now_ms) - t0))
	state "$work/s" >"$work/ref-$name"
	mid=0 clean=0 same=0 k=0
	while [ $k -lt "$RUNS" ]; do
		k=$((k + 1))
		rm -rf "$work/s"
		cp -a "$work/tpl-$name" "$work/s"
		delay=$(awk -v s="$SEED" -v k="$k" -v d="$dur" 'BEGIN {srand(s * 100003 + k); printf "%.3f", rand() * d / 1000}')
		op "$name" "$work/s" >/dev/null 2>&1 &
		pid=$!
		sleep "$delay"
		kill -9 $pid 2>/dev/null
		wait $pid 2>/dev/null
		[ $? -eq 137 ] && mid=$((mid + 1))
		if FERRY_HOME="$work/s" "$FERRY" -q fsck >/dev/null 2>"$work/fsck.err"; then
			clean=$((clean + 1))
			ok
		else
			bad "$name, kill $k after ${delay}s: fsck: $(head -c 300 "$work/fsck.err")"
		fi
		if (op "$name" "$work/s") >/dev/null 2>"$work/rerun.err" && state "$work/s" | cmp -s - "$work/ref-$name"; then
			same=$((same + 1))
			ok
		else
			bad "$name, kill $k after ${delay}s: the re-run did not reach the uninterrupted state: $(head -c 300 "$work/rerun.err")"
			state "$work/s" | diff "$work/ref-$name" - | head -5 >&2
		fi
	done
	line=$(printf '%-8s %4d kills (%3d mid-operation, run %5d ms): fsck clean %4d, re-run identical %4d' \
		"$name" "$RUNS" "$mid" "$dur" "$clean" "$same")
	echo "$line"
	report="$report$line
"
done
if [ -n "${CRASH_OUT:-}" ]; then
	{
		echo "# crash consistency ($(date -u +%Y-%m-%d), $(nproc) cores, seed $SEED): SIGKILL at a random point of each run"
		printf '%s' "$report"
	} >"$CRASH_OUT"
fi
echo "crash: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
