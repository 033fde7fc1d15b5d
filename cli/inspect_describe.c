/*
 * Builds the JSON description that `ferry inspect` prints. Layout (docs/CLI.md):
 *   file:       {path, format, size, header_size, [version, alignment, data_offset],
 *                metadata, tensors: [{name, type, shape, offset, bytes}], totals}
 *   directory:  {path, format: "directory", config, index, files: [file...], totals}
 * GGUF shapes are ggml's ne order (fastest first); safetensors shapes are PyTorch order.
 */
#include "cli/cli.h"
#include "cli/inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Per-type totals, indexed by enum fy_dtype; a mixture's routed-expert parameters and how many
 * of its experts a token uses (n_expert 0: dense). */
struct totals {
	uint64_t tensors[FY_DTYPE_COUNT];
	uint64_t params[FY_DTYPE_COUNT];
	uint64_t bytes[FY_DTYPE_COUNT];
	uint64_t expert_params;
	int64_t n_expert, n_used;
};

/* A routed expert's matrix: GGUF's stacked ffn_*_exps, HF's mlp.experts.E.* (not the shared
 * experts, which every token uses). */
static bool is_expert(const char *name)
{
	return strstr(name, "_exps.") != NULL || strstr(name, ".mlp.experts.") != NULL;
}

static void totals_add(struct totals *t, const char *name, enum fy_dtype type, int64_t n,
		       uint64_t bytes)
{
	t->tensors[type]++;
	t->params[type] += (uint64_t)n;
	t->bytes[type] += bytes;
	if (is_expert(name))
		t->expert_params += (uint64_t)n;
}

static struct fy_json *totals_json(const struct totals *t)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *types = fy_json_object();
	uint64_t tensors = 0, params = 0, bytes = 0;
	int i;

	for (i = 0; i < FY_DTYPE_COUNT; i++) {
		struct fy_json *row;

		if (t->tensors[i] == 0)
			continue;
		row = fy_json_object();
		fy_json_set(row, "tensors", fy_json_integer((int64_t)t->tensors[i]));
		fy_json_set(row, "parameters", fy_json_integer((int64_t)t->params[i]));
		fy_json_set(row, "bytes", fy_json_integer((int64_t)t->bytes[i]));
		fy_json_set(types, fy_dtype_name(i), row);
		tensors += t->tensors[i];
		params += t->params[i];
		bytes += t->bytes[i];
	}
	fy_json_set(o, "tensors", fy_json_integer((int64_t)tensors));
	fy_json_set(o, "parameters", fy_json_integer((int64_t)params));
	/* a token runs n_used of n_expert routed experts: the rest of their parameters rest */
	if (t->n_expert > 0 && t->n_used > 0 && t->n_used <= t->n_expert && t->expert_params > 0) {
		const uint64_t idle =
			(uint64_t)((double)t->expert_params * (double)(t->n_expert - t->n_used) /
				   (double)t->n_expert);
		fy_json_set(o, "active_parameters", fy_json_integer((int64_t)(params - idle)));
	}
	fy_json_set(o, "bytes", fy_json_integer((int64_t)bytes));
	fy_json_set(o, "types", types);
	return o;
}

/* A mixture of experts in words and numbers (shared by GGUF metadata and config.json). */
struct moe_info {
	int64_t experts, used, shared, dense, groups, groups_used;
	int64_t hashed; /* the leading layers routed by a token -> experts table (DeepSeek-V4) */
	const char *scoring; /* "softmax", "sigmoid", "sqrt-softplus" */
	bool norm, bias;
	double scale;
};

/* llama.cpp's expert_gating_func in words (1 softmax, 2 sigmoid, 4 sqrt(softplus)). */
static const char *gating_name(double g)
{
	return g == 2 ? "sigmoid" : g == 4 ? "sqrt-softplus" : "softmax";
}

static struct fy_json *moe_json(const struct moe_info *m)
{
	struct fy_json *o = fy_json_object();
	char text[320];
	int n = snprintf(text, sizeof(text), "%s over %lld experts%s, top %lld", m->scoring,
			 (long long)m->experts, m->bias ? " (plus a selection bias)" : "",
			 (long long)m->used);
	if (m->groups > 1 && m->groups_used < m->groups)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      " within the best %lld of %lld groups", (long long)m->groups_used,
			      (long long)m->groups);
	if (m->norm)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ", renormalized");
	if (m->scale > 0 && m->scale != 1)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ", x%g", m->scale);
	if (m->shared > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "; %lld shared expert%s",
			      (long long)m->shared, m->shared > 1 ? "s" : "");
	if (m->dense > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "; the first %lld layer%s dense",
			      (long long)m->dense, m->dense > 1 ? "s" : "");
	if (m->hashed > 0)
		snprintf(text + n, sizeof(text) - (size_t)n,
			 "; the first %lld layer%s routed by the token's fixed experts",
			 (long long)m->hashed, m->hashed > 1 ? "s" : "");
	fy_json_set(o, "experts", fy_json_integer(m->experts));
	fy_json_set(o, "experts_used", fy_json_integer(m->used));
	fy_json_set(o, "shared_experts", fy_json_integer(m->shared));
	fy_json_set(o, "dense_layers", fy_json_integer(m->dense));
	fy_json_set(o, "routing", fy_json_string(text));
	return o;
}

/* The arch-prefixed number `key` of g, or dflt. */
static double gguf_num(const struct fy_gguf *g, const char *arch, const char *key, double dflt)
{
	char k[160];
	double v;
	snprintf(k, sizeof(k), "%s.%s", arch, key);
	return fy_gguf_kv_number(fy_gguf_find_kv(g, k), &v) ? v : dflt;
}

