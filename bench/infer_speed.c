/*
 * infer_speed: llama-bench's two figures for ferry's engine: prompt processing (one causal batch
 * of N_PROMPT tokens) and generation (N_GEN tokens one at a time after it), in tokens/s, on
 * token ids drawn from a fixed generator (the text does not change the work).
 *
 *   infer_speed MODEL THREADS N_PROMPT N_GEN [q8|f32]   prints "pp TOK/S tg TOK/S kernels NAME"
 *
 * q8 (the default, as `ferry run`): activations rounded to 8-bit blocks for the types with integer
 * kernels; f32: never rounded (as `ferry smoke`).
 */
#include "infer/infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct fy_model *m = NULL;
	struct fy_pool *pool = NULL;
	struct fy_ctx *c = NULL;
	struct fy_err err;
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: infer_speed MODEL THREADS N_PROMPT N_GEN [q8|f32]\n");
		return 2;
	}
	const int threads = atoi(argv[2]), np = atoi(argv[3]), ng = atoi(argv[4]);
	if (np < 1 || ng < 1 || fy_pool_new(&pool, threads, &err) != FY_OK ||
	    fy_model_open(&m, argv[1], &err) != FY_OK ||
	    fy_ctx_new(&c, m, np + ng, pool, &err) != FY_OK) {
		fprintf(stderr, "infer_speed: %s\n", np < 1 || ng < 1 ? "bad counts" : err.msg);
		return 1;
	}
	fy_ctx_set_activations(c, argc == 6 && strcmp(argv[5], "f32") == 0 ? FY_ACT_F32 : FY_ACT_Q8);
	int32_t *ids = malloc((size_t)np * sizeof(*ids));
	float *logits = malloc((size_t)m->hp.n_vocab * sizeof(float));
	uint64_t s = 12345;
	for (int i = 0; i < np; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		ids[i] = (int32_t)((s >> 33) % (uint64_t)m->hp.n_vocab);
	}
	double t0 = fy_now_s();
	if (fy_eval(c, ids, np, false, logits, &err) != FY_OK)
		goto fail;
	const double pp = np / (fy_now_s() - t0);
	int32_t tok = fy_argmax(logits, m->hp.n_vocab);
	t0 = fy_now_s();
	for (int i = 0; i < ng; i++) {
		if (fy_eval(c, &tok, 1, false, logits, &err) != FY_OK)
			goto fail;
		tok = fy_argmax(logits, m->hp.n_vocab);
	}
	const double tg = ng / (fy_now_s() - t0);
	printf("pp %.2f tg %.2f kernels %s\n", pp, tg, fy_kernels_active()->name);
	free(ids);
	free(logits);
	fy_ctx_free(c);
	fy_model_free(m);
	fy_pool_free(pool);
	return 0;
fail:
	fprintf(stderr, "infer_speed: %s\n", err.msg);
	return 1;
}
