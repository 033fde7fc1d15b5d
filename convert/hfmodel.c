/*
 * A Hugging Face checkpoint: config.json and its safetensors, one file or shards listed by
 * model.safetensors.index.json ({"metadata": {"total_size"}, "weight_map": {tensor: file}}).
 */
#include "convert/convert.h"
#include "convert/convert_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INDEX_NAME "model.safetensors.index.json"
#define MAX_INDEX_BYTES (64u << 20)
#define MAX_CONFIG_BYTES (4u << 20)

struct fy_st_model {
	char **shard_names;
	struct fy_st_file **shards;
	size_t n_shards;
	int64_t declared_size;
	struct fy_index tensors; /* name -> shard */
};

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* A shard name from an index must be a plain file name in the checkpoint's directory. */
static bool safe_shard_name(const char *s)
{
	return s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL && strchr(s, '\\') == NULL;
}

static int add_shard(struct fy_st_model *m, const char *dir, const char *name, struct fy_err *err)
{
	char *path = fy_path_join(dir, name);
	char **names;
	struct fy_st_file **files;
	int rc;

	if (path == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	names = realloc(m->shard_names, (m->n_shards + 1) * sizeof(*names));
	if (names != NULL)
		m->shard_names = names;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	files = realloc(m->shards, (m->n_shards + 1) * sizeof(*files));
	if (files != NULL)
		m->shards = files;
	if (names == NULL || files == NULL) {
		free(path);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	m->shard_names[m->n_shards] = strdup(name);
	rc = m->shard_names[m->n_shards] ? FY_OK : fy_err_set(err, FY_ENOMEM, "out of memory");
	if (rc == FY_OK)
		rc = fy_st_open(&m->shards[m->n_shards], path, err);
	if (rc != FY_OK)
		free(m->shard_names[m->n_shards]);
	else
		m->n_shards++;
	free(path);
	return rc;
}

/* Records every tensor of every shard by name; a name in two shards is an error. */
static int index_tensors(struct fy_st_model *m, struct fy_err *err)
{
	size_t s;
	size_t i;
	int rc;

	for (s = 0; s < m->n_shards; s++) {
		for (i = 0; i < fy_st_count(m->shards[s]); i++) {
			const char *name = fy_st_at(m->shards[s], i)->name;

			rc = fy_index_insert(&m->tensors, name, strlen(name), (int64_t)s, err);
			if (rc == FY_EEXIST)
				return fy_err_set(err, FY_EFORMAT,
						  "tensor '%s' is in more than one shard ('%s' "
						  "and another)",
						  name, m->shard_names[s]);
			if (rc != FY_OK)
				return rc;
		}
	}
	return FY_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens every shard the weight map names, in file-name order. */
static int open_index_shards(struct fy_st_model *m, const char *dir, const char *label,
			     const struct fy_json *map, struct fy_err *err)
{
	const char **names = calloc(fy_json_size(map) + 1, sizeof(*names));
	size_t n = 0;
	size_t i;
	void *it;
	int rc = FY_OK;

	if (names == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (it = fy_json_iter(map); it != NULL; it = fy_json_next(map, it)) {
		const char *file = fy_json_str(fy_json_iter_value(it));

		if (file == NULL || !safe_shard_name(file)) {
			rc = fy_err_set(err, FY_EFORMAT,
					"%s: weight_map entry '%s' is not a plain file name", label,
					fy_json_iter_key(it));
			goto out;
		}
		names[n++] = file;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n && rc == FY_OK; i++) {
		if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
			rc = add_shard(m, dir, names[i], err);
	}
out:
	free(names);
	return rc;
}

/* The weight map and the shards must agree exactly. */
static int check_weight_map(struct fy_st_model *m, const char *label, const struct fy_json *map,
			    struct fy_err *err)
{
	void *it;
	int64_t s;

	for (it = fy_json_iter(map); it != NULL; it = fy_json_next(map, it)) {
		const char *name = fy_json_iter_key(it);
		const char *file = fy_json_str(fy_json_iter_value(it));

		if (!fy_index_find(&m->tensors, name, strlen(name), &s))
			return fy_err_set(err, FY_EFORMAT, "%s: tensor '%s' is not in shard '%s'",
					  label, name, file);
		if (strcmp(m->shard_names[s], file) != 0)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: tensor '%s' is listed in '%s' but stored in '%s'",
					  label, name, file, m->shard_names[s]);
	}
	if (m->tensors.count != fy_json_size(map)) {
		size_t sh;
		size_t i;

		for (sh = 0; sh < m->n_shards; sh++) {
			for (i = 0; i < fy_st_count(m->shards[sh]); i++) {
				const char *name = fy_st_at(m->shards[sh], i)->name;

				if (fy_json_get(map, name) == NULL)
					return fy_err_set(err, FY_EFORMAT,
							  "%s: tensor '%s' of shard '%s' is not "
							  "in the weight map",
							  label, name, m->shard_names[sh]);
			}
		}
	}
	return FY_OK;
}

static int open_index(struct fy_st_model *m, const char *dir, const char *index_path,
		      struct fy_err *err)
{
	struct fy_json *j = NULL;
	struct fy_json *map;
	struct fy_json *meta;
	int rc;

	FY_TRY(rc, fy_json_load_file(&j, index_path, MAX_INDEX_BYTES, err));
	map = fy_json_get(j, "weight_map");
	if (fy_json_type(j) != FY_JSON_OBJECT || map == NULL ||
	    fy_json_type(map) != FY_JSON_OBJECT) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: no weight_map object", index_path);
		goto out;
	}
	meta = fy_json_get(j, "metadata");
	if (!fy_json_int(fy_json_get(meta, "total_size"), &m->declared_size))
		m->declared_size = -1;
	FY_TRY(rc, open_index_shards(m, dir, index_path, map, err));
	FY_TRY(rc, index_tensors(m, err));
	rc = check_weight_map(m, index_path, map, err);
out:
	fy_json_free(j);
	return rc;
}

/* Every *.safetensors file of dir, in name order. */
static int open_all_in_dir(struct fy_st_model *m, const char *dir, struct fy_err *err)
{
	char **names = NULL;
	size_t n = 0;
	size_t i;
	int rc;

	rc = fy_dir_list(dir, ".safetensors", &names, &n, err);
	if (rc == FY_OK && n == 0)
		rc = fy_err_set(err, FY_ENOTFOUND, "%s: no safetensors files", dir);
	for (i = 0; i < n && rc == FY_OK; i++)
		rc = add_shard(m, dir, names[i], err);
	if (rc == FY_OK)
		rc = index_tensors(m, err);
	fy_names_free(names, n);
	return rc;
}

static int open_dir(struct fy_st_model *m, const char *dir, struct fy_err *err)
{
	char *index = fy_path_join(dir, INDEX_NAME);
	int rc;

	if (index == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	if (exists(index))
		rc = open_index(m, dir, index, err);
	else
		rc = open_all_in_dir(m, dir, err);
	free(index);
	return rc;
}

static int open_file(struct fy_st_model *m, const char *path, struct fy_err *err)
{
	char *copy = strdup(path);
	char *slash;
	const char *dir = ".";
	const char *base = copy;
	size_t len = strlen(path);
	int rc;

	if (copy == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	slash = strrchr(copy, '/');
	if (slash != NULL) {
		*slash = '\0';
		dir = copy[0] ? copy : "/";
		base = slash + 1;
	}
	if (len > 5 && strcmp(path + len - 5, ".json") == 0) {
		rc = open_index(m, dir, path, err);
	} else {
		rc = add_shard(m, dir, base, err);
		if (rc == FY_OK)
			rc = index_tensors(m, err);
	}
	free(copy);
	return rc;
}

int fy_st_model_open(struct fy_st_model **out, const char *path, struct fy_err *err)
{
	struct fy_st_model *m = calloc(1, sizeof(*m));
	int rc;

	if (m == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	m->declared_size = -1;
	fy_index_init(&m->tensors);
	if (is_dir(path))
		rc = open_dir(m, path, err);
	else
		rc = open_file(m, path, err);
	if (rc != FY_OK) {
		fy_st_model_free(m);
		return rc;
	}
	*out = m;
	return FY_OK;
}

void fy_st_model_free(struct fy_st_model *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n_shards; i++) {
		fy_st_free(m->shards[i]);
		free(m->shard_names[i]);
	}
	free(m->shards);
	free(m->shard_names);
	fy_index_release(&m->tensors);
	free(m);
}

size_t fy_st_model_shards(const struct fy_st_model *m)
{
	return m->n_shards;
}

const struct fy_st_file *fy_st_model_shard(const struct fy_st_model *m, size_t i)
{
	return i < m->n_shards ? m->shards[i] : NULL;
}

const char *fy_st_model_shard_name(const struct fy_st_model *m, size_t i)
{
	return i < m->n_shards ? m->shard_names[i] : NULL;
}

int64_t fy_st_model_declared_size(const struct fy_st_model *m)
{
	return m->declared_size;
}

const struct fy_st_tensor *fy_st_model_find(const struct fy_st_model *m, const char *name,
					    size_t *shard)
{
	int64_t s;

	if (!fy_index_find(&m->tensors, name, strlen(name), &s))
		return NULL;
	if (shard != NULL)
		*shard = (size_t)s;
	return fy_st_find(m->shards[s], name);
}

/* ------------------------------------------------------------------------------------------ */
/* config.json                                                                                */

static int get_int(const struct fy_json *cfg, const char *path, const char *key, int64_t *out,
		   struct fy_err *err)
{
	struct fy_json *v = fy_json_get(cfg, key);

	*out = -1;
	if (v == NULL || fy_json_type(v) == FY_JSON_NULL)
		return FY_OK;
	if (!fy_json_int(v, out))
		return fy_err_set(err, FY_EFORMAT, "%s: '%s' is a JSON %s, not an integer", path,
				  key, fy_json_type_name(v));
	return FY_OK;
}

static int get_str(const struct fy_json *cfg, const char *path, const char *key, char *out,
		   size_t cap, struct fy_err *err)
{
	struct fy_json *v = fy_json_get(cfg, key);
	const char *s = fy_json_str(v);

	out[0] = '\0';
	if (v == NULL || fy_json_type(v) == FY_JSON_NULL)
		return FY_OK;
	if (s == NULL)
		return fy_err_set(err, FY_EFORMAT, "%s: '%s' is a JSON %s, not a string", path, key,
				  fy_json_type_name(v));
	snprintf(out, cap, "%s", s);
	return FY_OK;
}

static int config_ints(struct fy_hf_config *c, const struct fy_json *j, const char *path,
		       struct fy_err *err)
{
	struct {
		const char *key;
		int64_t *dst;
	} ints[] = {
		{ "hidden_size", &c->hidden_size },
		{ "intermediate_size", &c->intermediate_size },
		{ "num_hidden_layers", &c->n_layers },
		{ "num_attention_heads", &c->n_heads },
		{ "num_key_value_heads", &c->n_kv_heads },
		{ "head_dim", &c->head_dim },
		{ "vocab_size", &c->vocab_size },
		{ "max_position_embeddings", &c->context_length },
		{ "num_experts", &c->n_experts },
		{ "num_experts_per_tok", &c->n_experts_used },
		{ "moe_intermediate_size", &c->moe_intermediate_size },
		{ "n_shared_experts", &c->n_shared_experts },
		{ "first_k_dense_replace", &c->first_k_dense_replace },
		{ "decoder_sparse_step", &c->decoder_sparse_step },
		{ "n_group", &c->n_group },
		{ "topk_group", &c->topk_group },
		{ "num_nextn_predict_layers", &c->n_nextn_layers },
		{ "q_lora_rank", &c->q_lora_rank },
		{ "kv_lora_rank", &c->kv_lora_rank },
		{ "qk_nope_head_dim", &c->qk_nope_head_dim },
		{ "qk_rope_head_dim", &c->qk_rope_head_dim },
		{ "v_head_dim", &c->v_head_dim },
		{ "rotary_dim", &c->rotary_dim },
		{ "index_n_heads", &c->index_n_heads },
		{ "index_head_dim", &c->index_head_dim },
		{ "index_topk", &c->index_topk },
		{ "linear_conv_kernel_dim", &c->linear_conv_kernel },
		{ "linear_key_head_dim", &c->linear_key_dim },
		{ "linear_value_head_dim", &c->linear_value_dim },
		{ "linear_num_key_heads", &c->linear_key_heads },
		{ "linear_num_value_heads", &c->linear_value_heads },
		{ "full_attention_interval", &c->full_attention_interval },
		{ "shared_expert_intermediate_size", &c->shared_expert_size },
		{ "hc_mult", &c->hc_mult },
		{ "hc_sinkhorn_iters", &c->hc_sinkhorn_iters },
		{ "o_groups", &c->o_groups },
		{ "o_lora_rank", &c->o_lora_rank },
		{ "num_hash_layers", &c->num_hash_layers },
		{ "sliding_window", &c->sliding_window },
		{ "shared_intermediate_size", &c->shared_intermediate_size },
	};
	size_t i;
	int rc = FY_OK;

	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		FY_TRY(rc, get_int(j, path, ints[i].key, ints[i].dst, err));
	}
	c->fp8_block[0] = c->fp8_block[1] = -1;
	const struct fy_json *bs =
		fy_json_get(fy_json_get(j, "quantization_config"), "weight_block_size");
	if (bs != NULL && fy_json_type(bs) != FY_JSON_NULL &&
	    (fy_json_size(bs) != 2 || !fy_json_int(fy_json_at(bs, 0), &c->fp8_block[0]) ||
	     !fy_json_int(fy_json_at(bs, 1), &c->fp8_block[1]) || c->fp8_block[0] <= 0 ||
	     c->fp8_block[1] <= 0))
		return fy_err_set(err, FY_EFORMAT,
				  "%s: quantization_config.weight_block_size is not two positive "
				  "integers",
				  path);
	/* Qwen3.5 names the next-token layers mtp_num_hidden_layers */
	if (c->n_nextn_layers < 0)
		FY_TRY(rc, get_int(j, path, "mtp_num_hidden_layers", &c->n_nextn_layers, err));
	/* DeepSeek-V3 and GLM name it n_routed_experts, Mixtral and MiniMax num_local_experts */
	if (c->n_experts < 0)
		FY_TRY(rc, get_int(j, path, "n_routed_experts", &c->n_experts, err));
	if (c->n_experts < 0)
		FY_TRY(rc, get_int(j, path, "num_local_experts", &c->n_experts, err));
	/* DeepSeek-V4's compression ratio of each layer */
	const struct fy_json *cr = fy_json_get(j, "compress_ratios");
	c->n_compress = -1;
	if (cr != NULL && fy_json_type(cr) != FY_JSON_NULL) {
		if (fy_json_type(cr) != FY_JSON_ARRAY || fy_json_size(cr) > FY_HF_MAX_COMPRESS)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: compress_ratios is not an array of at most %d "
					  "integers",
					  path, FY_HF_MAX_COMPRESS);
		c->n_compress = (int64_t)fy_json_size(cr);
		for (int64_t k = 0; k < c->n_compress; k++) {
			int64_t v;
			if (!fy_json_int(fy_json_at(cr, (size_t)k), &v) || v < 0 || v > 1 << 20)
				return fy_err_set(err, FY_EFORMAT,
						  "%s: compress_ratios[%lld] is not an integer in "
						  "[0, 2^20]",
						  path, (long long)k);
			c->compress_ratios[k] = (int32_t)v;
		}
	}
out:
	return rc;
}

static int config_floats(struct fy_hf_config *c, const struct fy_json *j, const char *path,
			 struct fy_err *err)
{
	struct {
		const char *key;
		double *dst;
	} fl[] = { { "rms_norm_eps", &c->rms_norm_eps },
		   { "rope_theta", &c->rope_theta },
		   { "routed_scaling_factor", &c->routed_scaling_factor },
		   { "partial_rotary_factor", &c->partial_rotary_factor },
		   { "hc_eps", &c->hc_eps },
		   { "swiglu_limit", &c->swiglu_limit },
		   { "compress_rope_theta", &c->compress_rope_theta },
		   { "layernorm_full_attention_alpha", &c->ln_alpha[0] },
		   { "layernorm_linear_attention_alpha", &c->ln_alpha[1] },
		   { "layernorm_mlp_alpha", &c->ln_alpha[2] },
		   { "layernorm_full_attention_beta", &c->ln_beta[0] },
		   { "layernorm_linear_attention_beta", &c->ln_beta[1] },
		   { "layernorm_mlp_beta", &c->ln_beta[2] } };
	for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		const struct fy_json *v = fy_json_get(j, fl[i].key);
		*fl[i].dst = -1;
		if (v == NULL || fy_json_type(v) == FY_JSON_NULL)
			continue;
		if (!fy_json_num(v, fl[i].dst))
			return fy_err_set(err, FY_EFORMAT, "%s: '%s' is not a number", path,
					  fl[i].key);
	}
	return FY_OK;
}

static int rope_scaling(struct fy_hf_config *c, const struct fy_json *j, const char *path,
			struct fy_err *err)
{
	const struct fy_json *r = fy_json_get(j, "rope_scaling");
	c->rope_type[0] = c->rope_json[0] = '\0';
	c->rope_factor = c->rope_low = c->rope_high = -1;
	c->rope_mscale_all_dim = c->rope_beta_fast = c->rope_beta_slow = -1;
	c->rope_orig_ctx = -1;
	if (fy_json_type(r) == FY_JSON_NULL)
		return FY_OK;
	const char *type = fy_json_str(fy_json_get(r, "rope_type"));
	if (type == NULL)
		type = fy_json_str(fy_json_get(r, "type"));
	char *text = fy_json_dump(r, 0);
	if (fy_json_type(r) != FY_JSON_OBJECT || type == NULL || text == NULL ||
	    strlen(text) >= sizeof(c->rope_json) || strlen(type) >= sizeof(c->rope_type)) {
		free(text);
		return fy_err_set(err, FY_EFORMAT,
				  "%s: rope_scaling is not an object with a (short) rope_type",
				  path);
	}
	snprintf(c->rope_json, sizeof(c->rope_json), "%s", text);
	free(text);
	if (strcmp(type, "default") != 0)
		snprintf(c->rope_type, sizeof(c->rope_type), "%s", type);
	const struct {
		const char *key;
		double *dst;
	} nums[] = { { "factor", &c->rope_factor },
		     { "low_freq_factor", &c->rope_low },
		     { "high_freq_factor", &c->rope_high },
		     { "mscale_all_dim", &c->rope_mscale_all_dim },
		     { "beta_fast", &c->rope_beta_fast },
		     { "beta_slow", &c->rope_beta_slow } };
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		const struct fy_json *v = fy_json_get(r, nums[i].key);
		if (v != NULL && (!fy_json_num(v, nums[i].dst) || !(*nums[i].dst > 0)))
			return fy_err_set(err, FY_EFORMAT,
					  "%s: rope_scaling.%s is not a positive number", path,
					  nums[i].key);
	}
	return get_int(r, path, "original_max_position_embeddings", &c->rope_orig_ctx, err);
}