/* The mixture a GGUF file's metadata describes (llama.cpp's keys), or NULL when dense. */
static struct fy_json *gguf_moe(const struct fy_gguf *g, struct totals *tot)
{
	const struct fy_gguf_kv *a = fy_gguf_find_kv(g, "general.architecture");
	char arch[64], key[160];
	if (a == NULL || a->type != FY_GGUF_STRING || a->v.s.len >= sizeof(arch))
		return NULL;
	memcpy(arch, a->v.s.ptr, a->v.s.len);
	arch[a->v.s.len] = '\0';
	struct moe_info m = {
		.experts = (int64_t)gguf_num(g, arch, "expert_count", 0),
		.used = (int64_t)gguf_num(g, arch, "expert_used_count", 0),
		.shared = (int64_t)gguf_num(g, arch, "expert_shared_count", 0),
		.dense = (int64_t)gguf_num(g, arch, "leading_dense_block_count", 0),
		.groups = (int64_t)gguf_num(g, arch, "expert_group_count", 1),
		.groups_used = (int64_t)gguf_num(g, arch, "expert_group_used_count", 1),
		.hashed = (int64_t)gguf_num(g, arch, "hash_layer_count", 0),
		.scoring = gating_name(gguf_num(g, arch, "expert_gating_func", 1)),
		/* llama.cpp renormalizes these unless the file says otherwise
		 * (MiniMax-M2 and -01, Qwen3-Next, Qwen3.5-MoE, Kimi-Linear: always) */
		.norm = strcmp(arch, "qwen3moe") == 0 || strcmp(arch, "minimax-m2") == 0 ||
			strcmp(arch, "qwen3next") == 0 || strcmp(arch, "qwen35moe") == 0 ||
			strcmp(arch, "minimax-01") == 0 || strcmp(arch, "kimi-linear") == 0,
		.scale = gguf_num(g, arch, "expert_weights_scale", 1)
	};
	if (m.experts <= 1)
		return NULL;
	/* a shared expert named by its width only (Qwen3-Next's) */
	if (m.shared == 0 && gguf_num(g, arch, "expert_shared_feed_forward_length", 0) > 0)
		m.shared = 1;
	snprintf(key, sizeof(key), "%s.expert_weights_norm", arch);
	const struct fy_gguf_kv *norm = fy_gguf_find_kv(g, key);
	if (norm != NULL && norm->type == FY_GGUF_BOOL)
		m.norm = norm->v.b;
	for (size_t i = 0; i < fy_gguf_tensor_count(g) && !m.bias; i++)
		m.bias = strstr(fy_gguf_tensor_at(g, i)->name, ".exp_probs_b.") != NULL;
	tot->n_expert = m.experts;
	tot->n_used = m.used;
	return moe_json(&m);
}

/* The attention in words: grouped-query (heads over KV heads, the rotated share of a head, q/k
 * norms) or latent (the ranks), and the next-token-prediction layers a file carries. */
struct attn_info {
	int64_t heads, kv_heads, head_dim, rot, kv_rank, q_rank, nextn;
	int64_t idx_heads, idx_dim, idx_top_k; /* DeepSeek-V3.2's lightning indexer, or 0 */
	bool qk_norm, qk_norm_whole; /* per head, or over the whole projection (MiniMax) */
	/* DeepSeek-V4: the sliding window, the layers compressing by 4 and by 128, the
	 * hyper-connection streams (0: none) */
	int64_t window, n_csa, n_hca, streams;
	/* Gated DeltaNet layers (Qwen3-Next): how many of the layers, key and value heads, value
	 * head size, convolution taps (0: none) */
	int64_t n_linear, n_layers, lin_kh, lin_vh, lin_vd, lin_conv;
	/* lightning attention layers (MiniMax-01): how many of n_layers (0: none) */
	int64_t n_lightning;
	/* Kimi Delta Attention layers (Kimi-Linear): how many, heads, head size, convolution taps;
	 * its latent attention has no RoPE */
	int64_t n_kda, kda_heads, kda_dim, kda_conv;
	bool no_rope;
};

/* DeepSeek-V4's compressed attention in words: window, layers by ratio, the indexer. */
static int compressed_text(const struct attn_info *a, char *text, size_t cap)
{
	int n = snprintf(text, cap, "; a window of %lld positions", (long long)a->window);
	if (a->n_csa > 0)
		n += snprintf(text + n, cap - (size_t)n,
			      "; %lld layer%s compressing by 4 (a lightning indexer of %lld heads "
			      "of %lld keeps %lld blocks per token)",
			      (long long)a->n_csa, a->n_csa > 1 ? "s" : "", (long long)a->idx_heads,
			      (long long)a->idx_dim, (long long)a->idx_top_k);
	if (a->n_hca > 0)
		n += snprintf(text + n, cap - (size_t)n, "; %lld layer%s compressing by 128",
			      (long long)a->n_hca, a->n_hca > 1 ? "s" : "");
	if (a->streams > 0)
		n += snprintf(text + n, cap - (size_t)n, "; %lld hyper-connection streams",
			      (long long)a->streams);
	return n;
}

