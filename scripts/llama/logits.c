/*
 * llama.cpp v0.5.0's engine on a prompt, as golden data for ferry's engine (made by
 * scripts/llama/infer-goldens.sh, which builds this against the cached static libraries):
 *   logits MODEL.gguf PROMPT.txt N_GEN OUTDIR
 * The prompt is tokenized with the vocabulary's own rules (special tokens added as the file
 * says, their texts parsed) and run as one batch: F32 activations and KV cache, one thread,
 * flash attention off, YaRN's ramp from the file's keys. Writes OUTDIR/prompt_ids.json {"ids": [...]}, OUTDIR/greedy.json {"new_ids": [...]}
 * (N_GEN greedy tokens), OUTDIR/logits_first16.bin and logits_last.bin (little-endian float32:
 * the logits at the first 16 positions, and at the last). LOGITS_KV=KEY=INT in the environment
 * overrides one integer key of the file, as --override-kv KEY=int:INT would.
 */
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOK 1024

static void quiet(enum ggml_log_level level, const char *text, void *ud)
{
	(void)ud;
	if (level == GGML_LOG_LEVEL_ERROR)
		fputs(text, stderr);
}

static FILE *out(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	return f;
}

static void ids_json(const char *dir, const char *name, const char *key, const llama_token *ids,
		     int n)
{
	FILE *f = out(dir, name);
	fprintf(f, "{\n \"%s\": [", key);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%d", i ? ", " : "", ids[i]);
	fprintf(f, "]\n}\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: logits MODEL.gguf PROMPT.txt N_GEN OUTDIR\n");
		return 2;
	}
	static char text[65536];
	FILE *pf = fopen(argv[2], "rb");
	const size_t len = pf != NULL ? fread(text, 1, sizeof(text) - 1, pf) : 0;
	if (pf != NULL)
		fclose(pf);
	const int n_gen = atoi(argv[3]);
	llama_log_set(quiet, NULL);
	llama_backend_init();
	struct llama_model_params mp = llama_model_default_params();
	static struct llama_model_kv_override kv[2];
	const char *ov = getenv("LOGITS_KV"), *eq = ov != NULL ? strchr(ov, '=') : NULL;
	if (eq != NULL && (size_t)(eq - ov) < sizeof(kv[0].key)) {
		kv[0].tag = LLAMA_KV_OVERRIDE_TYPE_INT;
		memcpy(kv[0].key, ov, (size_t)(eq - ov));
		kv[0].val_i64 = strtoll(eq + 1, NULL, 10);
		mp.kv_overrides = kv; /* kv[1].key empty: the end */
	}
	struct llama_model *model = llama_model_load_from_file(argv[1], mp);
	if (model == NULL)
		return 1;
	const struct llama_vocab *vocab = llama_model_get_vocab(model);
	struct llama_context_params cp = llama_context_default_params();
	cp.n_ctx = cp.n_batch = cp.n_ubatch = MAX_TOK;
	cp.n_threads = cp.n_threads_batch = 1;
	cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
	cp.type_k = cp.type_v = GGML_TYPE_F32; /* the cache in F32 as ferry's (default: F16) */
	/* llama.cpp v0.5.0 does not read rope.scaling.yarn_beta_fast/slow from the file (it runs
	 * 32 and 1 unless told otherwise); the model's own values (Kimi K2: 1 and 1, as Hugging
	 * Face's code uses them) are passed as --yarn-beta-fast/--yarn-beta-slow would pass them */
	char arch[64], key[160], val[64];
	if (llama_model_meta_val_str(model, "general.architecture", arch, sizeof(arch)) > 0) {
		snprintf(key, sizeof(key), "%s.rope.scaling.yarn_beta_fast", arch);
		if (llama_model_meta_val_str(model, key, val, sizeof(val)) > 0)
			cp.yarn_beta_fast = strtof(val, NULL);
		snprintf(key, sizeof(key), "%s.rope.scaling.yarn_beta_slow", arch);
		if (llama_model_meta_val_str(model, key, val, sizeof(val)) > 0)
			cp.yarn_beta_slow = strtof(val, NULL);
	}
	cp.no_perf = true;
	struct llama_context *ctx = llama_init_from_model(model, cp);
	static llama_token ids[MAX_TOK], gen[MAX_TOK];
	const int n = ctx == NULL ? -1
				  : llama_tokenize(vocab, text, (int32_t)len, ids, MAX_TOK, true, true);
	if (n < 16 || n + n_gen > MAX_TOK) {
		fprintf(stderr, "logits: %d prompt tokens (16 to %d wanted)\n", n, MAX_TOK - n_gen);
		return 1;
	}
	struct llama_batch b = llama_batch_init(n, 0, 1);
	for (int i = 0; i < n; i++) {
		b.token[i] = ids[i];
		b.pos[i] = i;
		b.n_seq_id[i] = 1;
		b.seq_id[i][0] = 0;
		b.logits[i] = 1;
	}
	b.n_tokens = n;
	if (llama_decode(ctx, b) != 0)
		return 1;
	const int nv = llama_vocab_n_tokens(vocab);
	FILE *f = out(argv[4], "logits_first16.bin");
	for (int i = 0; i < 16; i++)
		fwrite(llama_get_logits_ith(ctx, i), sizeof(float), (size_t)nv, f);
	fclose(f);
	f = out(argv[4], "logits_last.bin");
	fwrite(llama_get_logits_ith(ctx, n - 1), sizeof(float), (size_t)nv, f);
	fclose(f);
	llama_batch_free(b);
	for (int g = 0; g < n_gen; g++) {
		const float *lg = llama_get_logits_ith(ctx, -1);
		int best = 0;
		for (int i = 1; i < nv; i++)
			best = lg[i] > lg[best] ? i : best;
		gen[g] = best;
		if (llama_decode(ctx, llama_batch_get_one(&gen[g], 1)) != 0)
			return 1;
	}
	ids_json(argv[4], "prompt_ids.json", "ids", ids, n);
	ids_json(argv[4], "greedy.json", "new_ids", gen, n_gen);
	llama_free(ctx);
	llama_model_free(model);
	return 0;
}
