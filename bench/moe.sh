#!/bin/sh
# make bench (mixture-of-experts part, issue 11): `ferry convert` of a generated FP8
# DeepSeek-V3-shaped checkpoint (MOE_LAYERS layers, default 18: hidden 2048, 16 heads of latent
# attention, 32 routed experts of 512 and a shared one, F8_E4M3 with 128 x 128 block scales, about
# 1.9 GB; made by mkmodel) to GGUF bf16 and q8_0, against `cp -r` of the same bytes in the same run
# (ratio = cp time / ferry time), with peak RSS; then the reference engine's speed on mixtures
# (infer_speed: prompt batch and generation, tokens/s) on the two MoE fixtures (F32 and Q4_K_M) and
# on the generated model in Q8_0; and the larger-than-memory gate (gate_big, below). Results:
# bench/results/moe.txt.
set -eu
FERRY=${1:-build/ferry}
MKMODEL=${MKMODEL:-build/mkmodel}
SPEED=${INFER_SPEED:-build/infer_speed}
LAYERS=${MOE_LAYERS:-18}
DATA=${FERRY_TEST_DATA:-tests/data}
work=${BENCH_WORK:-bench/work}/moe
out=bench/results/moe.txt
rm -rf "$work"
mkdir -p "$work/ds" bench/results
trap 'rm -rf "$work"' EXIT

. "$(dirname "$0")/lib.sh"

echo "bench: generating an FP8 DeepSeek-V3-shaped checkpoint ($LAYERS layers) in $work"
"$MKMODEL" deepseek "$work/ds" "$LAYERS" 2048 32 512
cp "$DATA/models/deepseek-v3-tiny/tokenizer.json" "$DATA/models/deepseek-v3-tiny/tokenizer_config.json" "$work/ds/"
size=$(du -cb "$work/ds"/*.safetensors | tail -n 1 | cut -f1)
cp_ms=$(cp_ms "$work/ds")
row() { conv_row 28 "$@"; }
speed() { # speed LABEL MODEL THREADS N_PROMPT N_GEN
	res=$($SPEED "$2" "$3" "$4" "$5")
	printf "%-34s %7s %6s %10s %6s %10s\n" "$1" "$3" "$4" "$(echo "$res" | awk '{print $2}')" \
		"$5" "$(echo "$res" | awk '{print $4}')"
}

# The larger-than-memory gate: `ferry smoke` of the Q4_K_M against the FP8 source itself (read in
# place, weights released behind each layer) in a memory cgroup of GATE_LIMIT_MIB (default 1024,
# about half the source), made here (root, cgroup v2 or v1), with the process's peak RSS; without
# a cgroup to make, the same run outside one, said so.
gate_big() {
	limit=$((${GATE_LIMIT_MIB:-1024} * 1048576))
	cg=
	if [ -w /sys/fs/cgroup/cgroup.subtree_control ] && mkdir "/sys/fs/cgroup/ferry-bench-$$" 2>/dev/null; then
		cg=/sys/fs/cgroup/ferry-bench-$$
		echo "$limit" >"$cg/memory.max"
	elif mkdir "/sys/fs/cgroup/memory/ferry-bench-$$" 2>/dev/null; then
		cg=/sys/fs/cgroup/memory/ferry-bench-$$
		echo "$limit" >"$cg/memory.limit_in_bytes"
	fi
	t0=$(now_ns)
	if [ -n "$cg" ]; then
		sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
			/usr/bin/time -f %M -o "$work/gate.rss" "$FERRY" smoke "$work/ds-Q4_K_M.gguf" \
			--ref "$work/ds" --max-tokens 512 -n 0 --json >"$work/gate.json" 2>"$work/gate.err" ||
			true
		where="in a ${GATE_LIMIT_MIB:-1024} MiB memory cgroup"
		rmdir "$cg" 2>/dev/null || true
	else
		/usr/bin/time -f %M -o "$work/gate.rss" "$FERRY" smoke "$work/ds-Q4_K_M.gguf" \
			--ref "$work/ds" --max-tokens 512 -n 0 --json >"$work/gate.json" 2>"$work/gate.err" ||
			true
		where="outside a cgroup (none could be made)"
	fi
	ms=$(ms_since "$t0")
	echo
	echo "# the larger-than-memory gate: ferry smoke of the Q4_K_M against the FP8 source ($where)"
	node -e 'const fs = require("fs"), [f, e, ms, r] = process.argv.slice(1);
let d = {}; try { d = JSON.parse(fs.readFileSync(f)); } catch (x) {}
let kb = NaN; try { kb = Number(fs.readFileSync(r, "utf8").trim().split("\n").pop()); } catch (x) {}
console.log(`tokens ${d.tokens ?? "?"}, ${ms} ms, peak RSS ${(kb / 1024).toFixed(1)} MiB, KL ${d.kl_mean ?? "?"}, ` +
	`top-1 ${d.top1 ?? "?"}, ppl ratio ${d.ppl_ratio ?? "?"}, ${d.pass ? "passes" : "fails"} the gate` +
	(d.tokens === undefined ? ": " + fs.readFileSync(e, "utf8").trim().split("\n").pop() : ""))' \
		"$work/gate.json" "$work/gate.err" "$ms" "$work/gate.rss"
}

{
	echo "# ferry convert, FP8 DeepSeek-V3-shaped ($(date -u +%Y-%m-%d), $(nproc) cores;" \
		"$(awk -v b="$size" 'BEGIN {printf "%.2f", b / 1e9}') GB of safetensors, $LAYERS layers; cp -r of it: $cp_ms ms)"
	printf "%-28s %9s %8s %10s %9s\n" conversion ms "GB/s" peak_MiB "cp/ferry"
	for t in bf16 q8_0; do
		t0=$(now_ns)
		/usr/bin/time -f "%M" -o "$work/rss" "$FERRY" -q convert "$work/ds" -o "$work/ds-$t.gguf" --outtype $t
		sync
		row "FP8 -> GGUF $t" "$(ms_since "$t0")" "$(tail -n 1 "$work/rss")"
	done
	"$FERRY" -q quant "$work/ds-bf16.gguf" --type Q4_K_M -o "$work/ds-Q4_K_M.gguf"
	rm -f "$work/ds-bf16.gguf"
	gate_big
	echo
	echo "# reference engine on mixtures of experts: pp = prompt batch, tg = generated tokens (tokens/s)"
	printf "%-34s %7s %6s %10s %6s %10s\n" model threads prompt "pp tok/s" gen "tg tok/s"
	for m in qwen3-moe-tiny deepseek-v3-tiny; do
		"$FERRY" -q convert "$DATA/models/$m" -o "$work/$m-F32.gguf" --outtype f32
		"$FERRY" -q quant "$work/$m-F32.gguf" --type Q4_K_M -o "$work/$m-Q4_K_M.gguf"
		for t in F32 Q4_K_M; do
			for j in 1 2; do speed "$m $t" "$work/$m-$t.gguf" $j 512 128; done
		done
	done
	params=$("$FERRY" inspect --json "$work/ds-q8_0.gguf" |
		node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const d=JSON.parse(s).totals;
console.log((d.parameters/1e9).toFixed(2) + "B, " + (d.active_parameters/1e9).toFixed(2) + "B active")})')
	for j in 1 2; do speed "generated ($params) Q8_0" "$work/ds-q8_0.gguf" $j 64 16; done
} | tee "$out"