static struct fy_json *attn_json(const struct attn_info *a)
{
	char text[512];
	int n;
	if (a->heads <= 0)
		return NULL;
	struct fy_json *o = fy_json_object();
	n = snprintf(text, sizeof(text), "%s: %lld heads",
		     a->kv_rank > 0	      ? "latent"
		     : a->kv_heads < a->heads ? "grouped-query"
					      : "multi-head",
		     (long long)a->heads);
	if (a->kv_rank <= 0 && a->kv_heads < a->heads)
		n += snprintf(text + n, sizeof(text) - (size_t)n, " over %lld key/value head%s",
			      (long long)a->kv_heads, a->kv_heads == 1 ? "" : "s");
	if (a->head_dim > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, " of %lld",
			      (long long)a->head_dim);
	if (a->kv_rank > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      ", keys and values from a rank-%lld latent", (long long)a->kv_rank);
	if (a->q_rank > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ", queries through rank %lld",
			      (long long)a->q_rank);
	if (a->no_rope)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ", no RoPE");
	else if (a->rot > 0 && a->head_dim > 0 && a->rot < a->head_dim)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ", RoPE on %lld of them",
			      (long long)a->rot);
	if (a->qk_norm)
		n += snprintf(text + n, sizeof(text) - (size_t)n, ", q/k norms%s",
			      a->qk_norm_whole ? " over all heads" : "");
	if (a->n_linear > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "; %lld of %lld layers Gated DeltaNet (%lld key heads and %lld value "
			      "heads of %lld, a convolution of %lld)",
			      (long long)a->n_linear, (long long)a->n_layers, (long long)a->lin_kh,
			      (long long)a->lin_vh, (long long)a->lin_vd, (long long)a->lin_conv);
	if (a->n_kda > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "; %lld of %lld layers Kimi Delta Attention (%lld heads of %lld, a "
			      "convolution of %lld)",
			      (long long)a->n_kda, (long long)a->n_layers, (long long)a->kda_heads,
			      (long long)a->kda_dim, (long long)a->kda_conv);
	if (a->n_lightning > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "; %lld of %lld layers lightning attention (linear, a decaying state "
			      "per head)",
			      (long long)a->n_lightning, (long long)a->n_layers);
	if (a->window > 0)
		n += compressed_text(a, text + n, sizeof(text) - (size_t)n);
	else if (a->idx_heads > 0)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "; sparse: a lightning indexer (%lld heads of %lld) keeps %lld "
			      "positions per token",
			      (long long)a->idx_heads, (long long)a->idx_dim,
			      (long long)a->idx_top_k);
	if (a->nextn > 0)
		snprintf(text + n, sizeof(text) - (size_t)n,
			 "; %lld next-token-prediction layer%s (not run)", (long long)a->nextn,
			 a->nextn > 1 ? "s" : "");
	fy_json_set(o, "kind",
		    fy_json_string(a->kv_rank > 0	    ? "latent"
				   : a->kv_heads < a->heads ? "grouped-query"
							    : "multi-head"));
	fy_json_set(o, "text", fy_json_string(text));
	return o;
}

/* The attention a GGUF file's metadata describes, or NULL. */
static struct fy_json *gguf_attention(const struct fy_gguf *g)
{
	const struct fy_gguf_kv *a = fy_gguf_find_kv(g, "general.architecture");
	char arch[64];
	if (a == NULL || a->type != FY_GGUF_STRING || a->v.s.len >= sizeof(arch))
		return NULL;
	memcpy(arch, a->v.s.ptr, a->v.s.len);
	arch[a->v.s.len] = '\0';
	const int64_t heads = (int64_t)gguf_num(g, arch, "attention.head_count", 0);
	const int64_t embd = (int64_t)gguf_num(g, arch, "embedding_length", 0);
	struct attn_info at = {
		.heads = heads,
		.kv_heads = (int64_t)gguf_num(g, arch, "attention.head_count_kv", (double)heads),
		/* latent attention in llama.cpp v0.5.0's layout names a head's size key_length_mla
		 */
		.head_dim = (int64_t)gguf_num(g, arch, "attention.key_length_mla",
					      gguf_num(g, arch, "attention.key_length",
						       heads > 0 ? (double)(embd / heads) : 0)),
		.kv_rank = (int64_t)gguf_num(g, arch, "attention.kv_lora_rank", 0),
		.q_rank = (int64_t)gguf_num(g, arch, "attention.q_lora_rank", 0),
		.nextn = (int64_t)gguf_num(g, arch, "nextn_predict_layers", 0),
		.qk_norm = fy_gguf_find_tensor(g, "blk.0.attn_q_norm.weight") != NULL,
		.idx_heads = (int64_t)gguf_num(g, arch, "attention.indexer.head_count", 0),
		.idx_dim = (int64_t)gguf_num(g, arch, "attention.indexer.key_length", 0),
		.idx_top_k = (int64_t)gguf_num(g, arch, "attention.indexer.top_k", 0),
	};
	at.rot = (int64_t)gguf_num(g, arch, "rope.dimension_count", (double)at.head_dim);
	char key[160];
	snprintf(key, sizeof(key), "%s.attention.compress_ratios", arch);
	const struct fy_gguf_kv *cr = fy_gguf_find_kv(g, key);
	const int64_t layers = (int64_t)gguf_num(g, arch, "block_count", 0);
	if (cr != NULL && cr->type == FY_GGUF_ARRAY) {
		at.window = (int64_t)gguf_num(g, arch, "attention.sliding_window", 0);
		at.streams = (int64_t)gguf_num(g, arch, "hyper_connection.count", 0);
		for (int64_t i = 0; i < layers && (uint64_t)i < cr->arr_count; i++) {
			const struct fy_gguf_value v = fy_gguf_arr_at(cr, (uint64_t)i);
			const int64_t r = v.type == FY_GGUF_I32 ? v.i : 0;
			at.n_csa += r == 4;
			at.n_hca += r == 128;
		}
	}
	const int64_t interval = (int64_t)gguf_num(g, arch, "full_attention_interval", 0);
	char rkey[160];
	snprintf(rkey, sizeof(rkey), "%s.attention.recurrent_layers", arch);
	const struct fy_gguf_kv *rec = fy_gguf_find_kv(g, rkey); /* Qwen3.5: the layers named */
	at.lin_vh = (int64_t)gguf_num(g, arch, "ssm.time_step_rank", 0);
	if ((interval > 0 || rec != NULL) && at.lin_vh > 0) {
		at.n_layers = layers - at.nextn;
		for (int64_t l = 0; l < at.n_layers; l++) {
			if (rec == NULL)
				at.n_linear += (l + 1) % interval != 0;
			else if (rec->type == FY_GGUF_ARRAY && rec->arr_type == FY_GGUF_BOOL &&
				 (uint64_t)l < rec->arr_count)
				at.n_linear += fy_gguf_arr_at(rec, (uint64_t)l).b;
		}
		at.lin_kh = (int64_t)gguf_num(g, arch, "ssm.group_count", 0);
		at.lin_vd = (int64_t)gguf_num(g, arch, "ssm.inner_size", 0) / at.lin_vh;
		at.lin_conv = (int64_t)gguf_num(g, arch, "ssm.conv_kernel", 0);
	}
	if (strcmp(arch, "kimi-linear") == 0) { /* head_count_kv 0: a KDA layer */
		snprintf(key, sizeof(key), "%s.attention.head_count_kv", arch);
		const struct fy_gguf_kv *kvs = fy_gguf_find_kv(g, key);
		at.no_rope = true;
		at.n_layers = layers;
		for (int64_t l = 0; kvs != NULL && kvs->type == FY_GGUF_ARRAY && l < layers &&
				    (uint64_t)l < kvs->arr_count;
		     l++) {
			const struct fy_gguf_value v = fy_gguf_arr_at(kvs, (uint64_t)l);
			double d = 0;
			at.n_kda += fy_gguf_value_number(&v, &d) && d == 0;
		}
		at.kda_heads = heads;
		at.kda_dim = (int64_t)gguf_num(g, arch, "kda.head_dim", 0);
		at.kda_conv = (int64_t)gguf_num(g, arch, "ssm.conv_kernel", 0);
	}
	if (strcmp(arch, "minimax-01") == 0) { /* the layers named, else every 8th softmax */
		at.n_layers = layers;
		for (int64_t l = 0; l < layers; l++)
			at.n_lightning += rec == NULL ? (l + 1) % (interval > 0 ? interval : 8) != 0
						      : rec->type == FY_GGUF_ARRAY &&
								rec->arr_type == FY_GGUF_BOOL &&
								(uint64_t)l < rec->arr_count &&
								fy_gguf_arr_at(rec, (uint64_t)l).b;
	}
	const struct fy_gguf_tensor *qn = fy_gguf_find_tensor(g, "blk.0.attn_q_norm.weight");
	/* the first attention layer's norms (Qwen3-Next's layer 0 is Gated DeltaNet) */
	for (size_t i = 0; qn == NULL && i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);
		if (strncmp(t->name, "blk.", 4) == 0 && strstr(t->name, ".attn_q_norm.weight"))
			qn = t;
	}
	at.qk_norm = qn != NULL;
	at.qk_norm_whole = qn != NULL && at.head_dim > 0 && qn->ne[0] > at.head_dim;
	return attn_json(&at);
}