static int config_strs(struct fy_hf_config *c, const struct fy_json *j, const char *path,
		       struct fy_err *err)
{
	struct fy_json *archs = fy_json_get(j, "architectures");
	struct fy_json *tie = fy_json_get(j, "tie_word_embeddings");
	int rc;

	if (archs != NULL && fy_json_type(archs) != FY_JSON_ARRAY)
		return fy_err_set(err, FY_EFORMAT, "%s: 'architectures' is not an array", path);
	if (fy_json_size(archs) > 0) {
		const char *a = fy_json_str(fy_json_at(archs, 0));

		if (a == NULL)
			return fy_err_set(err, FY_EFORMAT, "%s: architectures[0] is not a string",
					  path);
		snprintf(c->architecture, sizeof(c->architecture), "%s", a);
	}
	rc = get_str(j, path, "model_type", c->model_type, sizeof(c->model_type), err);
	if (rc == FY_OK)
		rc = get_str(j, path, "torch_dtype", c->torch_dtype, sizeof(c->torch_dtype), err);
	if (rc == FY_OK)
		rc = get_str(fy_json_get(j, "quantization_config"), path, "quant_method",
			     c->quant_method, sizeof(c->quant_method), err);
	if (rc == FY_OK)
		rc = get_str(j, path, "scoring_func", c->scoring_func, sizeof(c->scoring_func),
			     err);
	/* a family whose config.json does not name its routing (GLM: always sigmoid) */
	const struct fy_hf_arch *row = fy_convert_arch_of_hf(c->architecture);
	if (rc == FY_OK && c->scoring_func[0] == '\0' && row != NULL && row->scoring != NULL)
		snprintf(c->scoring_func, sizeof(c->scoring_func), "%s", row->scoring);
	c->tie_word_embeddings = -1;
	if (tie != NULL &&
	    (fy_json_type(tie) == FY_JSON_TRUE || fy_json_type(tie) == FY_JSON_FALSE))
		c->tie_word_embeddings = fy_json_type(tie) == FY_JSON_TRUE;
	const struct fy_json *post = fy_json_get(j, "postnorm");
	c->postnorm = -1;
	if (post != NULL &&
	    (fy_json_type(post) == FY_JSON_TRUE || fy_json_type(post) == FY_JSON_FALSE))
		c->postnorm = fy_json_type(post) == FY_JSON_TRUE;
	const struct fy_json *norm = fy_json_get(j, "norm_topk_prob");
	c->norm_topk_prob = -1;
	if (norm != NULL &&
	    (fy_json_type(norm) == FY_JSON_TRUE || fy_json_type(norm) == FY_JSON_FALSE))
		c->norm_topk_prob = fy_json_type(norm) == FY_JSON_TRUE;
	const struct fy_json *only = fy_json_get(j, "mlp_only_layers");
	if (only != NULL && fy_json_type(only) != FY_JSON_NULL &&
	    fy_json_type(only) != FY_JSON_ARRAY)
		return fy_err_set(err, FY_EFORMAT, "%s: 'mlp_only_layers' is not an array", path);
	c->n_mlp_only_layers = (int64_t)fy_json_size(only);
	return rc;
}

