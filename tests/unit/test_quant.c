/* quant: the reference quantizers against llama.cpp's test vectors, row by row. */
#include "helpers.h"
#include "quant/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROWS 48
#define COLS 512

struct vec_case {
	enum fy_dtype type;
	const char *file;   /* tests/data/testvectors/quant/<file>.q, .imat.q and .deq.f32 */
	double max_rel_err; /* documented bound: RMS error / RMS of the row, normal rows; 0: none */
	bool imat_only;	    /* llama.cpp quantizes it only with an importance matrix */
};

/* Every type llama.cpp v0.5.0's quantizer writes. The vectors come from its libggml-base
 * (ggml_quantize_chunk, what llama-quantize calls; scripts/llama/vectors.sh). */
static const struct vec_case cases[] = {
	{ FY_DTYPE_Q4_0, "q4_0", 0.12, false },	    { FY_DTYPE_Q4_1, "q4_1", 0.10, false },
	{ FY_DTYPE_Q5_0, "q5_0", 0.06, false },	    { FY_DTYPE_Q5_1, "q5_1", 0.05, false },
	{ FY_DTYPE_Q8_0, "q8_0", 0.01, false },	    { FY_DTYPE_Q2_K, "q2_k", 0.40, false },
	{ FY_DTYPE_Q3_K, "q3_k", 0.20, false },	    { FY_DTYPE_Q4_K, "q4_k", 0.10, false },
	{ FY_DTYPE_Q5_K, "q5_k", 0.05, false },	    { FY_DTYPE_Q6_K, "q6_k", 0.025, false },
	{ FY_DTYPE_IQ4_NL, "iq4_nl", 0.10, false }, { FY_DTYPE_IQ4_XS, "iq4_xs", 0.10, false },
	{ FY_DTYPE_IQ2_XXS, "iq2_xxs", 0, true },   { FY_DTYPE_IQ2_XS, "iq2_xs", 0, true },
	{ FY_DTYPE_IQ2_S, "iq2_s", 0, false },	    { FY_DTYPE_IQ3_XXS, "iq3_xxs", 0, false },
	{ FY_DTYPE_IQ3_S, "iq3_s", 0, false },	    { FY_DTYPE_IQ1_S, "iq1_s", 0, true },
	{ FY_DTYPE_IQ1_M, "iq1_m", 0, false },	    { FY_DTYPE_TQ1_0, "tq1_0", 0, false },
	{ FY_DTYPE_TQ2_0, "tq2_0", 0, false },	    { FY_DTYPE_MXFP4, "mxfp4", 0.15, false },
	{ FY_DTYPE_NVFP4, "nvfp4", 0.12, false },   { FY_DTYPE_Q1_0, "q1_0", 0.65, false },
	{ FY_DTYPE_Q2_0, "q2_0", 0.75, false },
};

static void read_vec(const char *name, struct fy_buf *b)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "testvectors/quant/%s", name);
	t_read(t_data(rel), b);
}

/* True (and the file read into b) when the vector exists. */
static bool try_read_vec(const char *name, struct fy_buf *b)
{
	char rel[128];
	snprintf(rel, sizeof(rel), "testvectors/quant/%s", name);
	struct fy_err err = { 0 };
	return access(t_data(rel), F_OK) == 0 &&
	       fy_file_read(t_data(rel), 1 << 30, b, &err) == FY_OK;
}

static const float *input_rows(struct fy_buf *in)
{
	read_vec("input.f32", in);
	cr_assert_eq(in->len, (size_t)ROWS * COLS * 4, "input.f32: %zu bytes", in->len);
	return (const float *)in->data;
}

/* Quantizes every row with qw (NULL: none) and compares with <file><suffix>. Returns the rows
 * compared. */
static int compare_quantized(const struct vec_case *c, const float *x, const float *qw,
			     const char *suffix)
{
	struct fy_buf want = { 0 };
	char name[64];
	size_t row_bytes = 0;
	snprintf(name, sizeof(name), "%s%s", c->file, suffix);
	read_vec(name, &want);
	cr_assert(fy_quant_row_bytes(c->type, COLS, &row_bytes), "%s", name);
	cr_assert_eq(want.len, row_bytes * ROWS, "%s: size", name);
	uint8_t *got = malloc(row_bytes);
	for (int r = 0; r < ROWS; r++) {
		fy_quant_row_w(c->type, x + (size_t)r * COLS, got, COLS, qw);
		cr_expect(memcmp(got, want.data + (size_t)r * row_bytes, row_bytes) == 0,
			  "%s: row %d differs from llama-quantize's", name, r);
	}
	free(got);
	fy_buf_release(&want);
	return ROWS;
}