/* The attention config.json describes, or NULL. */
static struct fy_json *config_attention(const struct fy_hf_config *c)
{
	const int64_t hd = c->head_dim > 0	     ? c->head_dim
			   : c->qk_nope_head_dim > 0 ? c->qk_nope_head_dim + c->qk_rope_head_dim
			   : c->n_heads > 0	     ? c->hidden_size / c->n_heads
						     : 0;
	struct attn_info at = {
		.heads = c->n_heads,
		.kv_heads = c->n_kv_heads > 0 ? c->n_kv_heads : c->n_heads,
		.head_dim = hd,
		.rot = c->qk_rope_head_dim > 0	      ? c->qk_rope_head_dim
		       : c->rotary_dim > 0	      ? c->rotary_dim /* MiniMax */
		       : c->partial_rotary_factor > 0 ? (int64_t)(hd * c->partial_rotary_factor)
						      : hd,
		.kv_rank = c->kv_lora_rank > 0 ? c->kv_lora_rank : 0,
		.q_rank = c->q_lora_rank > 0 ? c->q_lora_rank : 0,
		.nextn = c->n_nextn_layers > 0 ? c->n_nextn_layers : 0,
		.idx_heads = c->index_n_heads > 0 ? c->index_n_heads : 0,
		.idx_dim = c->index_head_dim,
		.idx_top_k = c->index_topk,
		.window = c->n_compress > 0 && c->sliding_window > 0 ? c->sliding_window : 0,
		.streams = c->n_compress > 0 && c->hc_mult > 0 ? c->hc_mult : 0,
	};
	for (int64_t i = 0; i < c->n_layers && i < c->n_compress; i++) {
		at.n_csa += c->compress_ratios[i] == 4;
		at.n_hca += c->compress_ratios[i] == 128;
	}
	const char *to = fy_convert_gguf_arch(c->architecture);
	const bool kimi = to != NULL && strcmp(to, "kimi-linear") == 0;
	if (kimi) { /* linear_attn_config */
		at.no_rope = true;
		at.n_layers = c->n_layers;
		for (int64_t l = 0; l < c->n_layers && l < c->n_layer_types; l++)
			at.n_kda += c->linear_layer[l];
		at.kda_heads = c->linear_key_heads;
		at.kda_dim = c->linear_key_dim;
		at.kda_conv = c->linear_conv_kernel;
	}
	if (!kimi && (c->full_attention_interval > 0 || c->n_layer_types >= 0) &&
	    c->linear_value_heads > 0) {
		at.n_layers = c->n_layers;
		for (int64_t l = 0; l < c->n_layers; l++)
			at.n_linear += c->n_layer_types >= 0
					       ? l < c->n_layer_types && c->linear_layer[l]
					       : (l + 1) % c->full_attention_interval != 0;
		at.lin_kh = c->linear_key_heads;
		at.lin_vh = c->linear_value_heads;
		at.lin_vd = c->linear_value_dim;
		at.lin_conv = c->linear_conv_kernel;
	}
	if (to != NULL && strcmp(to, "minimax-01") == 0) { /* attn_type_list */
		at.n_layers = c->n_layers;
		for (int64_t l = 0; l < c->n_layers; l++)
			at.n_lightning += c->n_layer_types >= 0
						  ? l < c->n_layer_types && c->linear_layer[l]
						  : (l + 1) % 8 != 0;
	}
	return attn_json(&at);
}