/* quantization_config of compressed-tensors "pack-quantized" int weights (Kimi K2-Thinking,
 * K2.5): one config group, symmetric, by groups; bits and group size. */
static int compressed_tensors(struct fy_hf_config *c, const struct fy_json *j, const char *path,
			      struct fy_err *err)
{
	const struct fy_json *q = fy_json_get(j, "quantization_config");
	const char *method = fy_json_str(fy_json_get(q, "quant_method"));
	const char *format = fy_json_str(fy_json_get(q, "format"));
	const struct fy_json *groups = fy_json_get(q, "config_groups");
	c->packed_bits = c->packed_group = -1;
	if (method == NULL || strcmp(method, "compressed-tensors") != 0)
		return FY_OK;
	if (format == NULL || strcmp(format, "pack-quantized") != 0 || fy_json_size(groups) != 1)
		return fy_err_set(
			err, FY_EUNSUPPORTED,
			"%s: compressed-tensors format '%s' with %zu config groups is not "
			"supported (one pack-quantized group)",
			path, format != NULL ? format : "", fy_json_size(groups));
	void *it = fy_json_iter(groups);
	const struct fy_json *w = fy_json_get(fy_json_iter_value(it), "weights");
	const char *type = fy_json_str(fy_json_get(w, "type"));
	const char *strategy = fy_json_str(fy_json_get(w, "strategy"));
	if (!fy_json_int(fy_json_get(w, "num_bits"), &c->packed_bits) ||
	    !fy_json_int(fy_json_get(w, "group_size"), &c->packed_group) ||
	    (type != NULL && strcmp(type, "int") != 0) || strategy == NULL ||
	    strcmp(strategy, "group") != 0 ||
	    fy_json_type(fy_json_get(w, "symmetric")) != FY_JSON_TRUE || c->packed_bits != 4 ||
	    c->packed_group <= 0 || c->packed_group > (1 << 20))
		return fy_err_set(err, FY_EUNSUPPORTED,
				  "%s: compressed-tensors weights must be symmetric int4 by groups "
				  "(num_bits 4, strategy group, a group_size)",
				  path);
	return FY_OK;
}