Test(quant, quantizers_match_llama_quantize_on_every_row)
{
	struct fy_buf in = { 0 };
	const float *x = input_rows(&in);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		if (!fy_quant_can_write(cases[c].type) || cases[c].imat_only)
			continue;
		compare_quantized(&cases[c], x, NULL, ".q");
	}
	fy_buf_release(&in);
}

/* With an importance matrix: the types with a weighted quantizer against <type>.imat.q; the
 * types ggml quantizes the same with or without one (no .imat.q kept) give their plain bytes. */
Test(quant, weighted_quantizers_match_llama_quantize_with_an_imatrix)
{
	struct fy_buf in = { 0 };
	struct fy_buf im = { 0 };
	const float *x = input_rows(&in);
	read_vec("imatrix.f32", &im);
	cr_assert_eq(im.len, (size_t)COLS * 4);
	const float *qw = (const float *)im.data;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		if (!fy_quant_can_write(cases[c].type))
			continue;
		char name[64];
		struct fy_buf probe = { 0 };
		snprintf(name, sizeof(name), "%s.imat.q", cases[c].file);
		const bool differs = try_read_vec(name, &probe);
		fy_buf_release(&probe);
		if (differs && !fy_quant_takes_imatrix(cases[c].type))
			continue; /* not implemented: quant refuses --imatrix for it */
		cr_expect(differs == fy_quant_takes_imatrix(cases[c].type),
			  "%s: ggml %s the imatrix, ferry %s", cases[c].file,
			  differs ? "uses" : "ignores",
			  fy_quant_takes_imatrix(cases[c].type) ? "uses it" : "does not");
		compare_quantized(&cases[c], x, qw, differs ? ".imat.q" : ".q");
	}
	fy_buf_release(&im);
	fy_buf_release(&in);
}

Test(quant, dequantizers_match_every_row)
{
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct fy_buf q = { 0 };
		struct fy_buf want = { 0 };
		char name[64];
		size_t row_bytes = 0;
		const char *pre = cases[c].imat_only ? ".imat" : "";
		snprintf(name, sizeof(name), "%s%s.q", cases[c].file, pre);
		read_vec(name, &q);
		snprintf(name, sizeof(name), "%s%s.deq.f32", cases[c].file, pre);
		read_vec(name, &want);
		cr_assert(fy_quant_row_bytes(cases[c].type, COLS, &row_bytes));
		float *got = malloc(COLS * sizeof(float));
		for (int r = 0; r < ROWS; r++) {
			fy_dequant_row(cases[c].type, q.data + (size_t)r * row_bytes, got, COLS);
			cr_expect(memcmp(got, want.data + (size_t)r * COLS * 4, COLS * 4) == 0,
				  "%s: row %d differs", name, r);
		}
		free(got);
		fy_buf_release(&q);
		fy_buf_release(&want);
	}
}

/* Every GGUF tensor type llama.cpp v0.5.0 defines, less the plain integer and F64 types, has a
 * dequantizer: every verb and the engine read it. */
Test(quant, every_gguf_block_type_is_readable)
{
	for (int t = 0; t < 64; t++) {
		const struct fy_dtype_info *di = fy_dtype_info(t);
		if (di == NULL || !di->gguf || t == FY_DTYPE_I8 || t == FY_DTYPE_I16 ||
		    t == FY_DTYPE_I32 || t == FY_DTYPE_I64 || t == FY_DTYPE_F64 ||
		    t == FY_DTYPE_Q8_1)
			continue;
		const struct fy_quant_traits *tr = fy_quant_traits((enum fy_dtype)t);
		cr_expect(tr != NULL && tr->to_float != NULL, "%s has no dequantizer", di->name);
	}
}

/* The dequantizer in use (AVX2 twins where the CPU has them) gives the scalar one's output bit
 * for bit on random bytes: every nibble, scale and sign pattern (NaN where both give NaN). */
