/*
 * quant: ggml's block quantization types, one row per type in a traits table.
 *
 *   struct fy_quant_traits      a row: block size and bytes, the reference quantizer, the
 *                               dequantizer, the activation type infer pairs the type with
 *   fy_quant_row / fy_dequant_row    one row (a multiple of the block size) at a time
 *   enum fy_ftype               llama.cpp's file types (`--type Q4_K_M` and friends)
 *   struct fy_quant_mix         the per-tensor rules of a mixture (llama_tensor_get_type)
 *
 * The quantizers reproduce llama.cpp's scalar reference functions (`quantize_row_<t>_ref`, what
 * `llama-quantize` runs without an importance matrix) bit for bit; they are built with
 * -ffp-contract=off. Test vectors: tests/data/testvectors/quant. See docs/QUANT.md.
 */
#ifndef FERRY_QUANT_H
#define FERRY_QUANT_H

#include "core/core.h"

#define FY_QK_K 256 /* elements of a K-quant super-block */

typedef void (*fy_quant_from_float_fn)(const float *x, void *y, int64_t n);
typedef void (*fy_quant_to_float_fn)(const void *x, float *y, int64_t n);
/* A quantizer weighing each element's error by qw[0..n) (an importance-matrix row). */
typedef void (*fy_quant_weighted_fn)(const float *x, void *y, int64_t n, const float *qw);

struct fy_quant_traits {
	enum fy_dtype type;
	const char *name;
	int64_t blck;			   /* elements per block */
	size_t bytes;			   /* bytes per block */
	fy_quant_from_float_fn from_float; /* llama-quantize's quantizer without an imatrix, or
					      NULL (ferry cannot write the type, or ggml only
					      quantizes it with one) */
	fy_quant_weighted_fn quantize_w;   /* with an importance matrix, or NULL */
	fy_quant_to_float_fn to_float;	   /* dequantizer, n a multiple of blck */
	enum fy_dtype vec_dot_type;	   /* the activation type a dot product pairs it with */
};

/* The row for t, or NULL when ferry can neither write nor read t's blocks. */
const struct fy_quant_traits *fy_quant_traits(enum fy_dtype t);
/* True when ferry can produce (quantize to) type t. */
bool fy_quant_can_write(enum fy_dtype t);
/* True for the types ggml quantizes only with importance weights (IQ2_XXS, IQ2_XS, IQ1_S):
 * fy_quant_row must not be called for them, fy_quant_row_w only with weights. */
bool fy_quant_weights_required(enum fy_dtype t);
/* A type ferry can produce, by name ("q8_0", any case). False if unknown or not writable. */
bool fy_quant_type_from_name(const char *name, enum fy_dtype *out);
/* Comma-separated names of the types ferry can produce (for messages). */
const char *fy_quant_writable_names(void);

/* Bytes of a row of n elements of type t; false if n is not a multiple of the block size or the
 * type is unknown. */
bool fy_quant_row_bytes(enum fy_dtype t, int64_t n, size_t *out);

/*
 * Quantizes n floats (a multiple of the type's block size) into y. The input must be finite:
 * fy_quant_check_finite says where it is not. Types F32, F16 and BF16 are conversions.
 */
void fy_quant_row(enum fy_dtype t, const float *x, void *y, int64_t n);
/* The same with an importance-matrix row qw[0..n) (NULL: fy_quant_row). A type without a
 * weighted quantizer (fy_quant_takes_imatrix false) quantizes as fy_quant_row, as ggml does for
 * the types that ignore an imatrix. */
void fy_quant_row_w(enum fy_dtype t, const float *x, void *y, int64_t n, const float *qw);
bool fy_quant_takes_imatrix(enum fy_dtype t);
/* Dequantizes n elements of type t into y. t must have a to_float. */
void fy_dequant_row(enum fy_dtype t, const void *x, float *y, int64_t n);
/* The scalar dequantizer alone (fy_dequant_row takes an AVX2 twin where there is one: Q4_0,
 * Q8_0, Q4_K, Q5_K, Q6_K; the output is the same bit for bit). */
void fy_dequant_row_scalar(enum fy_dtype t, const void *x, float *y, int64_t n);
/* Index of the first non-finite value of x[0..n), or -1. */
int64_t fy_quant_check_finite(const float *x, int64_t n);