static int config_from(struct fy_hf_config *cfg, struct fy_json *j, const char *path,
		       struct fy_err *err);

int fy_hf_config_load(struct fy_hf_config *cfg, const char *path, struct fy_err *err)
{
	struct fy_json *j = NULL;
	int rc;
	FY_TRY(rc, fy_json_load_file_hf(&j, path, MAX_CONFIG_BYTES, err));
	rc = config_from(cfg, j, path, err);
out:
	fy_json_free(j);
	return rc;
}

int fy_hf_config_parse(struct fy_hf_config *cfg, const void *data, size_t len, const char *label,
		       struct fy_err *err)
{
	struct fy_json *j = NULL;
	int rc;
	FY_TRY(rc, fy_json_parse_hf(&j, data, len, label, err));
	rc = config_from(cfg, j, label, err);
out:
	fy_json_free(j);
	return rc;
}

/* layer_types: which layers are linear attention (Qwen3-Next, Qwen3.5); MiniMax-01's
 * attn_type_list says it with 0 (linear) and 1 (softmax). */
static int layer_types(struct fy_hf_config *c, const struct fy_json *j, const char *path,
		       struct fy_err *err)
{
	const struct fy_json *lt = fy_json_get(j, "layer_types");
	const struct fy_json *at = fy_json_get(j, "attn_type_list");
	c->n_layer_types = -1;
	if (lt == NULL && at != NULL && fy_json_type(at) != FY_JSON_NULL) {
		if (fy_json_type(at) != FY_JSON_ARRAY || fy_json_size(at) > FY_HF_MAX_COMPRESS)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: attn_type_list is not an array of at most %d 0s "
					  "and 1s",
					  path, FY_HF_MAX_COMPRESS);
		c->n_layer_types = (int64_t)fy_json_size(at);
		for (int64_t k = 0; k < c->n_layer_types; k++) {
			int64_t v;
			if (!fy_json_int(fy_json_at(at, (size_t)k), &v) || (v != 0 && v != 1))
				return fy_err_set(err, FY_EFORMAT,
						  "%s: attn_type_list[%lld] is not 0 or 1", path,
						  (long long)k);
			c->linear_layer[k] = v == 0;
		}
		return FY_OK;
	}
	if (lt != NULL && fy_json_type(lt) != FY_JSON_NULL) {
		if (fy_json_type(lt) != FY_JSON_ARRAY || fy_json_size(lt) > FY_HF_MAX_COMPRESS)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: layer_types is not an array of at most %d strings",
					  path, FY_HF_MAX_COMPRESS);
		c->n_layer_types = (int64_t)fy_json_size(lt);
		for (int64_t k = 0; k < c->n_layer_types; k++) {
			const char *t = fy_json_str(fy_json_at(lt, (size_t)k));
			if (t == NULL)
				return fy_err_set(err, FY_EFORMAT,
						  "%s: layer_types[%lld] is not a string", path,
						  (long long)k);
			c->linear_layer[k] = strcmp(t, "linear_attention") == 0;
		}
	}
	return FY_OK;
}