Test(quant, fast_dequantizers_equal_scalar_bit_for_bit)
{
	enum { N = 4096 };
	uint64_t s = 0x1234567887654321ull;
	uint8_t *raw = malloc(N * 8);
	float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
	for (int t = 0; t < FY_DTYPE_COUNT; t++) {
		const struct fy_quant_traits *tr = fy_quant_traits((enum fy_dtype)t);
		size_t bytes = 0;
		if (tr == NULL || tr->to_float == NULL ||
		    !fy_quant_row_bytes((enum fy_dtype)t, N, &bytes))
			continue;
		for (int round = 0; round < 8; round++) {
			for (size_t i = 0; i < bytes; i++) {
				s ^= s << 13;
				s ^= s >> 7;
				s ^= s << 17;
				raw[i] = (uint8_t)(s >> 24);
			}
			fy_dequant_row((enum fy_dtype)t, raw, a, N);
			fy_dequant_row_scalar((enum fy_dtype)t, raw, b, N);
			int bad = -1;
			for (int i = 0; i < N && bad < 0; i++) {
				if (memcmp(&a[i], &b[i], 4) != 0 && !(isnan(a[i]) && isnan(b[i])))
					bad = i;
			}
			cr_expect(bad < 0, "%s: value %d differs: %a vs %a", tr->name, bad,
				  bad >= 0 ? (double)a[bad] : 0.0, bad >= 0 ? (double)b[bad] : 0.0);
		}
	}
	free(raw);
	free(a);
	free(b);
}

/* Relative RMS error of quantizing then dequantizing the normal rows (0, 1, 16, 17). */
Test(quant, error_within_documented_bounds)
{
	struct fy_buf in = { 0 };
	const float *x = input_rows(&in);
	const int rows[] = { 0, 1, 16, 17 };
	uint8_t *q = malloc(COLS * 4);
	float *back = malloc(COLS * sizeof(float));
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (size_t k = 0; k < 4; k++) {
			const float *row = x + (size_t)rows[k] * COLS;
			double se = 0, ss = 0;
			if (cases[c].max_rel_err == 0 || !fy_quant_can_write(cases[c].type))
				continue;
			fy_quant_row(cases[c].type, row, q, COLS);
			fy_dequant_row(cases[c].type, q, back, COLS);
			for (int i = 0; i < COLS; i++) {
				se += ((double)back[i] - row[i]) * ((double)back[i] - row[i]);
				ss += (double)row[i] * row[i];
			}
			const double rel = sqrt(se / ss);
			cr_expect(rel <= cases[c].max_rel_err,
				  "%s row %d: relative error %.4f > %.4f", cases[c].file, rows[k],
				  rel, cases[c].max_rel_err);
		}
	}
	free(q);
	free(back);
	fy_buf_release(&in);
}

Test(quant, half_conversions_match_vectors)
{
	struct fy_buf in = { 0 };
	const float *x = input_rows(&in);
	const struct {
		enum fy_dtype t;
		const char *file;
	} conv[] = { { FY_DTYPE_F16, "f16.bin" }, { FY_DTYPE_BF16, "bf16.bin" } };
	uint16_t *got = malloc((size_t)ROWS * COLS * 2);
	for (int c = 0; c < 2; c++) {
		struct fy_buf want = { 0 };
		read_vec(conv[c].file, &want);
		fy_quant_row(conv[c].t, x, got, (int64_t)ROWS * COLS);
		cr_expect(memcmp(got, want.data, want.len) == 0, "%s differs", conv[c].file);
		fy_buf_release(&want);
	}
	free(got);
	fy_buf_release(&in);
}

