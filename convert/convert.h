/*
 * convert: model file formats. This header holds the safetensors and GGUF readers and writers
 * and the Hugging Face checkpoint (config.json + one or more safetensors shards).
 *
 * Readers map files read-only and validate every rule of docs/FORMATS.md and docs/SECURITY.md
 * before returning a handle: once open succeeds, every count, name, shape, offset and size in
 * the handle is in bounds. Tensor data and string pointers borrow from the mapping and stay
 * valid until the handle is freed.
 *
 * Writers collect metadata and tensor descriptions, then write the file atomically in one call
 * (temp file, fsync, rename), streaming each tensor's bytes from a fy_tensor_data_fn callback.
 */
#ifndef FERRY_CONVERT_H
#define FERRY_CONVERT_H

#include "core/core.h"
#include "quant/quant.h"

/* ------------------------------------------------------------------------------------------ */
/* safetensors                                                                                */

#define FY_ST_MAX_HEADER 100000000ull /* bytes, as in the reference implementation */
#define FY_ST_MAX_DIMS 8

struct fy_st_tensor {
	const char *name; /* NUL-terminated, borrowed from the handle */
	enum fy_dtype dtype;
	int n_dims;		       /* 0 for a scalar */
	int64_t shape[FY_ST_MAX_DIMS]; /* PyTorch order: shape[0] is the slowest dimension */
	int64_t n_elems;
	uint64_t begin; /* offsets relative to the data buffer */
	uint64_t end;
	const void *data; /* borrowed from the mapping; NULL for an empty tensor */
};

struct fy_st_file;

/* Opens and validates a safetensors file. Messages start with the path. */
int fy_st_open(struct fy_st_file **out, const char *path, struct fy_err *err);
/* Validates a safetensors image in memory; `label` names it in messages. data is borrowed. */
int fy_st_parse(struct fy_st_file **out, const void *data, size_t size, const char *label,
		struct fy_err *err);
void fy_st_free(struct fy_st_file *f); /* NULL is a no-op */

const char *fy_st_label(const struct fy_st_file *f);
uint64_t fy_st_file_size(const struct fy_st_file *f);
uint64_t fy_st_header_size(const struct fy_st_file *f); /* N, the JSON header's length */
/* Tensors in data order (ascending offsets). */
size_t fy_st_count(const struct fy_st_file *f);
const struct fy_st_tensor *fy_st_at(const struct fy_st_file *f, size_t i);
const struct fy_st_tensor *fy_st_find(const struct fy_st_file *f, const char *name);
/* __metadata__ entries in document order. */
size_t fy_st_meta_count(const struct fy_st_file *f);
void fy_st_meta_at(const struct fy_st_file *f, size_t i, const char **key, const char **value);

struct fy_st_writer;

int fy_st_writer_new(struct fy_st_writer **out, struct fy_err *err);
void fy_st_writer_free(struct fy_st_writer *w);
/* Adds a __metadata__ entry (string -> string); keys are unique. */
int fy_st_writer_meta(struct fy_st_writer *w, const char *key, const char *value,
		      struct fy_err *err);
/* Declares a tensor; names are unique and "__metadata__" is reserved. */
int fy_st_writer_add(struct fy_st_writer *w, const char *name, enum fy_dtype dtype, int n_dims,
		     const int64_t *shape, struct fy_err *err);
/*
 * Writes path atomically as the safetensors reference implementation lays files out: tensors
 * ordered by dtype (its enum order, descending) then name, the header compact JSON with
 * __metadata__ first and tensors in data order, padded with spaces to a multiple of 8. fn is
 * called once per tensor (index = order of fy_st_writer_add) and must write exactly its bytes.
 */