/* A JSON string from bytes that may not be UTF-8: invalid bytes become U+FFFD. */
static struct fy_json *lossy_string(const char *p, size_t n)
{
	struct fy_json *s = fy_json_stringn(p, n);
	struct fy_buf b;
	size_t i;

	if (s != NULL)
		return s;
	fy_buf_init(&b);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c < 0x80 && c != 0)
			fy_buf_append(&b, &c, 1, NULL);
		else
			fy_buf_append(&b, "\xef\xbf\xbd", 3, NULL);
	}
	s = fy_json_stringn(b.data ? (const char *)b.data : "", b.len);
	fy_buf_release(&b);
	return s;
}

static struct fy_json *gguf_value_json(const struct fy_gguf_value *v)
{
	switch (v->type) {
	case FY_GGUF_U8:
	case FY_GGUF_U16:
	case FY_GGUF_U32:
	case FY_GGUF_U64:
		if (v->u > INT64_MAX) { /* beyond JSON integers here: a decimal string */
			char digits[24];

			snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v->u);
			return fy_json_string(digits);
		}
		return fy_json_integer((int64_t)v->u);
	case FY_GGUF_I8:
	case FY_GGUF_I16:
	case FY_GGUF_I32:
	case FY_GGUF_I64:
		return fy_json_integer(v->i);
	case FY_GGUF_F32:
	case FY_GGUF_F64:
		return fy_json_real(v->f);
	case FY_GGUF_BOOL:
		return fy_json_bool(v->b);
	case FY_GGUF_STRING:
		return lossy_string(v->s.ptr, v->s.len);
	default:
		return fy_json_null();
	}
}

static struct fy_json *gguf_kv_json(const struct fy_gguf_kv *kv, bool full)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *arr;
	uint64_t n;
	uint64_t i;

	fy_json_set(o, "type", fy_json_string(fy_gguf_type_name(kv->type)));
	if (kv->type != FY_GGUF_ARRAY) {
		fy_json_set(o, "value", gguf_value_json(&kv->v));
		return o;
	}
	fy_json_set(o, "element_type", fy_json_string(fy_gguf_type_name(kv->arr_type)));
	fy_json_set(o, "count", fy_json_integer((int64_t)kv->arr_count));
	n = full || kv->arr_count <= FY_INSPECT_PREVIEW ? kv->arr_count : FY_INSPECT_PREVIEW;
	arr = fy_json_array();
	for (i = 0; i < n; i++) {
		struct fy_gguf_value v = fy_gguf_arr_at(kv, i);

		fy_json_push(arr, gguf_value_json(&v));
	}
	fy_json_set(o, "value", arr);
	if (n < kv->arr_count)
		fy_json_set(o, "truncated", fy_json_bool(true));
	return o;
}

static struct fy_json *shape_json(const int64_t *dims, int n)
{
	struct fy_json *a = fy_json_array();
	int i;

	for (i = 0; i < n; i++)
		fy_json_push(a, fy_json_integer(dims[i]));
	return a;
}

static struct fy_json *tensor_json(const char *name, enum fy_dtype type, const int64_t *dims,
				   int n_dims, uint64_t offset, uint64_t bytes)
{
	struct fy_json *o = fy_json_object();

	fy_json_set(o, "name", fy_json_string(name));
	fy_json_set(o, "type", fy_json_string(fy_dtype_name(type)));
	fy_json_set(o, "shape", shape_json(dims, n_dims));
	fy_json_set(o, "offset", fy_json_integer((int64_t)offset));
	fy_json_set(o, "bytes", fy_json_integer((int64_t)bytes));
	return o;
}

/* A split set: every shard's file, size, tensor count and ignored trailing bytes. */
static struct fy_json *gguf_split_json(const struct fy_gguf *g)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *shards = fy_json_array();
	const size_t n = fy_gguf_shard_count(g);
	uint64_t total = 0;

	for (size_t k = 0; k < n; k++) {
		const struct fy_gguf *sh = fy_gguf_shard(g, k);
		struct fy_json *s = fy_json_object();
		int64_t count = 0;

		for (size_t i = 0; i < fy_gguf_tensor_count(g); i++)
			count += fy_gguf_tensor_at(g, i)->shard == (int)k;
		fy_json_set(s, "path", fy_json_string(fy_gguf_label(sh)));
		fy_json_set(s, "size", fy_json_integer((int64_t)fy_gguf_file_size(sh)));
		fy_json_set(s, "tensors", fy_json_integer(count));
		if (fy_gguf_trailing(sh) > 0)
			fy_json_set(s, "trailing_bytes",
				    fy_json_integer((int64_t)fy_gguf_trailing(sh)));
		fy_json_push(shards, s);
		total += fy_gguf_file_size(sh);
	}
	fy_json_set(o, "count", fy_json_integer((int64_t)n));
	fy_json_set(o, "size", fy_json_integer((int64_t)total));
	fy_json_set(o, "shards", shards);
	return o;
}