Test(quant, traits_table_is_consistent_with_dtype_table)
{
	for (int t = 0; t < FY_DTYPE_COUNT; t++) {
		const struct fy_quant_traits *tr = fy_quant_traits((enum fy_dtype)t);
		if (tr == NULL)
			continue;
		const struct fy_dtype_info *di = fy_dtype_info(t);
		cr_assert_not_null(di, "type %d", t);
		cr_expect_eq(tr->blck, di->blck, "%s block", tr->name);
		cr_expect_eq(tr->bytes, di->size, "%s bytes", tr->name);
		cr_expect_str_eq(tr->name, di->name);
		cr_expect(tr->to_float != NULL, "%s dequantizer", tr->name);
	}
	size_t n = 0;
	cr_expect(!fy_quant_row_bytes(FY_DTYPE_Q4_K, 255, &n), "255 is not a Q4_K row");
	cr_expect(fy_quant_row_bytes(FY_DTYPE_IQ2_XXS, 256, &n) && n == 66);
	cr_expect(fy_quant_row_bytes(FY_DTYPE_Q1_0, 128, &n) && n == 18);
	cr_expect(fy_quant_row_bytes(FY_DTYPE_Q6_K, 512, &n) && n == 420);
}

Test(quant, check_finite_finds_nan_and_inf)
{
	float x[4] = { 1, 2, 3, 4 };
	cr_expect_eq(fy_quant_check_finite(x, 4), -1);
	x[2] = INFINITY;
	cr_expect_eq(fy_quant_check_finite(x, 4), 2);
	x[1] = NAN;
	cr_expect_eq(fy_quant_check_finite(x, 4), 1);
}

/* --- mixtures ----------------------------------------------------------------------------- */

/* A synthetic llama-shaped model: n_layer layers, row length dim (ffn rows ffn). */
struct synth {
	struct fy_quant_src t[16 * 9 + 3];
	char names[16 * 9 + 3][48];
	size_t n;
};

static void synth_add(struct synth *s, const char *name, int64_t ne0, int64_t ne1)
{
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->t[s->n] = (struct fy_quant_src){ s->names[s->n], FY_DTYPE_F16, { ne0, ne1, 1, 1 } };
	s->n++;
}

static void synth_model(struct synth *s, int n_layer, int64_t dim, int64_t ffn, bool tied)
{
	static const char *const parts[] = { "attn_q",	 "attn_k", "attn_v",  "attn_output",
					     "ffn_gate", "ffn_up", "ffn_down" };
	char name[48];
	s->n = 0;
	synth_add(s, "token_embd.weight", dim, 1000);
	if (!tied)
		synth_add(s, "output.weight", dim, 1000);
	synth_add(s, "output_norm.weight", dim, 1);
	for (int l = n_layer - 1; l >= 0; l--) { /* reverse: the plan must reorder */
		for (int p = 0; p < 7; p++) {
			snprintf(name, sizeof(name), "blk.%d.%s.weight", l, parts[p]);
			synth_add(s, name, p == 6 ? ffn : dim, p == 6 ? dim : (p >= 4 ? ffn : dim));
		}
		snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", l);
		synth_add(s, name, dim, 1);
	}
}

static enum fy_dtype planned(const struct synth *s, const struct fy_quant_choice *c,
			     const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->t[c[i].src].name, name) == 0)
			return c[i].type;
	}
	cr_assert_fail("%s not planned", name);
	return FY_DTYPE_COUNT;
}

static void plan_synth(struct synth *s, const char *ftype, struct fy_quant_choice *c)
{
	struct fy_quant_model m = { .arch = "llama", .n_layer = 0, .n_head = 8, .n_head_kv = 8 };
	struct fy_quant_params p = { .output_type = -1, .token_embd_type = -1 };
	struct fy_err err = { 0 };
	for (size_t i = 0; i < s->n; i++) {
		const int l = fy_quant_layer_of(s->t[i].name);
		if (l + 1 > m.n_layer)
			m.n_layer = l + 1;
	}
	cr_assert(fy_ftype_from_name(ftype, &p.ftype), "%s", ftype);
	cr_assert_eq(fy_quant_plan(&m, s->t, s->n, &p, c, &err), FY_OK, "%s", err.msg);
}

static void expect_layers(const struct synth *s, const struct fy_quant_choice *c, const char *part,
			  const enum fy_dtype *want, int n_layer)
{
	char name[48];
	for (int l = 0; l < n_layer; l++) {
		snprintf(name, sizeof(name), "blk.%d.%s.weight", l, part);
		cr_expect_eq(planned(s, c, name), want[l], "%s: %s, want %s", name,
			     fy_dtype_name(planned(s, c, name)), fy_dtype_name(want[l]));
	}
}

