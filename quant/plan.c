/*
 * Plans: the order and output type of every tensor of a file under a mixture, the user's
 * overrides and the row-length fallbacks. Pure (no I/O), so the rules are testable on synthetic
 * models.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "quant/quant.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct fy_quant_override {
	pcre2_code *re;
	enum fy_dtype type;
};

bool fy_quant_type_from_name(const char *name, enum fy_dtype *out)
{
	enum fy_dtype t;
	if (!fy_dtype_from_name(name, &t) || !fy_quant_can_write(t))
		return false;
	*out = t;
	return true;
}

int fy_quant_override_new(struct fy_quant_override **out, const char *spec, struct fy_err *err)
{
	const char *eq = strrchr(spec, '=');
	if (eq == NULL || eq == spec || eq[1] == '\0')
		return fy_err_set(err, FY_EINVAL, "--tensor-type '%s': expected REGEX=TYPE", spec);
	enum fy_dtype t;
	if (!fy_quant_type_from_name(eq + 1, &t))
		return fy_err_set(err, FY_EINVAL,
				  "--tensor-type '%s': unknown type '%s' (one of %s)", spec, eq + 1,
				  fy_quant_writable_names());
	int code = 0;
	PCRE2_SIZE at = 0;
	pcre2_code *re =
		pcre2_compile((PCRE2_SPTR)spec, (PCRE2_SIZE)(eq - spec), 0, &code, &at, NULL);
	if (re == NULL) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof(msg));
		return fy_err_set(err, FY_EINVAL, "--tensor-type '%s': bad regular expression: %s",
				  spec, (const char *)msg);
	}
	struct fy_quant_override *o = calloc(1, sizeof(*o));
	if (o == NULL) {
		pcre2_code_free(re);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	o->re = re;
	o->type = t;
	*out = o;
	return FY_OK;
}

void fy_quant_override_free(struct fy_quant_override *o)
{
	if (o == NULL)
		return;
	pcre2_code_free(o->re);
	free(o);
}

static bool override_matches(const struct fy_quant_override *o, const char *name)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(o->re, NULL);
	if (md == NULL)
		return false;
	const int rc = pcre2_match(o->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* ggml_n_dims: dimensions up to the last one above 1. */
static int n_dims_of(const int64_t ne[4])
{
	for (int i = 3; i >= 1; i--) {
		if (ne[i] > 1)
			return i + 1;
	}
	return 1;
}

static bool is_float_type(enum fy_dtype t)
{
	return t == FY_DTYPE_F32 || t == FY_DTYPE_F16 || t == FY_DTYPE_BF16;
}

static void count_model(struct fy_quant_model *m, const struct fy_quant_src *src, size_t n)
{
	m->has_output = false;
	m->n_attention_wv = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = src[i].name;
		if (fy_quant_is_attn_v(name))
			m->n_attention_wv++;
		else if (strcmp(name, "output.weight") == 0)
			m->has_output = true;
	}
}

static int order_cmp(const void *a, const void *b, void *ctx)
{
	const struct fy_quant_src *src = ctx;
	const size_t ia = *(const size_t *)a;
	const size_t ib = *(const size_t *)b;
	return fy_quant_name_cmp(src[ia].name, src[ib].name);
}

static bool is_token_embd(const char *name)
{
	return strcmp(name, "token_embd.weight") == 0 ||
	       strcmp(name, "per_layer_token_embd.weight") == 0;
}

/* The first --tensor-type override matching the name, or NULL. */
static const struct fy_quant_override *first_override(const struct fy_quant_params *p,
						      const char *name)
{
	for (size_t k = 0; k < p->n_overrides; k++) {
		if (override_matches(p->overrides[k], name))
			return p->overrides[k];
	}
	return NULL;
}

/*
 * The type of one quantizable tensor before the fallback, in llama_tensor_get_type's order:
 * --token-embedding-type (token_embd and per_layer_token_embd, unless a --tensor-type names the
 * latter), --output-tensor-type, then for a quantized base type the first matching --tensor-type
 * or else (without --pure) the mixture's rules. An override leaves the mixture's counters as
 * they are, as in llama.cpp.
 */