/* Kimi-Linear's linear_attn_config: the Kimi Delta Attention layers' heads (key and value
 * heads alike), head size and short convolution, and full_attn_layers (1-based: the others are
 * linear). */
static int linear_attn_config(struct fy_hf_config *c, const struct fy_json *j, const char *path,
			      struct fy_err *err)
{
	const struct fy_json *la = fy_json_get(j, "linear_attn_config");
	int64_t heads, dim, conv;
	int rc = FY_OK;
	if (la == NULL || fy_json_type(la) == FY_JSON_NULL)
		return FY_OK;
	if (fy_json_type(la) != FY_JSON_OBJECT)
		return fy_err_set(err, FY_EFORMAT, "%s: linear_attn_config is not an object", path);
	FY_TRY(rc, get_int(la, path, "num_heads", &heads, err));
	FY_TRY(rc, get_int(la, path, "head_dim", &dim, err));
	FY_TRY(rc, get_int(la, path, "short_conv_kernel_size", &conv, err));
	c->linear_key_heads = c->linear_value_heads = heads;
	c->linear_key_dim = c->linear_value_dim = dim;
	c->linear_conv_kernel = conv;
	const struct fy_json *full = fy_json_get(la, "full_attn_layers");
	if (c->n_layers <= 0 || c->n_layers > FY_HF_MAX_COMPRESS ||
	    fy_json_type(full) != FY_JSON_ARRAY)
		return fy_err_set(err, FY_EFORMAT,
				  "%s: linear_attn_config.full_attn_layers is not an array (or "
				  "num_hidden_layers is not 1 to %d)",
				  path, FY_HF_MAX_COMPRESS);
	c->n_layer_types = c->n_layers;
	for (int64_t l = 0; l < c->n_layers; l++)
		c->linear_layer[l] = true;
	for (size_t k = 0; k < fy_json_size(full); k++) {
		int64_t v;
		if (!fy_json_int(fy_json_at(full, k), &v) || v < 1 || v > c->n_layers)
			return fy_err_set(
				err, FY_EFORMAT,
				"%s: linear_attn_config.full_attn_layers[%zu] is not a layer "
				"(1 to %lld)",
				path, k, (long long)c->n_layers);
		c->linear_layer[v - 1] = false;
	}
out:
	return rc;
}