int fy_st_writer_write(struct fy_st_writer *w, const char *path, fy_tensor_data_fn fn, void *ctx,
		       struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* A Hugging Face checkpoint: one safetensors file, or shards listed by an index              */

struct fy_st_model;

/*
 * Opens `path`: a directory (model.safetensors.index.json if present, else model.safetensors,
 * else every *.safetensors file in it), an index file, or one safetensors file. With an index,
 * every tensor of the weight map must be in its shard and every shard tensor in the weight map;
 * names are unique across shards.
 */
int fy_st_model_open(struct fy_st_model **out, const char *path, struct fy_err *err);
void fy_st_model_free(struct fy_st_model *m);
size_t fy_st_model_shards(const struct fy_st_model *m);
const struct fy_st_file *fy_st_model_shard(const struct fy_st_model *m, size_t i);
const char *fy_st_model_shard_name(const struct fy_st_model *m, size_t i); /* file name */
/* The index's metadata.total_size, or -1 when there is no index or it has none. */
int64_t fy_st_model_declared_size(const struct fy_st_model *m);
/* Finds a tensor in any shard; *shard (may be NULL) receives its shard number. */
const struct fy_st_tensor *fy_st_model_find(const struct fy_st_model *m, const char *name,
					    size_t *shard);

/* The facts of config.json that ferry reports and converts by; absent integers are -1. */
#define FY_HF_MAX_COMPRESS 1024 /* compress_ratios entries config.json may give */

struct fy_hf_config {
	char architecture[128]; /* architectures[0], or "" */
	char model_type[64];
	char torch_dtype[32];
	char quant_method[32]; /* quantization_config.quant_method, or "" */
	int64_t hidden_size;
	int64_t intermediate_size;
	int64_t n_layers;
	int64_t n_heads;
	int64_t n_kv_heads;
	int64_t head_dim;
	int64_t vocab_size;
	int64_t context_length;
	int64_t n_experts; /* num_experts, or DeepSeek's n_routed_experts */
	int64_t n_experts_used;
	/* mixture of experts (-1 when absent): the experts' width, shared experts, the leading
	 * dense layers (first_k_dense_replace), Qwen3-MoE's decoder_sparse_step, DeepSeek's groups
	 * (n_group, topk_group) and multi-token-prediction layers stored after the last one */
	int64_t moe_intermediate_size, n_shared_experts, first_k_dense_replace;
	int64_t decoder_sparse_step, n_group, topk_group, n_nextn_layers;
	int64_t n_mlp_only_layers;    /* entries of mlp_only_layers (0 when absent) */
	int norm_topk_prob;	      /* 0, 1, or -1 when absent */
	double routed_scaling_factor; /* -1 when absent */
	char scoring_func[16];	      /* "softmax", "sigmoid", or "" */
	/* multi-head latent attention (DeepSeek): -1 when absent */
	int64_t q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
	int64_t rotary_dim; /* the rotated dimensions of a head (MiniMax), -1 when absent */
	/* DeepSeek-V3.2's lightning indexer: heads, head size, positions kept (-1 when absent) */
	int64_t index_n_heads, index_head_dim, index_topk;
	/* Qwen3-Next's Gated DeltaNet layers (-1 when absent): the short convolution's kernel, key
	 * and value heads and their sizes, every full_attention_interval-th layer full attention;
	 * the shared expert's width */
	int64_t linear_conv_kernel, linear_key_dim, linear_value_dim, linear_key_heads,
		linear_value_heads, full_attention_interval, shared_expert_size;
	int64_t fp8_block[2]; /* quantization_config.weight_block_size, or -1 */
	/* compressed-tensors pack-quantized int weights (Kimi K2-Thinking, K2.5): bits and group
	 * size, -1 when absent */
	int64_t packed_bits, packed_group;
	/* rope_scaling: type ("" when absent, null or "default"), factor (-1 absent), Llama 3's
	 * low/high_freq_factor, original_max_position_embeddings (-1 absent), and the object as
	 * compact JSON (kept in the GGUF as ferry.hf.rope_scaling for the way back) */
	char rope_type[32];
	double rope_factor, rope_low, rope_high;
	double rope_mscale_all_dim, rope_beta_fast, rope_beta_slow; /* YaRN: -1 when absent */
	int64_t rope_orig_ctx;
	char rope_json[1024];
	int tie_word_embeddings;      /* 0, 1, or -1 when absent */
	double rms_norm_eps;	      /* -1 when absent */
	double rope_theta;	      /* -1 when absent */
	double partial_rotary_factor; /* the rotated share of a head (GLM: 0.5), -1 when absent */
	/* DeepSeek-V4 (-1 when absent): hyper-connection streams and Sinkhorn iterations, the
	 * grouped low-rank output's groups and rank, the hash-routed leading layers, the sliding
	 * window; hyper-connections' epsilon, SwiGLU's clamp, the compressed layers' RoPE base;
	 * compress_ratios (n_compress entries, -1 when absent) */
	int64_t hc_mult, hc_sinkhorn_iters, o_groups, o_lora_rank, num_hash_layers, sliding_window;
	double hc_eps, swiglu_limit, compress_rope_theta;
	int64_t n_compress;
	int32_t compress_ratios[FY_HF_MAX_COMPRESS];
	/* MiniMax-01: the residual's scale and the branch's (layernorm_{full_attention,
	 * linear_attention,mlp}_{alpha,beta}; -1 when absent), postnorm (the residual is the
	 * normalized input: 1, 0, or -1 when absent), shared_intermediate_size (-1 absent) */
	double ln_alpha[3], ln_beta[3];
	int postnorm;
	int64_t shared_intermediate_size;
	/* layer_types (Qwen3.5) or attn_type_list (MiniMax-01: 0 linear, 1 softmax): which layers
	 * are linear attention (n_layer_types of them; -1: not given) */
	int64_t n_layer_types;
	bool linear_layer[FY_HF_MAX_COMPRESS];
	/* rope_parameters.mrope_section (or rope_scaling's), padded to four (n_mrope 0: none) */
	int n_mrope;
	int32_t mrope_sections[4];
};

/* Reads config.json at path. Fields of the wrong JSON type are format errors; a multimodal
 * checkpoint's text_config is read as if at the top. */
int fy_hf_config_load(struct fy_hf_config *cfg, const char *path, struct fy_err *err);
/* The same from bytes in memory (label names them in errors). */
int fy_hf_config_parse(struct fy_hf_config *cfg, const void *data, size_t len, const char *label,
		       struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* GGUF                                                                                       */

enum fy_gguf_type {
	FY_GGUF_U8 = 0,
	FY_GGUF_I8 = 1,
	FY_GGUF_U16 = 2,
	FY_GGUF_I16 = 3,
	FY_GGUF_U32 = 4,
	FY_GGUF_I32 = 5,
	FY_GGUF_F32 = 6,
	FY_GGUF_BOOL = 7,
	FY_GGUF_STRING = 8,
	FY_GGUF_ARRAY = 9,
	FY_GGUF_U64 = 10,
	FY_GGUF_I64 = 11,
	FY_GGUF_F64 = 12,
	FY_GGUF_TYPE_COUNT
};

#define FY_GGUF_DEFAULT_ALIGNMENT 32
#define FY_GGUF_MAX_DIMS 4
#define FY_GGUF_MAX_NAME 63 /* bytes of a tensor name (ggml's GGML_MAX_NAME less the NUL) */

/* "u32", "string", ... */
const char *fy_gguf_type_name(enum fy_gguf_type t);

/* A scalar value (or one array element), widened. */
struct fy_gguf_value {
	enum fy_gguf_type type;
	union {
		uint64_t u; /* U8 U16 U32 U64 */
		int64_t i;  /* I8 I16 I32 I64 */
		double f;   /* F32 F64 */
		bool b;	    /* BOOL */
	};
	struct fy_str s; /* STRING: borrowed from the mapping, not NUL-terminated */
};

struct fy_gguf_kv {
	const char *key;	/* NUL-terminated */
	enum fy_gguf_type type; /* FY_GGUF_ARRAY for arrays */
	struct fy_gguf_value v; /* scalars */
	enum fy_gguf_type arr_type;
	uint64_t arr_count;
	const uint8_t *raw; /* the value's bytes in the file (arrays: from the first element) */
	uint64_t raw_size;
	const uint64_t *str_offs; /* string arrays: offset of element i's length within raw */
};

struct fy_gguf_tensor {
	const char *name; /* NUL-terminated */
	enum fy_dtype type;
	int n_dims;
	int64_t ne[FY_GGUF_MAX_DIMS]; /* ne[0] fastest; unused dims are 1 */
	int64_t n_elems;
	uint64_t offset; /* relative to the data section of its shard */
	uint64_t nbytes;
	const void *data; /* borrowed from the mapping */
	int shard;	  /* the shard of a split set holding it (0 for a single file) */
};

struct fy_gguf;

#define FY_GGUF_SPLIT_MAX 9999 /* shards of a split set ferry opens */

/*
 * Opens a GGUF file. A shard of a split set (split.count > 1; llama.cpp names them
 * PREFIX-0000K-of-0000N.gguf) is opened with its siblings, whichever shard is named, as one
 * model: the first shard's keys, every shard's tensors in order (each tensor's data in its own
 * shard's mapping). A missing or inconsistent shard is an error naming it: never a partial
 * model. Bytes after the last tensor are ignored, as llama.cpp ignores them (fy_gguf_trailing).
 */
int fy_gguf_open(struct fy_gguf **out, const char *path, struct fy_err *err);
/* Opens the split set whose shards are paths[0..n), in order (store objects, whose names say
 * nothing); n 1 opens a single file. label names the set in messages. */
int fy_gguf_open_set(struct fy_gguf **out, const char *const *paths, size_t n, const char *label,
		     struct fy_err *err);
/* The same from n file images in memory (the fuzz target's entry). */
int fy_gguf_parse_set(struct fy_gguf **out, const void *const *data, const size_t *sizes, size_t n,
		      const char *label, struct fy_err *err);
/* Parses PREFIX-0000K-of-0000N.gguf: the prefix's length, K (1-based) and N. */
bool fy_gguf_split_name(const char *path, size_t *prefix, int *no, int *count);
/* The split keys of g's first shard (a file without them: shard 0 of 1, its own tensor count);
 * FY_EFORMAT when they are malformed. */
int fy_gguf_split_info(const struct fy_gguf *g, int *no, int *count, int64_t *n_tensors,
		       struct fy_err *err);
/* Shards of the set (1 for a single file), and shard i's own handle (its keys, size, header;
 * shard 0 is g itself). */
size_t fy_gguf_shard_count(const struct fy_gguf *g);
const struct fy_gguf *fy_gguf_shard(const struct fy_gguf *g, size_t i);
/* Bytes after the last tensor of this file (or after its header), ignored. */
uint64_t fy_gguf_trailing(const struct fy_gguf *g);
int fy_gguf_parse(struct fy_gguf **out, const void *data, size_t size, const char *label,
		  struct fy_err *err);
void fy_gguf_free(struct fy_gguf *g);

const char *fy_gguf_label(const struct fy_gguf *g);
uint32_t fy_gguf_version(const struct fy_gguf *g);
uint32_t fy_gguf_alignment(const struct fy_gguf *g);
uint64_t fy_gguf_file_size(const struct fy_gguf *g);
uint64_t fy_gguf_header_size(const struct fy_gguf *g); /* bytes up to the end of tensor infos */
uint64_t fy_gguf_data_offset(const struct fy_gguf *g); /* where the data section starts */
size_t fy_gguf_kv_count(const struct fy_gguf *g);
const struct fy_gguf_kv *fy_gguf_kv_at(const struct fy_gguf *g, size_t i);
const struct fy_gguf_kv *fy_gguf_find_kv(const struct fy_gguf *g, const char *key);
/* Element i (< arr_count) of an array KV. */
struct fy_gguf_value fy_gguf_arr_at(const struct fy_gguf_kv *kv, uint64_t i);
/* A numeric scalar KV (any integer or float type) as a double; false for NULL or another type. */
bool fy_gguf_kv_number(const struct fy_gguf_kv *kv, double *out);
/* The same for a value (an array element). */
bool fy_gguf_value_number(const struct fy_gguf_value *v, double *out);
size_t fy_gguf_tensor_count(const struct fy_gguf *g);
const struct fy_gguf_tensor *fy_gguf_tensor_at(const struct fy_gguf *g, size_t i);
const struct fy_gguf_tensor *fy_gguf_find_tensor(const struct fy_gguf *g, const char *name);

struct fy_gguf_writer;

int fy_gguf_writer_new(struct fy_gguf_writer **out, struct fy_err *err);
void fy_gguf_writer_free(struct fy_gguf_writer *w);
/* Sets a scalar KV (v->type must not be ARRAY); setting an existing key replaces its value in
 * place. general.alignment must be a u32 power of two; the file is laid out by it. */
int fy_gguf_writer_set(struct fy_gguf_writer *w, const char *key, const struct fy_gguf_value *v,
		       struct fy_err *err);
int fy_gguf_writer_set_u32(struct fy_gguf_writer *w, const char *key, uint32_t v,
			   struct fy_err *err);
/* Removes a key (absent: nothing). Removing, then setting, moves a key to the end, as ggml's
 * gguf_set_val_* does. */
void fy_gguf_writer_remove(struct fy_gguf_writer *w, const char *key);

/* llama-quantize's --override-kv KEY=TYPE:VALUE (int, float, bool, str), as it writes them: an
 * int as u32 of its magnitude, a float as f32; strings of at most 127 bytes. */
struct fy_gguf_kv_override {
	char key[128];
	struct fy_gguf_value v; /* a string's text is str (v.s.ptr unset) */
	char str[128];
};
int fy_gguf_kv_override_parse(const char *spec, struct fy_gguf_kv_override *o, struct fy_err *err);
int fy_gguf_writer_set_str(struct fy_gguf_writer *w, const char *key, const char *s,
			   struct fy_err *err);
/* Sets an array of a fixed-size type from packed little-endian elements. */
int fy_gguf_writer_set_array(struct fy_gguf_writer *w, const char *key, enum fy_gguf_type elem,
			     uint64_t count, const void *elems, struct fy_err *err);
int fy_gguf_writer_set_str_array(struct fy_gguf_writer *w, const char *key, uint64_t count,
				 const struct fy_str *strs, struct fy_err *err);
/* Copies a KV read by fy_gguf_open, value and type unchanged. */
int fy_gguf_writer_copy_kv(struct fy_gguf_writer *w, const struct fy_gguf_kv *kv,
			   struct fy_err *err);
/* Declares a tensor (ne[0] fastest, trailing dimensions of 1 allowed); names unique, < 64 bytes. */
int fy_gguf_writer_add(struct fy_gguf_writer *w, const char *name, enum fy_dtype type, int n_dims,
		       const int64_t *ne, struct fy_err *err);
/* Writes a GGUF v3 file atomically: KVs in the order first set, tensors in the order added, each
 * tensor's data padded with zeros to the alignment (the last one too); without tensors the file
 * ends at the header. Dimensions are written as given (callers drop trailing 1s). */
int fy_gguf_writer_write(struct fy_gguf_writer *w, const char *path, fy_tensor_data_fn fn,
			 void *ctx, struct fy_err *err);

/* How to split an output into shards, as llama-gguf-split --split does: at most max_bytes of
 * tensor data in a shard (0: no limit; --split-max-size) or max_tensors tensors (0: no limit;
 * --split-max-tensors; max_bytes wins when both are set, as in llama-gguf-split). */
struct fy_gguf_split_opts {
	uint64_t max_bytes;
	int max_tensors;
	bool always_name; /* name a single shard PREFIX-00001-of-00001.gguf too */
	/* or the shards given: shard k starts at tensor first[k] (first[0] == 0), n_first shards
	 * (llama-quantize's --keep-split, whose split keys are split.no, split.count,
	 * split.tensors.count in that order) */
	const size_t *first;
	size_t n_first;
};

/* The first tensor of each shard into first[0..*n) (cap entries at least n_tensors + 1). */
int fy_gguf_split_plan(struct fy_gguf_writer *w, const struct fy_gguf_split_opts *o, size_t *first,
		       size_t cap, size_t *n, struct fy_err *err);
/*
 * Writes the writer's file as a split set: PATH less .gguf, then -0000K-of-0000N.gguf. The first
 * shard holds every key, each shard its split.no, split.tensors.count and split.count (in
 * llama-gguf-split's order) and its tensors: byte for byte what `llama-gguf-split --split` makes
 * of the single file fy_gguf_writer_write would write. Shards are written to temp files and
 * renamed only when all are complete. One shard (limits not reached): the single file at PATH,
 * unless o->always_name. *n_shards receives the count.
 */
int fy_gguf_writer_write_split(struct fy_gguf_writer *w, const char *path,
			       const struct fy_gguf_split_opts *o, fy_tensor_data_fn fn, void *ctx,
			       size_t *n_shards, struct fy_err *err);
/* PATH's shard k (0-based) of n: PATH less .gguf, -0000K-of-0000N.gguf. */
int fy_gguf_split_path(char *out, size_t cap, const char *path, size_t k, size_t n,
		       struct fy_err *err);

/* The file image of a writer that has metadata only (no tensors), appended to out: what
 * fy_gguf_parse reads back. */
int fy_gguf_writer_image(struct fy_gguf_writer *w, struct fy_buf *out, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* SentencePiece tokenizer.model (convert/spm.c)                                              */

struct fy_spm_piece {
	struct fy_str text; /* borrowed from the mapping */
	float score;
	int32_t type; /* 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
};

struct fy_spm {
	struct fy_map map;
	struct fy_spm_piece *pieces;
	size_t n;
};

/* Parses the pieces of a SentencePiece model (a protobuf ModelProto) from bytes that stay
 * valid while out is used (out->map untouched); label names the input in messages. */
int fy_spm_parse(struct fy_spm *out, const void *data, size_t size, const char *label,
		 struct fy_err *err);
/* Maps and parses a SentencePiece model file. */
int fy_spm_load(struct fy_spm *out, const char *path, struct fy_err *err);
void fy_spm_release(struct fy_spm *s);

/* The pre-tokenizer regexes (PCRE2 syntax, applied in sequence; a NULL-terminated list) of a
 * byte-level BPE vocabulary's tokenizer.ggml.pre, or NULL when ferry does not know the name. */
const char *const *fy_bpe_pre_regexes(const char *pre);

/* ------------------------------------------------------------------------------------------ */
/* HF checkpoint -> GGUF (convert/hf2gguf.c, convert/arch.c)                                  */

struct fy_convert_opts {
	enum fy_dtype outtype; /* F32, F16, BF16 or Q8_0 for 2-D weights */
	bool outtype_auto;     /* BF16 when the checkpoint holds BF16, else F16 */
	const char *name;      /* general.name (default: the directory's name) */
	struct fy_pool *pool;
	const char *source_digest;	 /* recorded as ferry.source (NULL: none) */
	struct fy_gguf_split_opts split; /* write shards (zero: one file) */
};

struct fy_convert_report {
	const char *arch;	 /* the GGUF architecture */
	enum fy_ftype file_type; /* general.file_type written */
	size_t n_tensors;
	uint64_t out_bytes;
	size_t n_vocab;
	size_t n_shards; /* files written (o->split) */
};

/* Converts the HF checkpoint in dir (config.json, safetensors, tokenizer) to a GGUF file at
 * out_path (atomically; with o->split, shards named after out_path). Unsupported architectures,
 * dtypes or tensors fail with a message saying what is supported. */
int fy_convert_hf_to_gguf(const char *dir, const char *out_path, const struct fy_convert_opts *o,
			  struct fy_convert_report *rep, struct fy_err *err);
/* Comma-separated HF architectures the converter takes (for messages). */
const char *fy_convert_archs(void);
/* The GGUF architecture a config.json architecture converts to ("minimax-01"), or NULL. */
const char *fy_convert_gguf_arch(const char *hf_arch);

/* An HF checkpoint seen as the GGUF file the converter would write, without writing it (infer runs
 * source revisions this way): the metadata as a parsed tensorless GGUF image, and each tensor
 * under its GGUF name, borrowed from the safetensors mapping in HF's layout (q/k rows not
 * permuted: HF checkpoints of every family use the NEOX rope). */
struct fy_hf_tensor {
	char name[FY_GGUF_MAX_NAME + 1];
	const struct fy_st_tensor *src; /* F32, F16 or BF16 */
	int n_dims;
	int64_t ne[4]; /* ne[0] fastest */
	/* a mixture's experts read in place: ne[2] sources of ne[0] x ne[1], one per expert, all
	 * of src's type (src is the first); else NULL */
	const struct fy_st_tensor **parts;
	/* F8_E4M3 read in place: its block scales (F32 or BF16, [rows / block[0], columns /
	 * block[1]] rounded up); compressed-tensors int4 (src I32, eight values a word, int4_group
	 * > 0): its group scales (F32, F16 or BF16, [rows, columns / int4_group] rounded up);
	 * scales[e] an expert's, parts beside them; else NULL */
	const struct fy_st_tensor *scale;
	const struct fy_st_tensor **scales;
	int64_t block[2], int4_group;
	/* a mixture's experts stacked (their sources in different types, or converted), or
	 * F8_E4M3 dequantized to F32, in memory: src is &own */
	struct fy_st_tensor own;
	void *owned;
};

struct fy_hf_view {
	struct fy_gguf *meta; /* hyper-parameters and tokenizer.ggml.* */
	struct fy_hf_tensor *t;
	size_t n;
	struct fy_buf image; /* meta's bytes */
	struct fy_st_model *m;
	struct fy_st_tensor rope_st; /* rope_freqs.weight, computed (Llama 3 rope scaling) */
	float *rope_freqs;
};

int fy_hf_view_open(struct fy_hf_view **out, const char *dir, struct fy_err *err);
void fy_hf_view_free(struct fy_hf_view *v); /* NULL is a no-op */

/* ------------------------------------------------------------------------------------------ */
/* GGUF -> HF checkpoint (convert/gguf2hf.c, convert/export_tok.c)                            */

struct fy_export_opts {
	enum fy_dtype outtype; /* F32, F16 or BF16; FY_DTYPE_COUNT: the file's float type, F32 for
				* a quantized file (exact) */
	struct fy_pool *pool;  /* rows converted over it (NULL: this thread) */
};

struct fy_export_report {
	const char *arch;      /* the HF architecture */
	const char *tokenizer; /* "SentencePiece" or "byte-level BPE" */
	enum fy_dtype dtype;
	size_t n_tensors;
	size_t n_vocab;
};

/*
 * Writes the GGUF model at path as an HF checkpoint in out_dir (created if needed; existing files
 * of the same names replaced): model.safetensors (every tensor dequantized to the output type,
 * HF names, llama's q/k rows permuted back), config.json from the hyper-parameters, and the
 * tokenizer files from the vocabulary. Nothing lands in out_dir unless everything was written.
 */
int fy_convert_gguf_to_hf(const char *path, const char *out_dir, const struct fy_export_opts *o,
			  struct fy_export_report *rep, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Importance matrices (convert/imatrix.c)                                                    */

struct fy_imatrix;

/* Reads llama-imatrix's GGUF format or the legacy .dat, values normalized as llama-quantize
 * normalizes them (sums over counts). A malformed file, missing GGUF metadata or a non-finite
 * value is an error naming the file. */
int fy_imatrix_load(struct fy_imatrix **out, const char *path, struct fy_err *err);
/* The same from bytes (label names them in messages). */
int fy_imatrix_parse(struct fy_imatrix **out, const void *data, size_t size, const char *label,
		     struct fy_err *err);
void fy_imatrix_free(struct fy_imatrix *m);
/* The values for a tensor name (ne0 per expert, experts one after another), or NULL. */
const float *fy_imatrix_find(const struct fy_imatrix *m, const char *name, size_t *n);
/* llama-quantize's --include-weights (keep) and --exclude-weights (!keep): keeps only the entries
 * whose name contains one of names, or drops them. */
int fy_imatrix_filter(struct fy_imatrix *m, const char *const *names, size_t n_names, bool keep,
		      struct fy_err *err);
size_t fy_imatrix_count(const struct fy_imatrix *m);
/* The first dataset it was computed on (NULL: none recorded), and its chunk count (0: none). */
const char *fy_imatrix_dataset(const struct fy_imatrix *m);
int fy_imatrix_chunks(const struct fy_imatrix *m);
/* Every dataset recorded (a legacy file: the one of its tail), in the file's order. */
size_t fy_imatrix_dataset_count(const struct fy_imatrix *m);
const char *fy_imatrix_dataset_at(const struct fy_imatrix *m, size_t i);
/* The legacy .dat format (its sums are scaled to ncall calls; see fy_imatrix_entry). */
bool fy_imatrix_is_legacy(const struct fy_imatrix *m);
/* Entry i (< fy_imatrix_count) as stored, for merging as llama-imatrix --in-file merges: GGUF:
 * the sums and each expert's count (rounded); legacy: the scaled sums and {ncall}. */
struct fy_imatrix_entry {
	const char *name;
	const float *sums;
	size_t n_sums;
	const int64_t *counts;
	size_t n_counts;
};
void fy_imatrix_entry_at(const struct fy_imatrix *m, size_t i, struct fy_imatrix_entry *out);

/* ------------------------------------------------------------------------------------------ */
/* Re-quantizing a GGUF file (convert/requant.c)                                              */

/* Called once per output tensor, in output order, after its data is written (with plan_only:
 * for every tensor, nothing written). */
typedef void (*fy_requant_progress_fn)(void *ctx, size_t index, size_t n,
				       const struct fy_gguf_tensor *t,
				       const struct fy_quant_choice *c);

struct fy_requant_opts {
	struct fy_quant_params params;
	int threads;		   /* pool size when pool is NULL (<= 0: one per CPU) */
	struct fy_pool *pool;	   /* or NULL */
	const char *source_sha256; /* hex, written as ferry.source.sha256 (NULL: not written) */
	const char *options;	   /* written as ferry.quant.options (NULL: not written) */
	bool plan_only;		   /* plan and report, write nothing */
	struct fy_gguf_split_opts split;  /* write shards (zero: one file) */
	const struct fy_imatrix *imatrix; /* importance matrix, or NULL */
	const char *imatrix_file;	  /* written as quantize.imatrix.file (the name given) */
	/* llama-quantize's --override-kv: set after general.file_type, each moved to the end */
	const struct fy_gguf_kv_override *kv_overrides;
	size_t n_kv_overrides;
	/* llama-quantize's --prune-layers: layers left out (ascending, distinct, below
	 * block_count), the others renumbered, block_count set to the layers kept */
	const int *prune;
	size_t n_prune;
	/* llama-quantize's --keep-split: the input's shards and tensor order (not with split) */
	bool keep_split;
	/* llama-quantize's --allow-requantize: a tensor already quantized may be converted
	 * (dequantized first); without it such a tensor is refused, as llama-quantize refuses it */
	bool allow_requantize;
	/* llama-quantize's --max-buffer-size: at most this many bytes of a tensor's rows (input,
	 * output and their floats) in memory at once (0: ferry's 16 MiB batches); the bytes written
	 * do not depend on it */
	size_t max_buffer;
	fy_requant_progress_fn progress;
	void *ctx;
};

struct fy_requant_report {
	size_t n_tensors;
	size_t n_converted;	      /* written in another type than the input's */
	size_t n_copied;	      /* written as they were */
	size_t n_requantized;	      /* converted from an already quantized type (quality loss) */
	size_t n_fallback;	      /* given a fallback type (row length) */
	uint64_t in_bytes, out_bytes; /* tensor data */
	size_t n_shards;	      /* files written (o->split) */
	size_t n_no_imatrix;	      /* converted without an imatrix entry (o->imatrix given) */
};

/*
 * Writes in_path's model (a split set read whole) to out_path (atomically; with o->split, as
 * shards named after out_path) with every tensor in the type the plan gives
 * (llama.cpp's mixture rules, overrides, fallbacks; llama.cpp's tensor order; the input's
 * metadata with general.quantization_version = 2, general.file_type and ferry's provenance
 * keys). Quantized bytes equal llama.cpp's reference quantizers' whatever the thread count. A
 * NaN or infinite input value is a format error naming the tensor and row.
 */
int fy_gguf_requant(const char *in_path, const char *out_path, const struct fy_requant_opts *o,
		    struct fy_requant_report *rep, struct fy_err *err);

/* ------------------------------------------------------------------------------------------ */
/* Format detection                                                                           */

enum fy_format { FY_FORMAT_UNKNOWN, FY_FORMAT_GGUF, FY_FORMAT_SAFETENSORS };

/* Guesses a file's format from its first bytes (at least 9 wanted). */
enum fy_format fy_format_sniff(const uint8_t *head, size_t n);

#endif
