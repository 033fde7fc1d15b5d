/*
 * Sampling: greedy (temperature 0), or temperature, top-k and top-p (nucleus) over the softmax,
 * drawn with a seeded splitmix64 generator so a seed reproduces a run. Tokens whose probability
 * is below e^-30 of the likeliest one are never drawn (nor sorted).
 */
#include "infer/infer.h"

#include <math.h>
#include <stdlib.h>

void fy_sampler_init(struct fy_sampler *s, float temp, int top_k, float top_p, uint64_t seed)
{
	s->temp = temp;
	s->top_k = top_k;
	s->top_p = top_p > 0 && top_p < 1 ? top_p : 1.0f;
	s->state = seed;
}

static uint64_t next_u64(struct fy_sampler *s)
{
	uint64_t z = (s->state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int32_t fy_argmax(const float *x, int n)
{
	int32_t best = 0;
	for (int i = 1; i < n; i++)
		best = x[i] > x[best] ? i : best;
	return best;
}

struct cand {
	float p;
	int32_t id;
};

static int by_prob(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->p != y->p)
		return x->p < y->p ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Candidates more than this many temperature units below the best logit have a probability
 * below e^-30 of the best one: left out, the vocabulary never has to be sorted whole. */
#define CUTOFF 30.0f

int32_t fy_sample(struct fy_sampler *s, const float *logits, int n)
{
	if (s->temp <= 0 || s->top_k == 1)
		return fy_argmax(logits, n);
	const float max = logits[fy_argmax(logits, n)];
	const float floor = max - CUTOFF * s->temp;
	int kept = 0;
	for (int i = 0; i < n; i++)
		kept += logits[i] >= floor;
	struct cand *c = malloc(((size_t)kept + 1) * sizeof(*c)); /* kept >= 1 unless NaN */
	if (c == NULL) /* no memory for the candidates: the most likely token is still a choice */
		return fy_argmax(logits, n);
	kept = 0;
	for (int i = 0; i < n; i++) {
		if (logits[i] >= floor)
			c[kept++] = (struct cand){ expf((logits[i] - max) / s->temp), i };
	}
	qsort(c, (size_t)kept, sizeof(*c), by_prob);
	int keep = s->top_k > 0 && s->top_k < kept ? s->top_k : kept;
	double mass = 0;
	for (int i = 0; i < keep; i++)
		mass += c[i].p;
	/* nucleus: the smallest prefix whose share of the kept mass reaches top_p */
	if (s->top_p < 1) {
		double acc = 0;
		for (int i = 0; i < keep; i++) {
			acc += c[i].p;
			if (acc >= s->top_p * mass) {
				keep = i + 1;
				mass = acc;
				break;
			}
		}
	}
	const double r = (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0) * mass;
	double acc = 0;
	int32_t pick = c[keep - 1].id;
	for (int i = 0; i < keep; i++) {
		acc += c[i].p;
		if (r < acc) {
			pick = c[i].id;
			break;
		}
	}
	free(c);
	return pick;
}