/* Fields some families name otherwise, read where the usual name is absent, in the order
 * llama.cpp's converter looks for them (find_hparam). */
static int other_names(struct fy_hf_config *c, const struct fy_json *j, const char *path,
		       struct fy_err *err)
{
	static const char *const ctx[] = { "n_ctx", "n_positions", "max_length",
					   "max_sequence_length", "model_max_length" };
	int rc = FY_OK;
	for (size_t i = 0; c->context_length < 0 && i < sizeof(ctx) / sizeof(ctx[0]); i++)
		FY_TRY(rc, get_int(j, path, ctx[i], &c->context_length, err));
	if (c->n_experts_used < 0)
		FY_TRY(rc, get_int(j, path, "num_experts_per_token", &c->n_experts_used, err));
	if (c->n_shared_experts < 0)
		FY_TRY(rc, get_int(j, path, "num_shared_experts", &c->n_shared_experts, err));
	if (c->scoring_func[0] == '\0')
		FY_TRY(rc, get_str(j, path, "moe_router_activation_func", c->scoring_func,
				   sizeof(c->scoring_func), err));
out:
	return rc;
}

/* The MRoPE sections of rope_parameters or rope_scaling, padded to four with zeros as
 * llama.cpp's converter pads them. */
static int mrope_sections(struct fy_hf_config *c, const struct fy_json *j, const char *path,
			  struct fy_err *err)
{
	const struct fy_json *rs = fy_json_get(j, "rope_scaling");
	const struct fy_json *ms = fy_json_get(rs, "mrope_section");
	c->n_mrope = 0;
	memset(c->mrope_sections, 0, sizeof(c->mrope_sections));
	if (ms == NULL || fy_json_type(ms) == FY_JSON_NULL)
		return FY_OK;
	if (fy_json_type(ms) != FY_JSON_ARRAY || fy_json_size(ms) < 1 || fy_json_size(ms) > 4)
		return fy_err_set(err, FY_EFORMAT, "%s: mrope_section is not 1 to 4 integers",
				  path);
	for (size_t k = 0; k < fy_json_size(ms); k++) {
		int64_t v;
		if (!fy_json_int(fy_json_at(ms, k), &v) || v < 0 || v > 1 << 16)
			return fy_err_set(err, FY_EFORMAT,
					  "%s: mrope_section[%zu] is not an integer in [0, 65536]",
					  path, k);
		c->mrope_sections[k] = (int32_t)v;
	}
	c->n_mrope = 4;
	return FY_OK;
}

