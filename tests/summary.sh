#!/bin/sh
# summary.sh SUITE LOG: prints "SUITE PASSED FAILED" from the last count line of a test log:
# Criterion's "Synthesis: Tested: N | Passing: N | Failing: N | Crashing: N" or our scripts'
# "...: N passed, N failed".
suite=$1
log=$2
line=$(grep -E 'Synthesis: Tested|[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
case "$line" in
*Synthesis*)
	echo "$line" | sed -E 's/.*Passing: ([0-9]+) \| Failing: ([0-9]+) \| Crashing: ([0-9]+).*/\1 \2 \3/' |
		awk -v s="$suite" '{print s, $1, $2 + $3}' ;;
*passed*)
	echo "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' | awk -v s="$suite" '{print s, $1, $2}' ;;
*) echo "$suite 0 1" ;;
esac
