#!/bin/sh
# Runs each libFuzzer target given on the command line for FUZZ_SECONDS (default 10) over its
# seed corpus tests/fuzz/<name>/ (read-only) plus a working corpus under build/fuzz/ that keeps
# what earlier runs found. A crash, leak or timeout fails the run; its input is left in
# build/fuzz/artifacts/ (add it to the seed corpus with the fix). Per-target executions and
# coverage are appended to build/fuzz/stats.txt with the CPU seconds the target used (user+system,
# all its workers: what counts towards fuzzing time when it ran niced beside other work, unlike
# the wall-clock FUZZ_SECONDS). Ends with "N passed, N failed".
set -u
# cpu_seconds: user+system seconds used by this shell's finished children so far (POSIX `times`,
# run in this shell: in a subshell it would count only that subshell's children).
cpu_seconds() {
	times >"$out/times.$$"
	tail -1 "$out/times.$$" | awk '{
		n = 0
		for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); n += p[1] * 60 + p[2] }
		printf "%d", n
	}'
}
secs=${FUZZ_SECONDS:-10}
jobs=${FUZZ_JOBS:-1}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p build/fuzz/artifacts
out=$(cd build/fuzz && pwd)
pass=0
fail=0
export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for bin in "$@"; do
	case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
	name=$(basename "$bin")
	short=${name#fuzz_}
	work="$out/corpus-$short"
	mkdir -p "$work"
	mkdir -p "$out/logs"
	log="$out/logs/$name.log"
	# parallel jobs write fuzz-N.log into the working directory: one per target, so that runs
	# side by side do not share it; one job runs in the fuzzer's own process, logging to $log
	par=""
	rundir=$PWD
	if [ "$jobs" -gt 1 ]; then
		par="-jobs=$jobs -workers=$jobs"
		rundir="$out/jobs-$short"
		mkdir -p "$rundir"
	fi
	cpu_seconds >"$out/cpu.$$"
	cpu0=$(cat "$out/cpu.$$")
	# shellcheck disable=SC2086 # $par: no option, or two
	if (cd "$rundir" && exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 $par -artifact_prefix="$out/artifacts/$short-" \
		"$work" "$here/$short") >"$log" 2>&1; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name (see $log)" >&2
		grep -A30 "ERROR\|==ERROR\|deadly signal" "$log" | head -40 >&2
	fi
	cpu_seconds >"$out/cpu.$$"
	cpu=$(($(cat "$out/cpu.$$") - cpu0))
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s+=$2} END {print s+0}')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
	line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $name seconds=$secs cpu=$cpu execs=$execs cov=${cov:-0} corpus=$(ls "$work" | wc -l)"
	echo "fuzz: $line"
	echo "$line" >>"$out/stats.txt"
done
rm -f "$out/times.$$" "$out/cpu.$$"
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