Test(quant_mix, q4_k_m_8_and_16_layers)
{
	static struct synth s;
	struct fy_quant_choice c[sizeof(s.t) / sizeof(s.t[0])];
	const enum fy_dtype K4 = FY_DTYPE_Q4_K, K6 = FY_DTYPE_Q6_K;
	const enum fy_dtype want8[8] = { K6, K4, K4, K6, K4, K4, K6, K6 };
	enum fy_dtype want16[16];
	for (int l = 0; l < 16; l++)
		want16[l] = (l == 0 || l == 1 || l == 4 || l == 7 || l == 10 || l == 13 || l >= 14)
				    ? K6
				    : K4;
	synth_model(&s, 8, 256, 512, false);
	plan_synth(&s, "Q4_K_M", c);
	expect_layers(&s, c, "attn_v", want8, 8);
	expect_layers(&s, c, "ffn_down", want8, 8);
	cr_expect_eq(planned(&s, c, "output.weight"), K6);
	cr_expect_eq(planned(&s, c, "token_embd.weight"), K4, "untied embeddings keep the base");
	cr_expect_eq(planned(&s, c, "blk.3.attn_q.weight"), K4);
	cr_expect_eq(planned(&s, c, "blk.3.attn_norm.weight"), FY_DTYPE_F16, "norms are copied");
	synth_model(&s, 16, 256, 512, false);
	plan_synth(&s, "Q4_K_M", c);
	expect_layers(&s, c, "attn_v", want16, 16);
	expect_layers(&s, c, "ffn_down", want16, 16);
}

Test(quant_mix, output_order_is_llama_cpps)
{
	static struct synth s;
	struct fy_quant_choice c[sizeof(s.t) / sizeof(s.t[0])];
	synth_model(&s, 12, 256, 512, false);
	plan_synth(&s, "Q8_0", c);
	cr_expect_str_eq(s.t[c[0].src].name, "output.weight");
	cr_expect_str_eq(s.t[c[1].src].name, "output_norm.weight");
	cr_expect_str_eq(s.t[c[2].src].name, "token_embd.weight");
	cr_expect_str_eq(s.t[c[3].src].name, "blk.0.attn_k.weight");
	for (size_t i = 4; i < s.n; i++)
		cr_expect(fy_quant_name_cmp(s.t[c[i - 1].src].name, s.t[c[i].src].name) < 0);
	cr_expect_eq(fy_quant_layer_of(s.t[c[s.n - 1].src].name), 11, "blk.11 last, not blk.9");
}

Test(quant_mix, tied_embeddings_and_q8_0)
{
	static struct synth s;
	struct fy_quant_choice c[sizeof(s.t) / sizeof(s.t[0])];
	synth_model(&s, 8, 256, 512, true);
	plan_synth(&s, "Q5_K_M", c);
	cr_expect_eq(planned(&s, c, "token_embd.weight"), FY_DTYPE_Q6_K, "tied: output's rule");
	plan_synth(&s, "Q8_0", c);
	cr_expect_eq(planned(&s, c, "token_embd.weight"), FY_DTYPE_Q8_0);
	cr_expect_eq(planned(&s, c, "blk.0.attn_v.weight"), FY_DTYPE_Q8_0);
	plan_synth(&s, "F16", c);
	cr_expect_eq(planned(&s, c, "token_embd.weight"), FY_DTYPE_F16);
}