static struct fy_json *describe_gguf(const struct fy_gguf *g, bool full, struct totals *tot)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *meta = fy_json_object();
	struct fy_json *tensors = fy_json_array();
	size_t i;

	fy_json_set(o, "path", fy_json_string(fy_gguf_label(g)));
	fy_json_set(o, "format", fy_json_string("gguf"));
	fy_json_set(o, "version", fy_json_integer(fy_gguf_version(g)));
	fy_json_set(o, "size", fy_json_integer((int64_t)fy_gguf_file_size(g)));
	fy_json_set(o, "header_size", fy_json_integer((int64_t)fy_gguf_header_size(g)));
	fy_json_set(o, "alignment", fy_json_integer(fy_gguf_alignment(g)));
	fy_json_set(o, "data_offset", fy_json_integer((int64_t)fy_gguf_data_offset(g)));
	for (i = 0; i < fy_gguf_kv_count(g); i++) {
		const struct fy_gguf_kv *kv = fy_gguf_kv_at(g, i);

		fy_json_set(meta, kv->key, gguf_kv_json(kv, full));
	}
	fy_json_set(o, "metadata", meta);
	if (fy_gguf_trailing(g) > 0)
		fy_json_set(o, "trailing_bytes", fy_json_integer((int64_t)fy_gguf_trailing(g)));
	if (fy_gguf_shard_count(g) > 1)
		fy_json_set(o, "split", gguf_split_json(g));
	for (i = 0; i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);
		struct fy_json *tj =
			tensor_json(t->name, t->type, t->ne, t->n_dims, t->offset, t->nbytes);

		if (fy_gguf_shard_count(g) > 1)
			fy_json_set(tj, "shard", fy_json_integer(t->shard + 1));
		fy_json_push(tensors, tj);
		totals_add(tot, t->name, t->type, t->n_elems, t->nbytes);
	}
	fy_json_set(o, "tensors", tensors);
	struct fy_json *moe = gguf_moe(g, tot);
	if (moe != NULL)
		fy_json_set(o, "moe", moe);
	struct fy_json *att = gguf_attention(g);
	if (att != NULL)
		fy_json_set(o, "attention", att);
	return o;
}

static struct fy_json *describe_st(const struct fy_st_file *f, struct totals *tot)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *meta = fy_json_object();
	struct fy_json *tensors = fy_json_array();
	const char *k;
	const char *v;
	size_t i;

	fy_json_set(o, "path", fy_json_string(fy_st_label(f)));
	fy_json_set(o, "format", fy_json_string("safetensors"));
	fy_json_set(o, "size", fy_json_integer((int64_t)fy_st_file_size(f)));
	fy_json_set(o, "header_size", fy_json_integer((int64_t)fy_st_header_size(f)));
	fy_json_set(o, "data_offset", fy_json_integer((int64_t)(8 + fy_st_header_size(f))));
	for (i = 0; i < fy_st_meta_count(f); i++) {
		fy_st_meta_at(f, i, &k, &v);
		fy_json_set(meta, k, fy_json_string(v));
	}
	fy_json_set(o, "metadata", meta);
	for (i = 0; i < fy_st_count(f); i++) {
		const struct fy_st_tensor *t = fy_st_at(f, i);

		fy_json_push(tensors, tensor_json(t->name, t->dtype, t->shape, t->n_dims, t->begin,
						  t->end - t->begin));
		totals_add(tot, t->name, t->dtype, t->n_elems, t->end - t->begin);
	}
	fy_json_set(o, "tensors", tensors);
	return o;
}

static int sniff_file(const char *path, enum fy_format *out, struct fy_err *err)
{
	uint8_t head[64];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fy_err_sys(err, FY_EIO, "cannot open '%s'", path);
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n < 0)
		return fy_err_sys(err, FY_EIO, "cannot read '%s'", path);
	*out = fy_format_sniff(head, (size_t)n);
	if (*out == FY_FORMAT_UNKNOWN)
		return fy_err_set(err, FY_EFORMAT, "%s: not a safetensors or GGUF file", path);
	return FY_OK;
}

static int describe_path(const char *path, bool full, struct totals *tot, struct fy_json **out,
			 struct fy_err *err)
{
	struct fy_gguf *g = NULL;
	struct fy_st_file *f = NULL;
	enum fy_format fmt = FY_FORMAT_UNKNOWN;
	int rc;

	rc = sniff_file(path, &fmt, err);
	if (rc != FY_OK)
		return rc;
	if (fmt == FY_FORMAT_GGUF) {
		rc = fy_gguf_open(&g, path, err);
		if (rc == FY_OK)
			*out = describe_gguf(g, full, tot);
		fy_gguf_free(g);
	} else {
		rc = fy_st_open(&f, path, err);
		if (rc == FY_OK)
			*out = describe_st(f, tot);
		fy_st_free(f);
	}
	return rc;
}