/* ------------------------------------------------------------------------------------------ */
/* Mixtures                                                                                   */

/* llama.cpp's llama_ftype values: written as general.file_type. */
enum fy_ftype {
	FY_FTYPE_F32 = 0,
	FY_FTYPE_F16 = 1,
	FY_FTYPE_Q4_0 = 2,
	FY_FTYPE_Q4_1 = 3,
	FY_FTYPE_Q8_0 = 7,
	FY_FTYPE_Q5_0 = 8,
	FY_FTYPE_Q5_1 = 9,
	FY_FTYPE_Q2_K = 10,
	FY_FTYPE_Q3_K_S = 11,
	FY_FTYPE_Q3_K_M = 12,
	FY_FTYPE_Q3_K_L = 13,
	FY_FTYPE_Q4_K_S = 14,
	FY_FTYPE_Q4_K_M = 15,
	FY_FTYPE_Q5_K_S = 16,
	FY_FTYPE_Q5_K_M = 17,
	FY_FTYPE_Q6_K = 18,
	FY_FTYPE_IQ2_XXS = 19,
	FY_FTYPE_IQ2_XS = 20,
	FY_FTYPE_Q2_K_S = 21,
	FY_FTYPE_IQ3_XS = 22,
	FY_FTYPE_IQ3_XXS = 23,
	FY_FTYPE_IQ1_S = 24,
	FY_FTYPE_IQ4_NL = 25,
	FY_FTYPE_IQ3_S = 26,
	FY_FTYPE_IQ3_M = 27,
	FY_FTYPE_IQ2_S = 28,
	FY_FTYPE_IQ2_M = 29,
	FY_FTYPE_IQ4_XS = 30,
	FY_FTYPE_IQ1_M = 31,
	FY_FTYPE_BF16 = 32,
	FY_FTYPE_TQ1_0 = 36,
	FY_FTYPE_TQ2_0 = 37,
	FY_FTYPE_MXFP4_MOE = 38,
	FY_FTYPE_Q1_0 = 40,
	FY_FTYPE_Q2_0 = 41,
};

/* Parses a mixture name ("Q4_K_M", case-insensitive; llama-quantize's aliases Q3_K, Q4_K, Q5_K
 * included). False if llama.cpp v0.5.0 has no such file type. */
bool fy_ftype_from_name(const char *name, enum fy_ftype *out);
const char *fy_ftype_name(enum fy_ftype f);
/* The mixture's base tensor type (Q4_K for Q4_K_M). */
enum fy_dtype fy_ftype_base(enum fy_ftype f);
/* Comma-separated mixture names (for messages and help). */
const char *fy_ftype_names(void);
/* True for the file types llama-quantize refuses without an importance matrix (IQ1/IQ2, Q2_K_S). */
bool fy_ftype_needs_imatrix(enum fy_ftype f);

/* What the mixture rules need to know of the model. */
struct fy_quant_model {
	const char *arch;   /* general.architecture */
	int n_layer;	    /* <arch>.block_count */
	int n_head;	    /* <arch>.attention.head_count (0 if unknown) */
	int n_head_kv;	    /* <arch>.attention.head_count_kv (0 if unknown: = n_head) */
	int n_expert;	    /* <arch>.expert_count (0 for dense models) */
	bool has_output;    /* the file has output.weight (false: embeddings are tied) */
	int n_attention_wv; /* tensors whose name holds attn_v.weight or attn_qkv.weight */
};

/* Running state of a mixture over the tensors of one file, visited in llama.cpp's order. */
struct fy_quant_mix {
	enum fy_ftype ftype;
	bool has_imatrix; /* some rules differ when an importance matrix is given */
	struct fy_quant_model model;
	int i_attention_wv, i_ffn_down, i_ffn_gate, i_ffn_up;
};

/* Why a tensor got the type it got (for the plan and the log). */
enum fy_quant_reason {
	FY_QREASON_COPY,     /* not a quantizable weight: copied as it is */
	FY_QREASON_BASE,     /* the mixture's base type */
	FY_QREASON_RULE,     /* a per-tensor rule of the mixture */
	FY_QREASON_OVERRIDE, /* --tensor-type, --output-tensor-type or --token-embedding-type */
	FY_QREASON_FALLBACK, /* the row length does not divide the chosen block: a fallback type */
};

