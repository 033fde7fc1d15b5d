/* ferry quant SRC --type TYPE [-o OUT] [options]: re-quantize a GGUF model (llama.cpp's mixtures)
 */
#include "cli/cli.h"
#include "convert/convert.h"
#include "cli/quant.h"
#include "verify/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

static const char *reason_text(enum fy_quant_reason r)
{
	switch (r) {
	case FY_QREASON_COPY:
		return "copied";
	case FY_QREASON_BASE:
		return "base";
	case FY_QREASON_RULE:
		return "mixture rule";
	case FY_QREASON_OVERRIDE:
		return "override";
	case FY_QREASON_FALLBACK:
		return "fallback";
	}
	return "?";
}

struct quant_run {
	struct fy_cli *cli;
	struct fy_json *tensors; /* --json: one object per tensor */
	uint64_t done, total;
	size_t fallback_count[FY_DTYPE_COUNT][FY_DTYPE_COUNT];
};

static void shape_text(const struct fy_gguf_tensor *t, char *buf, size_t cap)
{
	size_t at = 0;
	buf[0] = '\0';
	for (int d = 0; d < t->n_dims && at < cap; d++)
		at += (size_t)snprintf(buf + at, cap - at, d ? " x %" PRId64 : "%" PRId64,
				       t->ne[d]);
}

static void on_tensor(void *ctx, size_t index, size_t n, const struct fy_gguf_tensor *t,
		      const struct fy_quant_choice *c)
{
	struct quant_run *q = ctx;
	char shape[96];
	if (c->reason == FY_QREASON_FALLBACK)
		q->fallback_count[c->wanted][c->type]++;
	if (q->tensors != NULL) {
		struct fy_json *o = fy_json_object();
		fy_json_set(o, "name", fy_json_string(t->name));
		fy_json_set(o, "from", fy_json_string(fy_dtype_name(t->type)));
		fy_json_set(o, "to", fy_json_string(fy_dtype_name(c->type)));
		fy_json_set(o, "reason", fy_json_string(reason_text(c->reason)));
		if (c->reason == FY_QREASON_FALLBACK)
			fy_json_set(o, "wanted", fy_json_string(fy_dtype_name(c->wanted)));
		fy_json_push(q->tensors, o);
	} else if (q->cli->verbose > 0) {
		shape_text(t, shape, sizeof(shape));
		fprintf(stderr, "[%4zu/%zu] %-32s %-16s %-6s -> %-6s %s", index + 1, n, t->name,
			shape, fy_dtype_name(t->type), fy_dtype_name(c->type),
			reason_text(c->reason));
		if (c->reason == FY_QREASON_FALLBACK)
			fprintf(stderr, " (%s does not divide a row of %" PRId64 ")",
				fy_dtype_name(c->wanted), t->ne[0]);
		fprintf(stderr, "\n");
	}
	q->done += t->nbytes;
	if (q->tensors == NULL && q->cli->verbose == 0)
		fy_cli_progress(q->cli, q->done, q->total, t->name);
}

/* One line per kind of fallback, as llama.cpp reports them (it aborts on the legacy ones). */
static void report_fallbacks(const struct quant_run *q)
{
	for (int a = 0; a < FY_DTYPE_COUNT; a++) {
		for (int b = 0; b < FY_DTYPE_COUNT; b++) {
			if (q->fallback_count[a][b] == 0)
				continue;
			fprintf(stderr,
				"ferry quant: %zu tensor(s) wanted %s but their rows do not divide "
				"its "
				"block: written as %s\n",
				q->fallback_count[a][b], fy_dtype_name(a), fy_dtype_name(b));
		}
	}
}

/* "<dir>/<stem>-<TYPE>.gguf" next to the input, a trailing type suffix of the stem replaced.
 * False if it does not fit. */
