#!/bin/sh
# Integration tests of `ferry run` and `ferry smoke` with the real binary and its sanitizer build:
# the golden greedy outputs (stories260K from BOS; the HF fixtures run directly and converted),
# run's options and refusals; the smoke gate on qwen2-shakespeare in F32, Q8_0, Q4_K_M, Q2_K
# (KL growing as bits shrink, Q8_0 passing, a damaged tensor failing); smoke on store revisions
# (reference from the lineage, the result recorded and shown). Environment: FERRY, FERRY_SAN
# (optional). Ends with "N passed, N failed".
set -u

FERRY=${FERRY:?set FERRY}
MKMODEL=${MKMODEL:-build/mkmodel}
FERRY_SAN=${FERRY_SAN:-}
DATA=${FERRY_TEST_DATA:-tests/data}
M=$DATA/models
Q2=$M/qwen2-shakespeare

work=$(mktemp -d /tmp/ferry-infer-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/lib.sh"

# --- run: golden greedy outputs -------------------------------------------------------------

golden_ids=$(sed -n '/^ids:/{n;p}' "$M/stories260K/golden_greedy_128.txt")
golden_text=$(sed -n '/^text:/,$p' "$M/stories260K/golden_greedy_128.txt" | tail -n +2)
for bin in "$FERRY" $FERRY_SAN; do
	name=$(basename "$bin")
	run "$bin" run "$M/stories260K/stories260K.gguf" --temp 0 -n 128 --json -t 2
	expect_rc 0 "$name run stories260K"
	got=$(json_field "$work/out" 'JSON.stringify(d.prompt_ids.concat(d.ids)).replace(/,/g, ", ")')
	if [ "$got" = "$golden_ids" ]; then ok; else bad "$name: stories260K greedy ids differ: $got"; fi
	run "$bin" run "$M/stories260K/stories260K.gguf" --temp 0 -n 128 -t 1
	if [ "$(cat "$work/out")" = "$golden_text" ]; then ok; else
		bad "$name: stories260K greedy text differs"
	fi
done

# the HF fixtures, as checkpoints and converted to GGUF f32: the golden prompt ids and greedy ids
for m in llama-stories260K qwen2-shakespeare qwen3-tiny; do
	"$FERRY" convert "$M/$m" -o "$work/$m.gguf" --outtype f32 -q || bad "convert $m"
	for art in "$M/$m" "$work/$m.gguf"; do
		n=$(json_field "$M/$m/golden/greedy.json" 'd.new_ids.length')
		run "$FERRY" run "$art" -f "$M/$m/golden/prompt.txt" --temp 0 -n "$n" --json -t 2
		expect_rc 0 "run $art"
		same=$(node -e '
const fs = require("fs");
const g = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const p = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const w = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
console.log(JSON.stringify(g.prompt_ids) === JSON.stringify(p.ids) &&
	JSON.stringify(g.ids) === JSON.stringify(w.new_ids.slice(0, g.ids.length)) &&
	g.ids.length > 0)' "$work/out" "$M/$m/golden/prompt_ids.json" "$M/$m/golden/greedy.json")
		if [ "$same" = true ]; then ok; else bad "$art: prompt ids or greedy ids differ from golden/"; fi
	done
done

# --- run: options ---------------------------------------------------------------------------

S=$M/stories260K/stories260K.gguf
run "$FERRY" run "$S" -p "Once upon a time" -n 20 --temp 0.9 --top-k 20 --top-p 0.9 --seed 7 --json
expect_rc 0 "run with sampling options"
cp "$work/out" "$work/s1.json"
run "$FERRY" run "$S" -p "Once upon a time" -n 20 --temp 0.9 --top-k 20 --top-p 0.9 --seed 7 --json -t 1
if [ "$(json_field "$work/s1.json" 'JSON.stringify(d.ids)')" = "$(json_field "$work/out" 'JSON.stringify(d.ids)')" ]; then
	ok
else
	bad "the same seed gives different tokens"
fi
run "$FERRY" run "$S" -p "Once upon a time" -n 20 --temp 0.9 --seed 8 --json
if [ "$(json_field "$work/s1.json" 'JSON.stringify(d.ids)')" != "$(json_field "$work/out" 'JSON.stringify(d.ids)')" ]; then
	ok
else
	bad "another seed gives the same tokens"
fi
run "$FERRY" run "$S" -p "Once upon a time" -n 5 --temp 0 -v
expect_rc 0 "run -v"
expect_err "tokens/s" "run -v prints speeds"
expect_err "q8 activations" "run rounds activations to 8-bit blocks by default"
run "$FERRY" run "$S" -p "Once upon a time" -n 5 --temp 0 -v --activations f32
expect_err "f32 activations" "run --activations f32"
FERRY_ACTIVATIONS=f32 "$FERRY" run "$S" -n 2 --temp 0 -v >/dev/null 2>"$work/err"
grep -q "f32 activations" "$work/err" && ok || bad "FERRY_ACTIVATIONS=f32 overrides run's default"
run "$FERRY" run "$S" --activations f16
expect_rc 2 "run --activations f16"
expect_err "q8 or f32" "names the values --activations takes"
run "$FERRY" run "$S" -n 0 --temp 0
expect_rc 0 "run -n 0"
run "$FERRY" run "$S" -n 300 --temp 0 --ctx 16 --json
expect_rc 0 "run past a small context stops at its end"
if [ "$(json_field "$work/out" 'd.prompt_ids.length + d.ids.length')" -le 17 ]; then ok; else
	bad "--ctx 16 generated more than the context"
fi
FERRY_SIMD=scalar "$FERRY" run "$S" --temp 0 -n 128 -t 1 >"$work/scalar.txt" 2>&1
if [ "$(cat "$work/scalar.txt")" = "$golden_text" ]; then ok; else bad "scalar kernels: text differs"; fi
run "$FERRY" run "$work/qwen2-shakespeare.gguf" -p "Hello" --chat -n 8 --temp 0
expect_rc 0 "run --chat on a ChatML model"
run "$FERRY" run "$S" -p "Hello" --chat -n 8
expect_rc 1 "run --chat without a template"
expect_err "chat template" "names the missing template"
run "$FERRY" run "$S" --temp -1
expect_rc 2 "negative temperature"
run "$FERRY" run "$S" --top-p 2
expect_rc 2 "top-p above 1"
for bad in "--seed x" "--seed -1x" "-n -1" "--top-k -2" "--ctx -5" "--temp abc"; do
	# shellcheck disable=SC2086
	run "$FERRY" run "$S" $bad
	expect_rc 2 "run $bad"
done
run "$FERRY" run "$S" -f "$work/no-such-prompt.txt"
expect_rc 1 "a missing prompt file"
expect_err "no-such-prompt.txt" "names the prompt file"
run "$FERRY" run "$S" -p "Once upon a time" --ctx 2
expect_rc 1 "a prompt longer than the context"
expect_err "do not fit" "says the prompt does not fit"
run "$FERRY" run "$work/nope.gguf"
expect_rc 1 "missing file"
head -c 1000 "$S" >"$work/cut.gguf"
run "$FERRY" run "$work/cut.gguf"
expect_rc 1 "truncated GGUF"
expect_err "cut.gguf" "names the file"
run "$FERRY" run "$M/gguf-vocab/ggml-vocab-gpt-2.gguf"
expect_rc 1 "an architecture ferry does not run"
expect_err "not one ferry runs" "says so"
run "$FERRY" run "$M/gguf-vocab/ggml-vocab-llama-spm.gguf"
expect_rc 1 "a vocabulary-only file"
expect_err "token_embd.weight is missing" "names the missing tensor"

# --- smoke ----------------------------------------------------------------------------------

F32=$work/qwen2-shakespeare.gguf
for t in Q8_0 Q4_K_M Q2_K; do
	"$FERRY" quant "$F32" --type $t -o "$work/q2-$t.gguf" -q || bad "quant $t"
done
for t in F32 Q8_0 Q4_K_M Q2_K; do
	f=$work/q2-$t.gguf
	[ $t = F32 ] && f=$F32
	run "$FERRY" smoke "$f" --ref "$Q2" --json -t 2
	cp "$work/out" "$work/smoke-$t.json"
	json_valid "$work/out" "smoke --json $t"
done
grow=$(node -e '
const fs = require("fs");
const kl = ["F32", "Q8_0", "Q4_K_M", "Q2_K"].map(t =>
	JSON.parse(fs.readFileSync(process.argv[1] + "/smoke-" + t + ".json", "utf8")).kl_mean);
console.log(kl.every((v, i) => i === 0 || v > kl[i - 1]) ? "yes" : "no: " + kl.join(" "))' "$work")
if [ "$grow" = yes ]; then ok; else bad "KL does not grow as bits shrink: $grow"; fi
for t in F32 Q8_0; do
	if [ "$(json_field "$work/smoke-$t.json" 'd.pass && d.limits.source')" = default ]; then ok; else
		bad "$t does not pass its default gate"
	fi
done
run "$FERRY" smoke "$work/q2-Q8_0.gguf" --ref "$Q2" -t 2
expect_rc 0 "smoke Q8_0 passes"
expect_out "gate: PASS" "prints the verdict"
expect_out "top-1 agreement" "prints top-1 agreement"
expect_out "sample (reference)" "prints the samples"
# one tensor damaged: every block scale of blk.0.ffn_down.weight zeroed
cp "$work/q2-Q8_0.gguf" "$work/damaged.gguf"
damage_q8 "$work/damaged.gguf" blk.0.ffn_down.weight
for bin in "$FERRY" $FERRY_SAN; do
	run "$bin" smoke "$work/damaged.gguf" --ref "$Q2" -t 2 --sample 4
	expect_rc 1 "$(basename "$bin"): a damaged tensor fails the gate"
	expect_out "gate: FAIL" "prints FAIL"
	expect_err "fails the gate" "says so on stderr"
done
# limits given on the command line
run "$FERRY" smoke "$work/q2-Q2_K.gguf" --ref "$Q2" --max-kl 0.000001
expect_rc 1 "a tight --max-kl fails"
run "$FERRY" smoke "$work/q2-Q2_K.gguf" --ref "$Q2" --max-kl 10 --max-ppl-ratio 10 --min-top1 0
expect_rc 0 "loose limits pass"
expect_out "given limits" "says the limits were given"
printf 'To be, or not to be, that is the question:\nWhether tis nobler in the mind to suffer\n' >"$work/t.txt"
run "$FERRY" smoke "$work/q2-Q8_0.gguf" --ref "$Q2" --text "$work/t.txt" --json
expect_rc 0 "smoke --text"
if [ "$(json_field "$work/out" 'd.text')" = "$work/t.txt" ]; then ok; else bad "--text not reported"; fi
for bad in "--max-kl -1" "--max-kl x" "--min-top1 2" "--max-ppl-ratio y" "--ctx 1" "--sample -1" \
	"--max-tokens 1"; do
	# shellcheck disable=SC2086
	run "$FERRY" smoke "$work/q2-Q8_0.gguf" --ref "$Q2" $bad
	expect_rc 2 "smoke $bad"
done
run "$FERRY" smoke "$work/q2-Q8_0.gguf" --ref "$Q2" --text "$work/no-such-text.txt"
expect_rc 1 "a missing --text file"
expect_err "no-such-text.txt" "names the text file"
printf 'a' >"$work/short.txt"
run "$FERRY" smoke "$work/q2-Q8_0.gguf" --ref "$Q2" --text "$work/short.txt"
expect_rc 1 "a text of one token"
expect_err "too short" "says the text is too short"
run "$FERRY" smoke "$work/q2-Q8_0.gguf" --ref "$work/nope.gguf"
expect_rc 1 "a missing reference"
run "$FERRY" smoke "$work/q2-Q8_0.gguf"
expect_rc 2 "smoke of a plain file without --ref"
expect_err "--ref" "asks for --ref"
run "$FERRY" smoke "$work/q2-Q8_0.gguf" --ref "$S"
expect_rc 1 "a reference with another vocabulary"
expect_err "not comparable" "says why"

# --- store revisions: the lineage names the reference; the result is recorded ---------------

export FERRY_HOME="$work/store"
"$FERRY" init -q
mkdir "$work/src" && cp "$F32" "$work/src/q2-f32.gguf"
"$FERRY" add t/q2 "$work/src" -q
"$FERRY" add t/q2hf "$Q2" -q
"$FERRY" quant t/q2 --type Q4_K_M -q
run "$FERRY" smoke t/q2-GGUF -t 2
expect_rc 0 "smoke of a derived revision"
expect_out "reference: t/q2@" "the reference comes from the lineage"
expect_out "recorded for t/q2-GGUF@" "the result is recorded"
run "$FERRY" show t/q2-GGUF
expect_out "smoke    pass against t/q2@" "show prints the smoke result"
run "$FERRY" show t/q2-GGUF --json
if [ "$(json_field "$work/out" 'd.smoke.pass')" = true ]; then ok; else bad "show --json lacks smoke"; fi
run "$FERRY" fsck
expect_rc 0 "fsck is clean with a smoke record"
run "$FERRY" show t/q2
expect_out "smoke    never run" "a revision never smoked says so"
run "$FERRY" smoke t/q2-GGUF --ref t/q2hf -t 2 --json
expect_rc 0 "an HF revision as the reference"
run "$FERRY" run t/q2hf -p "ROMEO:" -n 4 --temp 0
expect_rc 0 "run an HF revision"
if [ -z "$(ls "$work/store/tmp")" ]; then ok; else bad "run left links in tmp/"; fi
# a store named relative to the working directory: the links into objects/ must still resolve
# (they were made relative to it and pointed nowhere from tmp/run-*/)
abs=$FERRY
case $abs in /*) ;; *) abs=$PWD/$abs ;; esac
for rel in store ./store; do
	(cd "$work" && FERRY_HOME=$rel "$abs" run t/q2hf -p "ROMEO:" -n 4 --temp 0) >"$work/out" 2>"$work/err"
	rc=$?
	expect_rc 0 "run an HF revision in a store named '$rel'"
done
(cd "$work/store" && "$abs" --store . smoke t/q2-GGUF -t 2) >"$work/out" 2>"$work/err"
rc=$?
expect_rc 0 "smoke in the store named '.'"
# a store on a read-only disk (a mirror mounted from a snapshot): an HF revision still runs, its
# links made under $TMPDIR instead of the store's tmp/ (a bind mount made read-only in a
# private mount namespace; a user namespace as well when not root)
mkdir "$work/tmpdir"
run on_read_only "$work/store" env FERRY_HOME="$work/store" TMPDIR="$work/tmpdir" \
	"$abs" run t/q2hf -p "ROMEO:" -n 4 --temp 0
expect_rc 0 "run an HF revision from a read-only store"
if [ -s "$work/out" ] && [ -z "$(ls "$work/tmpdir")" ]; then ok; else
	bad "read-only store: no output, or links left in TMPDIR: $(ls "$work/tmpdir")"
fi
run "$FERRY" smoke t/q2
expect_rc 2 "a revision without lineage needs --ref"
# the record goes with its revision
smoked=$("$FERRY" show t/q2-GGUF --json |
	node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
if [ -e "$work/store/repos/t/q2-GGUF/smoke/$smoked.json" ]; then ok; else bad "no smoke record for $smoked"; fi
"$FERRY" quant t/q2 --type Q8_0 -q
run "$FERRY" rm "t/q2-GGUF@$smoked"
expect_rc 0 "rm the smoked revision (no longer the head)"
if [ ! -e "$work/store/repos/t/q2-GGUF/smoke/$smoked.json" ]; then ok; else
	bad "rm left the smoke record behind"
fi
run "$FERRY" fsck
expect_rc 0 "fsck clean after rm"
run "$FERRY" run t/none
expect_rc 1 "an unknown repository"

# weights released behind each layer (FERRY_STREAM_WEIGHTS=1; on by itself for a model larger
# than three quarters of the memory): the same tokens, a fraction of the resident memory
"$MKMODEL" llama "$work/big.gguf" 8 512 1408 2048 f32
for st in 0 1; do
	FERRY_STREAM_WEIGHTS=$st "$FERRY" -v run "$work/big.gguf" -p "a b c d" -n 6 --temp 0 \
		>"$work/st$st.out" 2>"$work/st$st.err"
	sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$work/st$st.err" >"$work/st$st.rss"
done
cmp -s "$work/st0.out" "$work/st1.out" && [ -s "$work/st0.out" ] && ok ||
	bad "streamed weights give other tokens"
node -e 'const [a, b] = process.argv.slice(1).map(Number);
process.exit(a > 90 && b > 0 && b < a / 2 ? 0 : 1)' "$(cat "$work/st0.rss")" "$(cat "$work/st1.rss")" &&
	ok || bad "streaming: peak RSS $(cat "$work/st1.rss") MiB is not under half of $(cat "$work/st0.rss") MiB"
rm -f "$work/big.gguf"
# an HF checkpoint streams too, its tensors converted in memory (Qwen3-Next's regrouped qkv, its
# 1 + w norms) left alone
for st in 0 1; do
	FERRY_STREAM_WEIGHTS=$st "$FERRY" run "$DATA/models/qwen3-next-tiny" -p "a b c d" -n 6 --temp 0 \
		>"$work/hf$st.out" 2>/dev/null
done
cmp -s "$work/hf0.out" "$work/hf1.out" && [ -s "$work/hf0.out" ] && ok ||
	bad "a streamed HF checkpoint gives other tokens"

echo "infer: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