int fy_inspect_file(const char *path, bool full, struct fy_json **out, struct fy_err *err)
{
	struct totals *tot = calloc(1, sizeof(*tot));
	struct fy_json *o = NULL;
	int rc;

	if (tot == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	rc = describe_path(path, full, tot, &o, err);
	if (rc == FY_OK) {
		fy_json_set(o, "totals", totals_json(tot));
		*out = o;
	}
	free(tot);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Directories                                                                                */

static void set_int_if(struct fy_json *o, const char *key, int64_t v)
{
	if (v >= 0)
		fy_json_set(o, key, fy_json_integer(v));
}

static void set_str_if(struct fy_json *o, const char *key, const char *v)
{
	if (v[0] != '\0')
		fy_json_set(o, key, fy_json_string(v));
}

static struct fy_json *config_json(const struct fy_hf_config *c)
{
	struct fy_json *o = fy_json_object();

	set_str_if(o, "architecture", c->architecture);
	set_str_if(o, "model_type", c->model_type);
	set_str_if(o, "torch_dtype", c->torch_dtype);
	set_str_if(o, "quant_method", c->quant_method);
	set_int_if(o, "hidden_size", c->hidden_size);
	set_int_if(o, "intermediate_size", c->intermediate_size);
	set_int_if(o, "num_hidden_layers", c->n_layers);
	set_int_if(o, "num_attention_heads", c->n_heads);
	set_int_if(o, "num_key_value_heads", c->n_kv_heads);
	set_int_if(o, "head_dim", c->head_dim);
	set_int_if(o, "vocab_size", c->vocab_size);
	set_int_if(o, "max_position_embeddings", c->context_length);
	set_int_if(o, "num_experts", c->n_experts);
	set_int_if(o, "num_experts_per_tok", c->n_experts_used);
	set_int_if(o, "moe_intermediate_size", c->moe_intermediate_size);
	set_int_if(o, "q_lora_rank", c->q_lora_rank);
	set_int_if(o, "kv_lora_rank", c->kv_lora_rank);
	if (c->tie_word_embeddings >= 0)
		fy_json_set(o, "tie_word_embeddings", fy_json_bool(c->tie_word_embeddings));
	return o;
}

static bool always_norm(const struct fy_hf_config *c)
{
	const char *to = fy_convert_gguf_arch(c->architecture);
	return to != NULL && (strcmp(to, "minimax-01") == 0 || strcmp(to, "kimi-linear") == 0);
}

/* config.json's mixture (Qwen3-MoE's and DeepSeek-V3's fields), or NULL when dense. */
static struct fy_json *config_moe(const struct fy_hf_config *c, struct totals *tot)
{
	if (c->n_experts <= 1 || c->n_experts_used <= 0)
		return NULL;
	const struct moe_info m = {
		.experts = c->n_experts,
		.used = c->n_experts_used,
		.shared = c->n_shared_experts > 0     ? c->n_shared_experts
			  : c->shared_expert_size > 0 ? 1
						      : 0,
		.dense = c->first_k_dense_replace > 0 ? c->first_k_dense_replace : 0,
		.groups = c->n_group > 0 ? c->n_group : 1,
		.groups_used = c->topk_group > 0 ? c->topk_group : 1,
		.hashed = c->num_hash_layers > 0 ? c->num_hash_layers : 0,
		.scoring = strcmp(c->scoring_func, "sigmoid") == 0	  ? "sigmoid"
			   : strcmp(c->scoring_func, "sqrtsoftplus") == 0 ? "sqrt-softplus"
									  : "softmax",
		/* MiniMax-01 and Kimi-Linear renormalize always (moe_renormalize, llama.cpp's
		   graph) */
		.norm = c->norm_topk_prob == 1 || always_norm(c),
		.bias = strcmp(c->scoring_func, "sigmoid") == 0 ||
			strcmp(c->scoring_func, "sqrtsoftplus") == 0,
		.scale = c->routed_scaling_factor,
	};
	tot->n_expert = m.experts;
	tot->n_used = m.used;
	return moe_json(&m);
}

static int describe_config(const char *dir, struct fy_json *o, struct totals *tot,
			   struct fy_err *err)
{
	struct fy_hf_config cfg;
	char *path = fy_path_join(dir, "config.json");
	struct stat st;
	int rc = FY_OK;

	if (path == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	if (stat(path, &st) == 0) {
		rc = fy_hf_config_load(&cfg, path, err);
		if (rc == FY_OK) {
			struct fy_json *moe = config_moe(&cfg, tot);
			struct fy_json *att = config_attention(&cfg);
			fy_json_set(o, "config", config_json(&cfg));
			if (moe != NULL)
				fy_json_set(o, "moe", moe);
			if (att != NULL)
				fy_json_set(o, "attention", att);
		}
	}
	free(path);
	return rc;
}

static int describe_checkpoint(const char *dir, struct fy_json *files, struct fy_json *o,
			       struct totals *tot, struct fy_err *err)
{
	struct fy_st_model *m = NULL;
	struct fy_json *index;
	size_t i;
	int rc;

	rc = fy_st_model_open(&m, dir, err);
	if (rc != FY_OK)
		return rc;
	if (fy_st_model_declared_size(m) >= 0) {
		index = fy_json_object();
		fy_json_set(index, "file", fy_json_string("model.safetensors.index.json"));
		fy_json_set(index, "total_size", fy_json_integer(fy_st_model_declared_size(m)));
		fy_json_set(o, "index", index);
	}
	for (i = 0; i < fy_st_model_shards(m); i++)
		fy_json_push(files, describe_st(fy_st_model_shard(m, i), tot));
	fy_st_model_free(m);
	return FY_OK;
}

static int describe_ggufs(const char *dir, bool full, struct fy_json *files, struct totals *tot,
			  struct fy_err *err)
{
	char **names = NULL;
	struct fy_json *one;
	char *path;
	size_t n = 0;
	size_t i;
	int rc;

	rc = fy_dir_list(dir, ".gguf", &names, &n, err);
	for (i = 0; rc == FY_OK && i < n; i++) {
		path = fy_path_join(dir, names[i]);
		if (path == NULL) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			break;
		}
		rc = describe_path(path, full, tot, &one, err);
		if (rc == FY_OK)
			fy_json_push(files, one);
		free(path);
	}
	fy_names_free(names, n);
	return rc;
}

static int dir_has(const char *dir, const char *suffix, bool *out, struct fy_err *err)
{
	char **names = NULL;
	size_t n = 0;
	int rc = fy_dir_list(dir, suffix, &names, &n, err);

	fy_names_free(names, n);
	*out = n > 0;
	return rc;
}

int fy_inspect_dir(const char *path, bool full, struct fy_json **out, struct fy_err *err)
{
	struct totals *tot = calloc(1, sizeof(*tot));
	struct fy_json *o = fy_json_object();
	struct fy_json *files = fy_json_array();
	bool has_st = false;
	int rc;

	if (tot == NULL || o == NULL || files == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	fy_json_set(o, "path", fy_json_string(path));
	fy_json_set(o, "format", fy_json_string("directory"));
	FY_TRY(rc, describe_config(path, o, tot, err));
	FY_TRY(rc, dir_has(path, ".safetensors", &has_st, err));
	if (!has_st) {
		char *index = fy_path_join(path, "model.safetensors.index.json");
		struct stat st;

		has_st = index != NULL && stat(index, &st) == 0;
		free(index);
	}
	if (has_st)
		FY_TRY(rc, describe_checkpoint(path, files, o, tot, err));
	FY_TRY(rc, describe_ggufs(path, full, files, tot, err));
	if (fy_json_size(files) == 0) {
		rc = fy_err_set(err, FY_ENOTFOUND, "%s: no safetensors or GGUF files", path);
		goto out;
	}
	fy_json_set(o, "files", files);
	files = NULL;
	fy_json_set(o, "totals", totals_json(tot));
	*out = o;
	o = NULL;
out:
	fy_json_free(files);
	fy_json_free(o);
	free(tot);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* A repository's model                                                                       */

/* The summary from config.json and the safetensors files of a checkpoint. */
static int model_hf(const char *const *names, const char *const *paths, size_t n, size_t cfg,
		    struct totals *tot, struct fy_json *o, struct fy_err *err)
{
	struct fy_hf_config c;
	int rc = FY_OK;
	FY_TRY(rc, fy_hf_config_load(&c, paths[cfg], err));
	set_str_if(o, "architecture", c.architecture);
	set_int_if(o, "layers", c.n_layers);
	struct fy_json *moe = config_moe(&c, tot);
	if (moe != NULL)
		fy_json_set(o, "moe", moe);
	struct fy_json *att = config_attention(&c);
	if (att != NULL)
		fy_json_set(o, "attention", att);
	for (size_t i = 0; i < n; i++) {
		struct fy_st_file *f = NULL;
		if (!fy_ends_with_ci(names[i], ".safetensors"))
			continue;
		FY_TRY(rc, fy_st_open(&f, paths[i], err));
		for (size_t k = 0; k < fy_st_count(f); k++) {
			const struct fy_st_tensor *t = fy_st_at(f, k);
			/* FP8 block scales are not weights */
			if (!fy_ends_with_ci(t->name, "_scale_inv"))
				totals_add(tot, t->name, t->dtype, t->n_elems, t->end - t->begin);
		}
		fy_st_free(f);
	}
out:
	return rc;
}

/* The summary from a GGUF file's metadata and tensors. */
/* The GGUF model names[k] belongs to, opened whole: a split set's shards are found among the
 * names (their bytes at paths, which say nothing). */
static int open_named_gguf(const char *const *names, const char *const *paths, size_t n, size_t k,
			   struct fy_gguf **out, struct fy_err *err)
{
	size_t prefix = 0;
	int no = 0, count = 0;
	if (!fy_gguf_split_name(names[k], &prefix, &no, &count) || count == 1)
		return fy_gguf_open_set(out, &paths[k], 1, names[k], err);
	const char **set = calloc((size_t)count, sizeof(*set));
	char *base = strndup(names[k], prefix);
	char want[8400];
	int rc = set == NULL || base == NULL ? fy_err_set(err, FY_ENOMEM, "out of memory") : FY_OK;
	for (int i = 0; rc == FY_OK && i < count; i++) {
		rc = fy_gguf_split_path(want, sizeof(want), base, (size_t)i, (size_t)count, err);
		for (size_t j = 0; rc == FY_OK && j < n && set[i] == NULL; j++)
			if (strcmp(names[j], want) == 0)
				set[i] = paths[j];
		if (rc == FY_OK && set[i] == NULL)
			rc = fy_err_set(err, FY_ENOTFOUND,
					"%s is missing: shard %d of %d of a split model", want,
					i + 1, count);
	}
	if (rc == FY_OK)
		rc = fy_gguf_open_set(out, set, (size_t)count, names[k], err);
	free(set);
	free(base);
	return rc;
}

static int model_gguf(const char *const *names, const char *const *paths, size_t n, size_t k,
		      struct totals *tot, struct fy_json *o, struct fy_err *err)
{
	struct fy_gguf *g = NULL;
	int rc = open_named_gguf(names, paths, n, k, &g, err);
	if (rc != FY_OK)
		return rc;
	if (fy_gguf_shard_count(g) > 1)
		fy_json_set(o, "shards", fy_json_integer((int64_t)fy_gguf_shard_count(g)));
	const struct fy_gguf_kv *a = fy_gguf_find_kv(g, "general.architecture");
	if (a != NULL && a->type == FY_GGUF_STRING) {
		char arch[64];
		snprintf(arch, sizeof(arch), "%.*s", (int)a->v.s.len, a->v.s.ptr);
		fy_json_set(o, "architecture", fy_json_string(arch));
		set_int_if(o, "layers", (int64_t)gguf_num(g, arch, "block_count", -1));
	}
	for (size_t i = 0; i < fy_gguf_tensor_count(g); i++) {
		const struct fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);
		totals_add(tot, t->name, t->type, t->n_elems, t->nbytes);
	}
	struct fy_json *moe = gguf_moe(g, tot);
	if (moe != NULL)
		fy_json_set(o, "moe", moe);
	struct fy_json *att = gguf_attention(g);
	if (att != NULL)
		fy_json_set(o, "attention", att);
	fy_gguf_free(g);
	return FY_OK;
}

int fy_inspect_model(const char *const *names, const char *const *paths, size_t n,
		     struct fy_json **out, struct fy_err *err)
{
	size_t cfg = n, gguf = n;
	int rc = FY_OK;
	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "config.json") == 0)
			cfg = i;
		else if (gguf == n && fy_ends_with_ci(names[i], ".gguf"))
			gguf = i;
	}
	if (cfg == n && gguf == n)
		return FY_OK;
	struct totals *tot = calloc(1, sizeof(*tot));
	struct fy_json *o = fy_json_object();
	if (tot == NULL || o == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	if (cfg < n)
		FY_TRY(rc, model_hf(names, paths, n, cfg, tot, o, err));
	else
		FY_TRY(rc, model_gguf(names, paths, n, gguf, tot, o, err));
	struct fy_json *t = totals_json(tot);
	fy_json_set(o, "parameters", fy_json_copy(fy_json_get(t, "parameters")));
	if (fy_json_get(t, "active_parameters") != NULL)
		fy_json_set(o, "active_parameters",
			    fy_json_copy(fy_json_get(t, "active_parameters")));
	fy_json_free(t);
	*out = o;
	o = NULL;
out:
	fy_json_free(o);
	free(tot);
	return rc;
}