static int choose(struct fy_quant_mix *mix, const struct fy_quant_params *p,
		  const struct fy_quant_src *t, struct fy_quant_choice *c, struct fy_err *err)
{
	const enum fy_dtype base = fy_ftype_base(p->ftype);
	const struct fy_quant_override *o = NULL;
	c->type = base;
	c->reason = FY_QREASON_BASE;
	if (p->token_embd_type >= 0 && is_token_embd(t->name) &&
	    (strcmp(t->name, "per_layer_token_embd.weight") != 0 ||
	     first_override(p, t->name) == NULL)) {
		c->type = (enum fy_dtype)p->token_embd_type;
		c->reason = FY_QREASON_OVERRIDE;
		return FY_OK;
	}
	if (p->output_type >= 0 && strcmp(t->name, "output.weight") == 0) {
		c->type = (enum fy_dtype)p->output_type;
		c->reason = FY_QREASON_OVERRIDE;
		return FY_OK;
	}
	if (is_float_type(base))
		return FY_OK;
	if ((o = first_override(p, t->name)) != NULL) {
		c->type = o->type;
		c->reason = FY_QREASON_OVERRIDE;
		return FY_OK;
	}
	if (p->pure)
		return FY_OK;
	int rc = fy_quant_mix_type(mix, t->name, t->ne, &c->type, err);
	if (rc == FY_OK && c->type != base)
		c->reason = FY_QREASON_RULE;
	return rc;
}

/* llama.cpp's tensor_requires_imatrix: the 1-3 bit i-quants, and Q2_K in a Q2_K_S file (the
 * embeddings and output excepted). */
bool fy_quant_needs_imatrix(const char *name, enum fy_dtype t, enum fy_ftype ftype)
{
	if (is_token_embd(name) || strcmp(name, "output.weight") == 0)
		return false;
	switch (t) {
	case FY_DTYPE_IQ3_XXS:
	case FY_DTYPE_IQ2_XXS:
	case FY_DTYPE_IQ2_XS:
	case FY_DTYPE_IQ2_S:
	case FY_DTYPE_IQ1_M:
	case FY_DTYPE_IQ1_S:
		return true;
	case FY_DTYPE_Q2_K:
		return ftype == FY_FTYPE_Q2_K_S;
	default:
		return false;
	}
}

static int plan_one(struct fy_quant_mix *mix, const struct fy_quant_params *p,
		    const struct fy_quant_src *t, struct fy_quant_choice *c, struct fy_err *err)
{
	c->type = t->type;
	c->wanted = t->type;
	c->reason = FY_QREASON_COPY;
	if (!fy_quant_is_quantizable(t->name, n_dims_of(t->ne), p->leave_output))
		return FY_OK;
	int rc = choose(mix, p, t, c, err);
	if (rc != FY_OK)
		return rc;
	c->wanted = c->type;
	c->type = fy_quant_fallback(c->type, t->ne[0]);
	if (c->type == FY_DTYPE_COUNT)
		return fy_err_set(
			err, FY_EUNSUPPORTED,
			"tensor '%s': rows of %lld do not split into %s blocks of %lld, and "
			"llama.cpp defines no fallback type for %s",
			t->name, (long long)t->ne[0], fy_dtype_name(c->wanted),
			(long long)fy_dtype_info(c->wanted)->blck, fy_dtype_name(c->wanted));
	if (c->type != c->wanted)
		c->reason = FY_QREASON_FALLBACK;
	if (c->type == t->type)
		return FY_OK; /* already what is wanted: copied as it is */
	if (fy_quant_needs_imatrix(t->name, c->type, p->ftype) && !p->has_imatrix)
		return fy_err_set(
			err, FY_EINVAL,
			"tensor '%s': %s needs an importance matrix (--imatrix FILE), as in "
			"llama-quantize",
			t->name, fy_dtype_name(c->type));
	if (!fy_quant_can_write(c->type))
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "tensor '%s': ferry cannot write %s tensors yet (it writes %s)",
				  t->name, fy_dtype_name(c->type), fy_quant_writable_names());
	const struct fy_quant_traits *tr = fy_quant_traits(t->type);
	if (tr == NULL || tr->to_float == NULL)
		return fy_err_set(err, FY_EUNSUPPORTED, "tensor '%s': cannot convert from %s",
				  t->name, fy_dtype_name(t->type));
	return FY_OK;
}

int fy_quant_plan(struct fy_quant_model *model, const struct fy_quant_src *src, size_t n,
		  const struct fy_quant_params *params, struct fy_quant_choice *out,
		  struct fy_err *err)
{
	struct fy_quant_mix mix = { .ftype = params->ftype, .has_imatrix = params->has_imatrix };
	size_t *order = calloc(n > 0 ? n : 1, sizeof(*order));
	int rc = FY_OK;
	if (order == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	count_model(model, src, n);
	mix.model = *model;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), order_cmp, (void *)src);
	for (size_t k = 0; k < n && rc == FY_OK; k++) {
		out[k].src = order[k];
		rc = plan_one(&mix, params, &src[order[k]], &out[k], err);
	}
	free(order);
	return rc;
}
