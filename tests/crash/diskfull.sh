#!/bin/sh
# A full disk (docs/RELIABILITY.md): each operation of the crash tests runs with its store on a
# tmpfs too small to finish, at FULL_POINTS capacities spread between its starting store and the
# store an uninterrupted run leaves (plus a little: the last points may fit). Where it runs out
# of space it must exit 1 with one line naming the file and "No space left on device" (no crash,
# no signal, no sanitizer report); `ferry fsck` must find the store clean; with the space grown
# the same operation must complete to the uninterrupted run's store. Where it fits it must
# reach that store at once.
#   FERRY=build/ferry sh tests/crash/diskfull.sh
# Runs itself in a private mount namespace (unshare; a user namespace as well when not root),
# so its tmpfs mounts are invisible to the rest of the system. Environment: FERRY,
# FULL_POINTS (8), CRASH_OPS, CRASH_SEED (1), FULL_VERBOSE (1: a line per capacity). Ends with "diskfull: N passed, N failed"; figures
# go to $CRASH_OUT when set (appended).
set -u
if [ -z "${FERRY_DISKFULL_NS:-}" ]; then
	. "$(dirname "$0")/../cli/lib.sh"
	FERRY_DISKFULL_NS=1 private_mounts sh "$0" # where namespaces are refused, unshare says so
	exit $?
fi
POINTS=${FULL_POINTS:-8}
OPS=${CRASH_OPS:-"add import clone install checkout convert quant publish"}
SEED=${CRASH_SEED:-1}
. "$(dirname "$0")/setup.sh"
# the mount is taken down before setup.sh's trap removes $work
trap 'umount "$work/s" 2>/dev/null; [ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$work"' EXIT

used() { df -k --output=used "$work/s" | tail -1 | tr -d ' '; } # KiB the tmpfs holds

# on_tmpfs KIB NAME: $work/s becomes a tmpfs of KIB KiB holding a copy of tpl-NAME
on_tmpfs() {
	umount "$work/s" 2>/dev/null
	rm -rf "$work/s"
	mkdir "$work/s"
	mount -t tmpfs -o "size=${1}k,mode=0755" tmpfs "$work/s" || return 1
	cp -a "$work/tpl-$2/." "$work/s/"
}

report=""
for name in $OPS; do
	# the uninterrupted run, on a roomy tmpfs: the space it starts with and ends with
	on_tmpfs 4194304 "$name" || bad "$name: cannot set up the tmpfs"
	low=$(used)
	(op "$name" "$work/s") >/dev/null 2>&1 || bad "$name: the uninterrupted run failed"
	state "$work/s" >"$work/ref-$name"
	high=$(used)
	full=0 fit=0 k=0
	while [ $k -lt "$POINTS" ]; do
		k=$((k + 1))
		# POINTS-1 random capacities below what the operation needs, then 1 MiB more than that
		cap=$(awk -v s="$SEED" -v k="$k" -v n="$POINTS" -v lo="$low" -v hi="$high" \
			'BEGIN {srand(s * 7919 + k); printf "%d", k == n ? hi + 1024 : lo + (hi - lo) * (k - 1 + rand()) / (n - 1)}')
		if ! on_tmpfs "$cap" "$name"; then
			bad "$name at ${cap} KiB: cannot set up the tmpfs"
			continue
		fi
		(op "$name" "$work/s") >/dev/null 2>"$work/err"
		rc=$?
		[ -n "${FULL_VERBOSE:-}" ] &&
			echo "  $name at $cap KiB: exit $rc, $(used) KiB used: $(head -c 200 "$work/err")"
		if [ $rc -eq 0 ]; then
			fit=$((fit + 1))
			ok
		elif [ $k -eq "$POINTS" ]; then
			bad "$name at ${cap} KiB (1 MiB more than an uninterrupted run ends with): exit $rc:" \
				"$(head -c 400 "$work/err")"
		elif [ $rc -eq 1 ] && [ "$(wc -l <"$work/err")" -eq 1 ] &&
			grep -q "'[^']*': No space left on device" "$work/err"; then
			full=$((full + 1))
			ok
		else
			bad "$name at ${cap} KiB: exit $rc, wanted 0 or 1 with one line naming a file and" \
				"'No space left on device': $(head -c 400 "$work/err")"
		fi
		if FERRY_HOME="$work/s" "$FERRY" -q fsck >/dev/null 2>"$work/err"; then
			ok
		else
			bad "$name at ${cap} KiB: fsck: $(head -c 300 "$work/err")"
		fi
		mount -o remount,size=4g "$work/s"
		if [ $rc -ne 0 ] && ! (op "$name" "$work/s") >/dev/null 2>"$work/err"; then
			bad "$name at ${cap} KiB: the re-run with space failed: $(head -c 300 "$work/err")"
		elif state "$work/s" | cmp -s - "$work/ref-$name"; then
			ok
		else
			bad "$name at ${cap} KiB: the store differs from the uninterrupted run's"
			state "$work/s" | diff "$work/ref-$name" - | head -5 >&2
		fi
	done
	# the points below the need must mostly have run out of space, or the test tests nothing
	if [ "$full" -ge $((POINTS / 2)) ]; then ok; else bad "$name: only $full of $POINTS points ran out of space"; fi
	line=$(printf '%-8s %4d capacities (%d-%d KiB): out of space %4d (clean error, fsck clean, re-run identical), fitted %d' \
		"$name" "$POINTS" "$low" "$high" "$full" "$fit")
	echo "$line"
	report="$report$line
"
done
umount "$work/s" 2>/dev/null
if [ -n "${CRASH_OUT:-}" ]; then
	{
		echo "# a full disk ($(date -u +%Y-%m-%d), seed $SEED): the store on a tmpfs too small to finish"
		printf '%s' "$report"
	} >>"$CRASH_OUT"
fi
echo "diskfull: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