static bool default_output(const char *in, const char *type, char *out, size_t cap)
{
	static const char *const suffixes[] = { "-f32", "-f16", "-bf16", "-q8_0", ".f32", ".f16" };
	char stem[4096];
	snprintf(stem, sizeof(stem), "%s", in);
	size_t n = strlen(stem);
	size_t prefix = 0;
	int k = 0, c = 0;
	if (fy_gguf_split_name(stem, &prefix, &k, &c)) /* a shard: the set's name */
		stem[n = prefix] = '\0';
	if (n > 5 && strcasecmp(stem + n - 5, ".gguf") == 0)
		stem[n -= 5] = '\0';
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		const size_t m = strlen(suffixes[i]);
		if (n > m && strcasecmp(stem + n - m, suffixes[i]) == 0) {
			stem[n - m] = '\0';
			break;
		}
	}
	const int w = snprintf(out, cap, "%s-%s.gguf", stem, type);
	return w > 0 && (size_t)w < cap;
}

static int parse_type_opt(struct fy_cli *cli, const char *opt, const char *val, int *out)
{
	enum fy_dtype t;
	*out = -1;
	if (val == NULL)
		return -1;
	if (!fy_quant_type_from_name(val, &t))
		return fy_cli_usage_error(cli, "%s: unknown type '%s' (one of %s)", opt, val,
					  fy_quant_writable_names());
	*out = (int)t;
	return -1;
}

/* Whether path names a shard of a split set of more than one file. */
static bool split_input(const char *path)
{
	size_t prefix = 0;
	int k = 0, n = 0;
	return fy_gguf_split_name(path, &prefix, &k, &n) && n > 1;
}

/* " OPT VALUE" for each value of a repeated option, appended at buf + at; the new end. */
static size_t list_text(char *buf, size_t cap, size_t at, const char *opt,
			const struct fy_opt_list *l)
{
	for (size_t i = 0; i < l->n && at < cap; i++)
		at += (size_t)snprintf(buf + at, cap - at, " %s %s", opt, l->v[i]);
	return at;
}

/* ferry.quant.options: the options that shaped the output, for provenance. */
static void options_text(const struct fy_quant_cli *o, char *buf, size_t cap)
{
	size_t at = (size_t)snprintf(buf, cap, "--type %s", fy_ftype_name(o->req.params.ftype));
	if (o->req.params.pure && at < cap)
		at += (size_t)snprintf(buf + at, cap - at, " --pure");
	if (o->req.params.leave_output && at < cap)
		at += (size_t)snprintf(buf + at, cap - at, " --leave-output-tensor");
	if (o->output_type != NULL && at < cap)
		at += (size_t)snprintf(buf + at, cap - at, " --output-tensor-type %s",
				       o->output_type);
	if (o->token_type != NULL && at < cap)
		at += (size_t)snprintf(buf + at, cap - at, " --token-embedding-type %s",
				       o->token_type);
	at = list_text(buf, cap, at, "--tensor-type", &o->tensor_types);
	if (o->tensor_type_file != NULL && at < cap) {
		const char *base = strrchr(o->tensor_type_file, '/');
		at += (size_t)snprintf(buf + at, cap - at, " --tensor-type-file %s",
				       base != NULL ? base + 1 : o->tensor_type_file);
	}
	if (o->imatrix_path != NULL && at < cap) {
		const char *base = strrchr(o->imatrix_path, '/');
		at += (size_t)snprintf(buf + at, cap - at, " --imatrix %s",
				       base != NULL ? base + 1 : o->imatrix_path);
	}
	at = list_text(buf, cap, at, "--include-weights", &o->include_weights);
	at = list_text(buf, cap, at, "--exclude-weights", &o->exclude_weights);
	at = list_text(buf, cap, at, "--override-kv", &o->override_kv);
	if (o->prune_layers != NULL && at < cap)
		at += (size_t)snprintf(buf + at, cap - at, " --prune-layers %s", o->prune_layers);
	if (o->req.keep_split && at < cap)
		at += (size_t)snprintf(buf + at, cap - at, " --keep-split");
	if (o->req.allow_requantize && at < cap)
		snprintf(buf + at, cap - at, " --allow-requantize");
}

/* --tensor-type-file FILE: more --tensor-type entries, separated by spaces or newlines (as
 * llama-quantize reads them), after those of the command line. */