/* True if llama.cpp would quantize the tensor at all: a weight of 2+ dims that is not a norm, a
 * router, or a position/type embedding (leave_output keeps output.weight as it is). */
bool fy_quant_is_quantizable(const char *name, int n_dims, bool leave_output);

/* The mixture's type for one quantizable tensor of shape ne (llama_tensor_get_type_impl: no
 * overrides, no fallback), advancing the mixture's counters. Fails when a MoE tensor's layer
 * cannot be read from its name. */
int fy_quant_mix_type(struct fy_quant_mix *mix, const char *name, const int64_t ne[4],
		      enum fy_dtype *out, struct fy_err *err);
/* True for the attn_v-like tensors the mixtures count (attn_v, attn_qkv, attn_kv_b). */
bool fy_quant_is_attn_v(const char *name);

/* Where ne0 does not divide t's block: llama.cpp v0.5.0's fallback (the i-quants -> IQ4_NL;
 * Q2_K, Q3_K, Q2_0, TQ1_0, TQ2_0 -> Q4_0; Q4_K -> Q5_0; Q5_K -> Q5_1; Q6_K -> Q8_0; other
 * 32-element types F16), then F16 if that does not divide either. FY_DTYPE_COUNT where
 * llama.cpp has none (wider blocks: Q1_0, NVFP4) and stops. Returns t when ne0 divides. */
enum fy_dtype fy_quant_fallback(enum fy_dtype t, int64_t ne0);

/* llama.cpp's tensor_requires_imatrix: the 1-3 bit i-quants (IQ1_S/M, IQ2_XXS/XS/S, IQ3_XXS),
 * and Q2_K in a Q2_K_S file, the embeddings and output excepted. */
bool fy_quant_needs_imatrix(const char *name, enum fy_dtype t, enum fy_ftype ftype);

/* Orders tensor names as llama.cpp writes them: names without a `blk.N.` prefix first, then by
 * layer number, each group by name (strcmp-style result). */
int fy_quant_name_cmp(const char *a, const char *b);

/* The layer number of a `blk.N.` name, or -1. */
int fy_quant_layer_of(const char *name);

/* ------------------------------------------------------------------------------------------ */
/* Plans: the type of every tensor of a file                                                  */

/* One `--tensor-type REGEX=TYPE` override (the first matching one wins, searched anywhere in the
 * name, as llama.cpp's std::regex_search). */
struct fy_quant_override;

/* Parses "REGEX=TYPE" (TYPE a writable type name, any case). */
int fy_quant_override_new(struct fy_quant_override **out, const char *spec, struct fy_err *err);
void fy_quant_override_free(struct fy_quant_override *o); /* NULL is a no-op */

struct fy_quant_params {
	enum fy_ftype ftype;
	bool pure;	     /* the base type for every quantizable tensor: no mixture rules */
	bool leave_output;   /* keep output.weight as it is */
	int output_type;     /* an enum fy_dtype for output.weight, or -1 */
	int token_embd_type; /* an enum fy_dtype for token_embd.weight, or -1 */
	struct fy_quant_override *const *overrides;
	size_t n_overrides;
	bool has_imatrix; /* an importance matrix is given (rules differ; some types need one) */
};

/* What the plan needs of each input tensor. */
struct fy_quant_src {
	const char *name;
	enum fy_dtype type;
	int64_t ne[4]; /* ne[0] fastest, unused dims 1 */
};

struct fy_quant_choice {
	size_t src;	      /* index into the input tensors; the plan is in output order */
	enum fy_dtype type;   /* the output type */
	enum fy_dtype wanted; /* before a fallback (== type when none) */
	enum fy_quant_reason reason;
};

/*
 * Plans a file: output order (llama.cpp's), and each tensor's type under params. model->arch,
 * n_layer, n_head, n_head_kv and n_expert come from the caller; has_output and n_attention_wv are
 * filled from the tensor names. A tensor to be converted whose source type ferry cannot read is
 * an error naming it. out (n entries) is written in output order.
 */
int fy_quant_plan(struct fy_quant_model *model, const struct fy_quant_src *src, size_t n,
		  const struct fy_quant_params *params, struct fy_quant_choice *out,
		  struct fy_err *err);

#endif