Test(quant_mix, q3_and_q2_rules)
{
	static struct synth s;
	struct fy_quant_choice c[sizeof(s.t) / sizeof(s.t[0])];
	synth_model(&s, 16, 256, 512, false);
	plan_synth(&s, "Q3_K_M", c);
	cr_expect_eq(planned(&s, c, "blk.0.attn_v.weight"), FY_DTYPE_Q5_K);
	cr_expect_eq(planned(&s, c, "blk.1.attn_v.weight"), FY_DTYPE_Q5_K);
	cr_expect_eq(planned(&s, c, "blk.2.attn_v.weight"), FY_DTYPE_Q4_K);
	cr_expect_eq(planned(&s, c, "blk.0.ffn_down.weight"), FY_DTYPE_Q5_K, "i < n/16");
	cr_expect_eq(planned(&s, c, "blk.1.ffn_down.weight"), FY_DTYPE_Q4_K);
	cr_expect_eq(planned(&s, c, "blk.5.attn_output.weight"), FY_DTYPE_Q4_K);
	cr_expect_eq(planned(&s, c, "blk.5.attn_q.weight"), FY_DTYPE_Q3_K);
	plan_synth(&s, "Q3_K_L", c);
	cr_expect_eq(planned(&s, c, "blk.5.attn_output.weight"), FY_DTYPE_Q5_K);
	cr_expect_eq(planned(&s, c, "blk.5.ffn_down.weight"), FY_DTYPE_Q5_K);
	plan_synth(&s, "Q3_K_S", c);
	cr_expect_eq(planned(&s, c, "blk.5.ffn_down.weight"), FY_DTYPE_Q3_K);
	plan_synth(&s, "Q2_K", c);
	cr_expect_eq(planned(&s, c, "blk.5.attn_v.weight"), FY_DTYPE_Q3_K, "GQA 1");
	cr_expect_eq(planned(&s, c, "blk.5.ffn_down.weight"), FY_DTYPE_Q3_K);
	cr_expect_eq(planned(&s, c, "blk.5.attn_output.weight"), FY_DTYPE_Q3_K);
	plan_synth(&s, "Q4_K_S", c);
	cr_expect_eq(planned(&s, c, "blk.3.attn_v.weight"), FY_DTYPE_Q5_K, "first 4 attn_v");
	cr_expect_eq(planned(&s, c, "blk.4.attn_v.weight"), FY_DTYPE_Q4_K);
	cr_expect_eq(planned(&s, c, "blk.1.ffn_down.weight"), FY_DTYPE_Q5_K, "i < n/8");
	cr_expect_eq(planned(&s, c, "blk.2.ffn_down.weight"), FY_DTYPE_Q4_K);
}

Test(quant_mix, moe_eight_experts_and_layer_from_name)
{
	struct fy_quant_src t[] = {
		{ "blk.0.attn_v.weight", FY_DTYPE_F16, { 256, 64, 1, 1 } },
		{ "blk.0.attn_k.weight", FY_DTYPE_F16, { 256, 64, 1, 1 } },
		{ "blk.0.attn_output.weight", FY_DTYPE_F16, { 256, 256, 1, 1 } },
		{ "blk.0.ffn_down_exps.weight", FY_DTYPE_F16, { 512, 256, 8, 1 } },
		{ "blk.0.ffn_gate_inp.weight", FY_DTYPE_F32, { 256, 8, 1, 1 } },
		{ "blk.7.ffn_down_exps.weight", FY_DTYPE_F16, { 512, 256, 8, 1 } },
		{ "output.weight", FY_DTYPE_F16, { 256, 1000, 1, 1 } },
	};
	struct fy_quant_choice c[7];
	struct fy_quant_model m = {
		.arch = "qwen3moe", .n_layer = 8, .n_head = 8, .n_head_kv = 2, .n_expert = 8
	};
	struct fy_quant_params p = { .ftype = FY_FTYPE_Q4_K_M,
				     .output_type = -1,
				     .token_embd_type = -1 };
	struct fy_err err = { 0 };
	cr_assert_eq(fy_quant_plan(&m, t, 7, &p, c, &err), FY_OK, "%s", err.msg);
	enum fy_dtype want[7] = { FY_DTYPE_Q6_K, FY_DTYPE_Q8_0, FY_DTYPE_Q5_K, FY_DTYPE_Q8_0,
				  FY_DTYPE_Q6_K, FY_DTYPE_F32,	FY_DTYPE_Q6_K };
	/* output order: output.weight, then blk.0 by name, then blk.7 */
	const char *order[7] = { "output.weight",
				 "blk.0.attn_k.weight",
				 "blk.0.attn_output.weight",
				 "blk.0.attn_v.weight",
				 "blk.0.ffn_down_exps.weight",
				 "blk.0.ffn_gate_inp.weight",
				 "blk.7.ffn_down_exps.weight" };
	for (int i = 0; i < 7; i++) {
		cr_expect_str_eq(t[c[i].src].name, order[i]);
		cr_expect_eq(c[i].type, want[i], "%s: %s", order[i], fy_dtype_name(c[i].type));
	}
	t[5].name = "blk.9.ffn_down_exps.weight";
	cr_expect_eq(fy_quant_plan(&m, t, 7, &p, c, &err), FY_EFORMAT);
	cr_expect(strstr(err.msg, "blk.9.ffn_down_exps.weight") != NULL, "%s", err.msg);
}