static int read_tensor_type_file(struct fy_cli *cli, struct fy_quant_cli *o)
{
	struct fy_buf b;
	struct fy_err err;
	int r = -1;
	fy_buf_init(&b);
	if (fy_file_read(o->tensor_type_file, 1u << 20, &b, &err) != FY_OK ||
	    fy_buf_append(&b, "", 1, &err) != FY_OK) {
		fy_buf_release(&b);
		return fy_cli_fail(cli, &err);
	}
	char *save = NULL;
	for (char *w = strtok_r((char *)b.data, " \t\r\n", &save); w != NULL && r < 0;
	     w = strtok_r(NULL, " \t\r\n", &save)) {
		if (o->n_overrides == FY_OPT_LIST_MAX)
			r = fy_cli_usage_error(cli, "%s: more than %d tensor types in all",
					       o->tensor_type_file, FY_OPT_LIST_MAX);
		else if (fy_quant_override_new(&o->overrides[o->n_overrides], w, &err) != FY_OK)
			r = fy_cli_usage_error(cli, "%s: %s", o->tensor_type_file, err.msg);
		else
			o->n_overrides++;
	}
	fy_buf_release(&b);
	return r;
}

/* --prune-layers L0,L1,...: layer numbers, sorted and made distinct (as llama-quantize). */
static int parse_prune(struct fy_cli *cli, struct fy_quant_cli *o)
{
	const char *p = o->prune_layers;
	size_t n = 0;
	while (*p != '\0') {
		char *end;
		errno = 0;
		const long v = strtol(p, &end, 10);
		if (end == p || v < 0 || v > 1000000 || errno != 0 || (*end != ',' && *end != '\0'))
			return fy_cli_usage_error(cli,
						  "--prune-layers '%s': layer numbers (0 or more) "
						  "separated by commas",
						  o->prune_layers);
		if (n == sizeof(o->prune) / sizeof(o->prune[0]))
			return fy_cli_usage_error(cli, "--prune-layers: more than %zu layers", n);
		size_t at = n++;
		while (at > 0 && o->prune[at - 1] > (int)v) { /* insertion: kept sorted */
			o->prune[at] = o->prune[at - 1];
			at--;
		}
		o->prune[at] = (int)v;
		p = *end == ',' ? end + 1 : end;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (m == 0 || o->prune[m - 1] != o->prune[i])
			o->prune[m++] = o->prune[i];
	if (m == 0)
		return fy_cli_usage_error(cli, "--prune-layers: no layer named");
	o->req.prune = o->prune;
	o->req.n_prune = m;
	return -1;
}

void fy_quant_cli_release(struct fy_quant_cli *o)
{
	for (size_t i = 0; i < o->n_overrides; i++)
		fy_quant_override_free(o->overrides[i]);
	o->n_overrides = 0;
	fy_imatrix_free(o->imatrix);
	o->imatrix = NULL;
}

int fy_quant_cli_prepare(struct fy_cli *cli, struct fy_quant_cli *o)
{
	struct fy_err err;
	int r = -1;
	if (o->type == NULL)
		return fy_cli_usage_error(cli, "--type is required (one of %s)", fy_ftype_names());
	if (!fy_ftype_from_name(o->type, &o->req.params.ftype))
		return fy_cli_usage_error(cli, "--type: unknown type '%s' (one of %s)", o->type,
					  fy_ftype_names());
	r = parse_type_opt(cli, "--output-tensor-type", o->output_type, &o->req.params.output_type);
	if (r < 0)
		r = parse_type_opt(cli, "--token-embedding-type", o->token_type,
				   &o->req.params.token_embd_type);
	for (size_t i = 0; r < 0 && i < o->tensor_types.n; i++) {
		if (fy_quant_override_new(&o->overrides[i], o->tensor_types.v[i], &err) != FY_OK)
			return fy_cli_usage_error(cli, "%s", err.msg);
		o->n_overrides = i + 1;
	}
	if (r < 0 && o->tensor_type_file != NULL)
		r = read_tensor_type_file(cli, o);
	if (r < 0)
		r = fy_cli_split_opts(cli, o->split_max_size, o->split_max_tensors, &o->req.split);
	for (size_t i = 0; r < 0 && i < o->override_kv.n; i++) {
		if (fy_gguf_kv_override_parse(o->override_kv.v[i], &o->kv[i], &err) != FY_OK)
			return fy_cli_usage_error(cli, "%s", err.msg);
		o->req.kv_overrides = o->kv;
		o->req.n_kv_overrides = i + 1;
	}
	if (r < 0 && o->prune_layers != NULL)
		r = parse_prune(cli, o);
	if (r < 0 && o->max_buffer_mib != -1 &&
	    (o->max_buffer_mib < 1 || o->max_buffer_mib > (1L << 30)))
		return fy_cli_usage_error(cli, "--max-buffer-size is a number of MiB, 1 or more");
	o->req.max_buffer = o->max_buffer_mib > 0 ? (size_t)o->max_buffer_mib << 20 : 0;
	if (r < 0 && o->req.keep_split &&
	    (o->req.split.max_bytes > 0 || o->req.split.max_tensors > 0))
		return fy_cli_usage_error(cli, "--keep-split and --split-max-* cannot be used "
					       "together");
	if (r < 0 && o->include_weights.n > 0 && o->exclude_weights.n > 0)
		return fy_cli_usage_error(cli, "--include-weights and --exclude-weights cannot be "
					       "used together");
	if (r < 0 && o->imatrix_path == NULL &&
	    (o->include_weights.n > 0 || o->exclude_weights.n > 0))
		return fy_cli_usage_error(cli, "--include-weights and --exclude-weights choose "
					       "entries of --imatrix, which is missing");
	if (r >= 0)
		return r;
	if (o->imatrix_path != NULL) {
		struct fy_digests d;
		if (fy_imatrix_load(&o->imatrix, o->imatrix_path, &err) != FY_OK ||
		    fy_hash_file(o->imatrix_path, FY_HASH_SHA256_ONLY, &d, &err) != FY_OK)
			return fy_cli_fail(cli, &err);
		fy_hex(d.sha256, FY_SHA256_LEN, o->imatrix_sha256);
		const bool keep = o->include_weights.n > 0;
		const struct fy_opt_list *names = keep ? &o->include_weights : &o->exclude_weights;
		if (names->n > 0 &&
		    fy_imatrix_filter(o->imatrix, names->v, names->n, keep, &err) != FY_OK)
			return fy_cli_fail(cli, &err);
	}
	if (o->imatrix != NULL && fy_imatrix_count(o->imatrix) > 0) {
		o->req.imatrix = o->imatrix;
		o->req.imatrix_file = o->imatrix_path;
		o->req.params.has_imatrix = true;
	} else if (fy_ftype_needs_imatrix(o->req.params.ftype)) {
		return fy_cli_usage_error(
			cli,
			"--type %s needs an importance matrix (--imatrix FILE; "
			"'ferry imatrix' computes one; --include/--exclude-weights "
			"may leave none)",
			fy_ftype_name(o->req.params.ftype));
	}
	if (o->threads < 0)
		return fy_cli_usage_error(cli, "-t: a thread count is 0 (one per CPU) or more");
	o->req.params.overrides = o->overrides;
	o->req.params.n_overrides = o->n_overrides;
	o->req.threads = (int)o->threads;
	options_text(o, o->options, sizeof(o->options));
	o->req.options = o->options;
	return -1;
}

/* The input's bytes and (with hash) its sha256 as hex, NUL-terminated: of each shard of a split
 * set, comma-separated, in shard order. */
static int source_digest(const char *in, bool hash, struct fy_buf *hex, uint64_t *bytes,
			 struct fy_err *err)
{
	struct fy_gguf *g = NULL;
	int rc;

	*bytes = 0;
	FY_TRY(rc, fy_gguf_open(&g, in, err));
	for (size_t k = 0; k < fy_gguf_shard_count(g); k++) {
		const struct fy_gguf *sh = fy_gguf_shard(g, k);
		struct fy_digests d;
		char h[2 * FY_SHA256_LEN + 1];
		*bytes += fy_gguf_file_size(sh);
		if (!hash)
			continue;
		FY_TRY(rc, fy_hash_file(fy_gguf_label(sh), FY_HASH_SHA256_ONLY, &d, err));
		fy_hex(d.sha256, FY_SHA256_LEN, h);
		if (k > 0)
			FY_TRY(rc, fy_buf_append(hex, ",", 1, err));
		FY_TRY(rc, fy_buf_append(hex, h, strlen(h), err));
	}
	rc = fy_buf_append(hex, "", 1, err);
out:
	fy_gguf_free(g);
	return rc;
}

int fy_quant_cli_run(struct fy_cli *cli, struct fy_quant_cli *o, const char *in, const char *out,
		     const char *label, struct fy_requant_report *rep)
{
	struct quant_run q = { .cli = cli };
	struct fy_err err;
	struct fy_buf hex;
	char a[32], b[32];
	double t0 = fy_now_s();
	int rc;

	fy_buf_init(&hex);
	if (source_digest(in, !o->req.plan_only, &hex, &q.total, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	if (!o->req.plan_only)
		o->req.source_sha256 = (const char *)hex.data;
	if (cli->json)
		q.tensors = fy_json_array();
	o->req.progress = on_tensor;
	o->req.ctx = &q;
	rc = fy_gguf_requant(in, out, &o->req, rep, &err);
	fy_cli_progress_done(cli);
	o->req.source_sha256 = NULL;
	fy_buf_release(&hex);
	if (rc != FY_OK) {
		fy_json_free(q.tensors);
		return fy_cli_fail(cli, &err);
	}
	if (q.tensors != NULL) {
		struct fy_json *j = fy_json_object();
		fy_json_set(j, "input", fy_json_string(in));
		if (!o->req.plan_only)
			fy_json_set(j, "output", fy_json_string(label));
		if (rep->n_shards > 1)
			fy_json_set(j, "shards", fy_json_integer((int64_t)rep->n_shards));
		fy_json_set(j, "type", fy_json_string(fy_ftype_name(o->req.params.ftype)));
		fy_json_set(j, "input_bytes", fy_json_integer((int64_t)rep->in_bytes));
		fy_json_set(j, "output_bytes", fy_json_integer((int64_t)rep->out_bytes));
		fy_json_set(j, "tensors", q.tensors);
		return fy_cli_print_json(cli, j);
	}
	report_fallbacks(&q);
	if (rep->n_no_imatrix > 0)
		fprintf(stderr,
			"ferry quant: %zu tensor(s) have no entry in the importance matrix: "
			"quantized "
			"without one\n",
			rep->n_no_imatrix);
	if (rep->n_requantized > 0)
		fprintf(stderr,
			"ferry quant: warning: %zu tensor(s) were already quantized; they were "
			"dequantized to F32 first, which loses quality: quantize from "
			"F16/BF16/F32\n",
			rep->n_requantized);
	if (!cli->quiet) {
		const double dt = fy_now_s() - t0;
		printf("%s%s: %s, %zu tensors (%zu converted, %zu copied), %s -> %s", label,
		       o->req.plan_only ? " (not written)" : "", fy_ftype_name(o->req.params.ftype),
		       rep->n_tensors, rep->n_converted, rep->n_copied,
		       fy_fmt_bytes(a, sizeof(a), rep->in_bytes),
		       fy_fmt_bytes(b, sizeof(b), rep->out_bytes));
		char first[4200];
		if (rep->n_shards > 1 && fy_gguf_split_path(first, sizeof(first), label, 0,
							    rep->n_shards, &err) == FY_OK)
			printf(", in %zu shards (%s ...)", rep->n_shards, first);
		if (!o->req.plan_only && dt > 0)
			printf(", %.1f s", dt);
		printf("\n");
	}
	return FY_EXIT_OK;
}

/* A file path rather than a repository: it exists, ends in .gguf, or starts with / or . */
static bool looks_like_path(const char *a)
{
	struct stat st;
	const size_t n = strlen(a);
	return stat(a, &st) == 0 || a[0] == '/' || a[0] == '.' ||
	       (n > 5 && strcasecmp(a + n - 5, ".gguf") == 0);
}

int cmd_quant(struct fy_cli *cli, int argc, char **argv)
{
	struct fy_quant_cli o = { .req = { .params = { .output_type = -1, .token_embd_type = -1 } },
				  .max_buffer_mib = -1 };
	const char *output = NULL;
	const char *file = NULL;
	const char *to = NULL;
	const struct fy_opt opts[] = {
		{ "type", 0, FY_OPT_STRING, &o.type, "TYPE",
		  "a llama-quantize file type: Q4_K_M, Q5_K_M, Q6_K, Q8_0, IQ4_XS, ... (see "
		  "docs/QUANT.md; ferry quant --help lists them)" },
		{ "output", 'o', FY_OPT_STRING, &output, "OUT",
		  "output file (file mode; default: SRC's name with -TYPE.gguf)" },
		{ "pure", 0, FY_OPT_FLAG, &o.req.params.pure, NULL,
		  "every quantizable tensor in the base type: no mixture rules" },
		{ "output-tensor-type", 0, FY_OPT_STRING, &o.output_type, "T",
		  "type of output.weight" },
		{ "token-embedding-type", 0, FY_OPT_STRING, &o.token_type, "T",
		  "type of token_embd.weight" },
		{ "leave-output-tensor", 0, FY_OPT_FLAG, &o.req.params.leave_output, NULL,
		  "keep output.weight as it is" },
		{ "tensor-type", 0, FY_OPT_LIST, &o.tensor_types, "RE=T",
		  "tensors whose name matches RE get type T (repeatable; first match wins)" },
		{ "tensor-type-file", 0, FY_OPT_STRING, &o.tensor_type_file, "FILE",
		  "more RE=T entries, separated by spaces or newlines" },
		{ "imatrix", 0, FY_OPT_STRING, &o.imatrix_path, "FILE",
		  "importance matrix (llama-imatrix's GGUF or .dat, or 'ferry imatrix')" },
		{ "split-max-size", 0, FY_OPT_STRING, &o.split_max_size, "N(M|G)",
		  "write shards of at most N megabytes/gigabytes of tensors (llama-gguf-split's "
		  "layout)" },
		{ "split-max-tensors", 0, FY_OPT_INT, &o.split_max_tensors, "N",
		  "write shards of at most N tensors" },
		{ "keep-split", 0, FY_OPT_FLAG, &o.req.keep_split, NULL,
		  "write the input's shards, each with its tensors (llama-quantize --keep-split)" },
		{ "max-buffer-size", 0, FY_OPT_INT, &o.max_buffer_mib, "MiB",
		  "at most this much of a tensor's rows in memory at once (llama-quantize's; "
		  "the output is the same)" },
		{ "allow-requantize", 0, FY_OPT_FLAG, &o.req.allow_requantize, NULL,
		  "convert tensors that are already quantized (dequantized first; refused "
		  "without it, as llama-quantize)" },
		{ "include-weights", 0, FY_OPT_LIST, &o.include_weights, "NAME",
		  "use the importance matrix only for tensors whose name contains NAME "
		  "(repeatable)" },
		{ "exclude-weights", 0, FY_OPT_LIST, &o.exclude_weights, "NAME",
		  "do not use it for tensors whose name contains NAME (repeatable)" },
		{ "override-kv", 0, FY_OPT_LIST, &o.override_kv, "KEY=TYPE:V",
		  "set metadata KEY in the output: int:, float:, bool: or str: (repeatable)" },
		{ "prune-layers", 0, FY_OPT_STRING, &o.prune_layers, "L0,L1,...",
		  "leave these layers out, renumber the rest (llama-quantize --prune-layers)" },
		{ "threads", 't', FY_OPT_INT, &o.threads, "N", "threads (default: one per CPU)" },
		{ "dry-run", 'n', FY_OPT_FLAG, &o.req.plan_only, NULL,
		  "print the plan (with -v or --json), write nothing" },
		{ "file", 0, FY_OPT_STRING, &file, "PATH",
		  "store mode: the GGUF file of the revision to quantize" },
		{ "to", 0, FY_OPT_STRING, &to, "REPO",
		  "store mode: the repository to add the file to (default NS/NAME-GGUF)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry quant FILE.gguf --type TYPE [-o OUT.gguf] [options]\n"
		"ferry quant REPO[@REV] --type TYPE [--file PATH] [--to REPO] [options]",
		"Re-quantizes a GGUF model (a split one is read whole, whichever shard is named)\n"
		"with llama.cpp v0.5.0's per-tensor rules for TYPE, one of llama-quantize's file\n"
		"types: Q1_0 Q2_0 Q4_0 Q4_1 MXFP4_MOE Q5_0 Q5_1 IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ1_S\n"
		"IQ1_M TQ1_0 TQ2_0 Q2_K Q2_K_S IQ3_XXS IQ3_S IQ3_M Q3_K IQ3_XS Q3_K_S Q3_K_M "
		"Q3_K_L\n"
		"IQ4_NL IQ4_XS Q4_K Q4_K_S Q4_K_M Q5_K Q5_K_S Q5_K_M Q6_K Q8_0 F16 BF16 F32 "
		"(IQ1_*,\n"
		"IQ2_*, Q2_K_S and IQ3_XXS need --imatrix).\n"
		"Quantized bytes are identical to llama-quantize's, with or without --imatrix,\n"
		"whatever -t is. Where a type does not divide a tensor's rows, llama.cpp's\n"
		"fallback type is used (Q4_K -> Q5_0, ...), then F16, and said. A tensor\n"
		"already quantized is converted only with --allow-requantize (dequantized first,\n"
		"with a warning), as llama-quantize. The output keeps the\n"
		"metadata, sets general.file_type and general.quantization_version = 2 (and\n"
		"llama-quantize's quantize.imatrix.* keys with --imatrix), and records\n"
		"ferry.version, ferry.source.sha256 and ferry.quant.options. --split-max-size or\n"
		"--split-max-tensors write NAME-0000K-of-0000N.gguf shards as llama-gguf-split\n"
		"--split would; --keep-split keeps the input's shards. --override-kv,\n"
		"--prune-layers and --include/--exclude-weights do what llama-quantize's do,\n"
		"to the same bytes.\n"
		"Store mode adds <name>-<TYPE>.gguf (or its shards) as a new revision of the "
		"-GGUF\n"
		"repository, its manifest recording the source revision and files and the\n"
		"importance matrix (lineage).",
		opts,
	};
	char out_path[4096];
	struct fy_requant_report rep;
	struct stat st;
	int npos = 0;
	int r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r < 0)
		r = fy_quant_cli_prepare(cli, &o);
	if (r >= 0)
		goto out;
	if (!looks_like_path(argv[0]) && (stat(argv[0], &st) != 0 || !S_ISREG(st.st_mode))) {
		r = fy_quant_store(cli, &o, argv[0], file, to);
		goto out;
	}
	if (file != NULL || to != NULL) {
		r = fy_cli_usage_error(cli, "--file and --to are for a store revision, not a file");
		goto out;
	}
	if (output == NULL) {
		if (!default_output(argv[0], fy_ftype_name(o.req.params.ftype), out_path,
				    sizeof(out_path))) {
			r = fy_cli_usage_error(cli, "'%s': path too long", argv[0]);
			goto out;
		}
	} else
		snprintf(out_path, sizeof(out_path), "%s", output);
	if (o.req.keep_split && !split_input(argv[0])) {
		/* one input file: llama-quantize --keep-split names its output as shard 1 of 1 */
		char one[4096];
		struct fy_err err;
		if (fy_gguf_split_path(one, sizeof(one), out_path, 0, 1, &err) != FY_OK) {
			r = fy_cli_fail(cli, &err);
			goto out;
		}
		snprintf(out_path, sizeof(out_path), "%s", one);
	}
	r = fy_quant_cli_run(cli, &o, argv[0], out_path, out_path, &rep);
out:
	fy_quant_cli_release(&o);
	return r;
}
