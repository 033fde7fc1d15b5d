/*
 * The smoke gate's measurements: a text evaluated by a candidate model and its reference in
 * windows of n_ctx tokens (each window from position 0, as llama.cpp's perplexity tool and the
 * fixtures' ppl.json do). Per scored position, in double precision over the float logits: the
 * negative log-likelihood of the next token under each model, KL(reference || candidate) of the
 * next-token distributions, and whether both argmaxes agree.
 */
#include "infer/infer.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 64 /* positions evaluated per batch: bounds the logits buffers */

/* log-softmax of n logits into out (double). */
static void log_softmax(const float *x, int n, double *out)
{
	double max = x[0], sum = 0;
	for (int i = 1; i < n; i++)
		max = x[i] > max ? x[i] : max;
	for (int i = 0; i < n; i++)
		sum += exp((double)x[i] - max);
	const double lse = max + log(fmax(sum, DBL_MIN)); /* sum >= 1: exp(0) is in it */
	for (int i = 0; i < n; i++)
		out[i] = (double)x[i] - lse;
}

struct acc {
	double nll_c, nll_r, kl, kl_max;
	int n, agree;
};

static void score(const float *lc, const float *lr, int V, int32_t next, double *a, double *b,
		  struct acc *s)
{
	log_softmax(lc, V, a);
	log_softmax(lr, V, b);
	double kl = 0;
	for (int i = 0; i < V; i++)
		kl += exp(b[i]) * (b[i] - a[i]);
	kl = kl > 0 ? kl : 0; /* rounding */
	s->nll_c -= a[next];
	s->nll_r -= b[next];
	s->kl += kl;
	s->kl_max = kl > s->kl_max ? kl : s->kl_max;
	s->agree += fy_argmax(lc, V) == fy_argmax(lr, V);
	s->n++;
}

int fy_smoke_eval(const struct fy_model *cand, const struct fy_model *ref, const int32_t *ids,
		  int n, int n_ctx, struct fy_pool *pool, struct fy_smoke_result *out,
		  struct fy_err *err)
{
	const int V = cand->hp.n_vocab;
	struct fy_ctx *cc = NULL, *rc_ctx = NULL;
	struct acc s = { 0 };
	int rc = FY_OK;
	memset(out, 0, sizeof(*out));
	if (ref->hp.n_vocab != V)
		return fy_err_set(err, FY_EINVAL,
				  "the candidate has %d tokens, the reference %d: not comparable",
				  V, ref->hp.n_vocab);
	if (n < 2 || n_ctx < 2)
		return fy_err_set(err, FY_EINVAL, "the text is too short to score (%d tokens)", n);
	float *lc = malloc((size_t)CHUNK * (size_t)V * sizeof(float));
	float *lr = malloc((size_t)CHUNK * (size_t)V * sizeof(float));
	double *a = malloc((size_t)V * sizeof(double));
	double *b = malloc((size_t)V * sizeof(double));
	if (lc == NULL || lr == NULL || a == NULL || b == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	FY_TRY(rc, fy_ctx_new(&cc, cand, n_ctx, pool, err));
	FY_TRY(rc, fy_ctx_new(&rc_ctx, ref, n_ctx, pool, err));
	for (int w0 = 0; w0 < n; w0 += n_ctx) {
		const int wn = n - w0 < n_ctx ? n - w0 : n_ctx;
		fy_ctx_reset(cc);
		fy_ctx_reset(rc_ctx);
		for (int c0 = 0; c0 < wn; c0 += CHUNK) {
			const int cn = wn - c0 < CHUNK ? wn - c0 : CHUNK;
			FY_TRY(rc, fy_eval(cc, ids + w0 + c0, cn, true, lc, err));
			FY_TRY(rc, fy_eval(rc_ctx, ids + w0 + c0, cn, true, lr, err));
			for (int t = 0; t < cn; t++) {
				if (c0 + t + 1 >= wn)
					break; /* the last token of a window predicts nothing scored
						*/
				score(lc + (size_t)t * V, lr + (size_t)t * V, V,
				      ids[w0 + c0 + t + 1], a, b, &s);
			}
		}
	}
	out->n_tokens = n;
	out->cand.n_scored = out->ref.n_scored = s.n;
	out->cand.nll = s.nll_c / s.n;
	out->ref.nll = s.nll_r / s.n;
	out->cand.ppl = exp(out->cand.nll);
	out->ref.ppl = exp(out->ref.nll);
	out->ppl_ratio = out->cand.ppl / out->ref.ppl;
	out->kl_mean = s.kl / s.n;
	out->kl_max = s.kl_max;
	out->top1 = (double)s.agree / s.n;
out:
	fy_ctx_free(cc);
	fy_ctx_free(rc_ctx);
	free(lc);
	free(lr);
	free(a);
	free(b);
	return rc;
}

/*
 * Default limits by the candidate's main type (docs/INFER.md): float types must agree almost
 * exactly; each quantization step down is allowed a few times the divergence llama.cpp's
 * perplexity tool reports for that type on 7-8B models, well above what the fixtures show.
 */
struct fy_smoke_limits fy_smoke_default_limits(enum fy_dtype t)
{
	switch (t) {
	case FY_DTYPE_F32:
	case FY_DTYPE_F16:
	case FY_DTYPE_BF16:
		return (struct fy_smoke_limits){ 0.001, 1.005, 0.98 };
	case FY_DTYPE_Q8_0:
		return (struct fy_smoke_limits){ 0.005, 1.02, 0.95 };
	case FY_DTYPE_Q6_K:
		return (struct fy_smoke_limits){ 0.02, 1.03, 0.92 };
	case FY_DTYPE_Q5_0:
	case FY_DTYPE_Q5_1:
	case FY_DTYPE_Q5_K:
		return (struct fy_smoke_limits){ 0.04, 1.05, 0.90 };
	case FY_DTYPE_Q4_0:
	case FY_DTYPE_Q4_1:
	case FY_DTYPE_Q4_K:
	case FY_DTYPE_IQ4_NL:
		return (struct fy_smoke_limits){ 0.10, 1.10, 0.85 };
	case FY_DTYPE_Q3_K:
		return (struct fy_smoke_limits){ 0.25, 1.25, 0.75 };
	default: /* Q2_K and anything coarser */
		return (struct fy_smoke_limits){ 0.60, 1.60, 0.60 };
	}
}

bool fy_smoke_passes(const struct fy_smoke_result *r, const struct fy_smoke_limits *l)
{
	return r->kl_mean <= l->max_kl && r->ppl_ratio <= l->max_ppl_ratio &&
	       r->top1 >= l->min_top1;
}