/* config.json's facts from its parsed object (text_config merged into it). */
static int config_from(struct fy_hf_config *cfg, struct fy_json *j, const char *path,
		       struct fy_err *err)
{
	struct fy_hf_config c;
	int rc = FY_OK;

	memset(&c, 0, sizeof(c));
	if (fy_json_type(j) != FY_JSON_OBJECT) {
		rc = fy_err_set(err, FY_EFORMAT, "%s: not a JSON object", path);
		goto out;
	}
	/* a multimodal checkpoint (Kimi K2.5) nests the language model's fields in text_config:
	 * they are read as if at the top, over the top's own (as llama.cpp's converter merges them)
	 */
	const struct fy_json *text = fy_json_get(j, "text_config");
	if (fy_json_type(text) == FY_JSON_OBJECT) {
		for (void *it = fy_json_iter(text); it != NULL; it = fy_json_next(text, it)) {
			if (strcmp(fy_json_iter_key(it), "architectures") != 0 &&
			    strcmp(fy_json_iter_key(it), "model_type") != 0)
				fy_json_set(j, fy_json_iter_key(it),
					    fy_json_copy(fy_json_iter_value(it)));
		}
	}
	/* transformers v5 (Qwen3.5) keeps rope_theta, partial_rotary_factor and the rope type in
	 * rope_parameters: read as llama.cpp's converter reads them (the top's own first) */
	const struct fy_json *rp = fy_json_get(j, "rope_parameters");
	if (fy_json_type(rp) == FY_JSON_OBJECT) {
		static const char *const keys[] = { "rope_theta", "partial_rotary_factor" };
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (fy_json_get(j, keys[i]) == NULL && fy_json_get(rp, keys[i]) != NULL)
				fy_json_set(j, keys[i], fy_json_copy(fy_json_get(rp, keys[i])));
		const struct fy_json *rs = fy_json_get(j, "rope_scaling");
		if ((rs == NULL || fy_json_type(rs) == FY_JSON_NULL) &&
		    (fy_json_get(rp, "rope_type") != NULL || fy_json_get(rp, "type") != NULL))
			fy_json_set(j, "rope_scaling", fy_json_copy(rp));
	}
	FY_TRY(rc, config_ints(&c, j, path, err));
	FY_TRY(rc, config_floats(&c, j, path, err));
	FY_TRY(rc, config_strs(&c, j, path, err));
	FY_TRY(rc, rope_scaling(&c, j, path, err));
	FY_TRY(rc, layer_types(&c, j, path, err));
	FY_TRY(rc, linear_attn_config(&c, j, path, err));
	FY_TRY(rc, other_names(&c, j, path, err));
	FY_TRY(rc, mrope_sections(&c, j, path, err));
	FY_TRY(rc, compressed_tensors(&c, j, path, err));
	*cfg = c;
out:
	return rc;
}