Test(quant_mix, fallbacks_on_stories260k_shapes)
{
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q4_K, 64), FY_DTYPE_Q5_0);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q5_K, 64), FY_DTYPE_Q5_1);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q6_K, 64), FY_DTYPE_Q8_0);
	/* v0.5.0: Q2_K/Q3_K fall back to Q4_0 (b4747: IQ4_NL), the i-quants to IQ4_NL */
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q2_K, 64), FY_DTYPE_Q4_0);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q3_K, 64), FY_DTYPE_Q4_0);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_TQ1_0, 64), FY_DTYPE_Q4_0);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_IQ4_XS, 64), FY_DTYPE_IQ4_NL);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_IQ2_XXS, 96), FY_DTYPE_IQ4_NL);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q1_0, 64), FY_DTYPE_COUNT, "no fallback");
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_MXFP4, 48), FY_DTYPE_F16);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q4_K, 172), FY_DTYPE_F16, "172 = 4 * 43");
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q4_0, 172), FY_DTYPE_F16);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q8_0, 64), FY_DTYPE_Q8_0);
	cr_expect_eq(fy_quant_fallback(FY_DTYPE_Q4_K, 512), FY_DTYPE_Q4_K);
}

Test(quant_mix, overrides_and_pure)
{
	static struct synth s;
	struct fy_quant_choice c[sizeof(s.t) / sizeof(s.t[0])];
	struct fy_quant_override *o[2] = { NULL, NULL };
	struct fy_err err = { 0 };
	cr_assert_eq(fy_quant_override_new(&o[0], "blk\\.\\d+\\.ffn_down=q8_0", &err), FY_OK, "%s",
		     err.msg);
	cr_assert_eq(fy_quant_override_new(&o[1], "attn_q=F16", &err), FY_OK, "%s", err.msg);
	cr_expect_eq(fy_quant_override_new(&o[1], "attn_q=Q9_9", &err), FY_EINVAL);
	cr_expect_eq(fy_quant_override_new(&o[1], "(=Q8_0", &err), FY_EINVAL);
	cr_expect_eq(fy_quant_override_new(&o[1], "noequals", &err), FY_EINVAL);
	synth_model(&s, 8, 256, 512, false);
	struct fy_quant_model m = { .arch = "llama", .n_layer = 8, .n_head = 8, .n_head_kv = 8 };
	struct fy_quant_params p = { .ftype = FY_FTYPE_Q4_K_M,
				     .output_type = FY_DTYPE_Q8_0,
				     .token_embd_type = FY_DTYPE_Q5_K,
				     .overrides = o,
				     .n_overrides = 2 };
	cr_assert_eq(fy_quant_plan(&m, s.t, s.n, &p, c, &err), FY_OK, "%s", err.msg);
	cr_expect_eq(planned(&s, c, "blk.0.ffn_down.weight"), FY_DTYPE_Q8_0);
	cr_expect_eq(planned(&s, c, "blk.4.attn_q.weight"), FY_DTYPE_F16);
	cr_expect_eq(planned(&s, c, "output.weight"), FY_DTYPE_Q8_0);
	cr_expect_eq(planned(&s, c, "token_embd.weight"), FY_DTYPE_Q5_K);
	p = (struct fy_quant_params){
		.ftype = FY_FTYPE_Q4_K_M, .pure = true, .output_type = -1, .token_embd_type = -1
	};
	cr_assert_eq(fy_quant_plan(&m, s.t, s.n, &p, c, &err), FY_OK, "%s", err.msg);
	cr_expect_eq(planned(&s, c, "output.weight"), FY_DTYPE_Q4_K, "pure: no output rule");
	cr_expect_eq(planned(&s, c, "blk.0.attn_v.weight"), FY_DTYPE_Q4_K);
	p.leave_output = true;
	cr_assert_eq(fy_quant_plan(&m, s.t, s.n, &p, c, &err), FY_OK, "%s", err.msg);
	cr_expect_eq(planned(&s, c, "output.weight"), FY_DTYPE_F16, "--leave-output-tensor");
	fy_quant_override_free(o[0]);
	fy_quant_override_free(o[1]);
}
