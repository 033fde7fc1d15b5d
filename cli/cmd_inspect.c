/* ferry inspect FILE|DIR [--json] [--full]: what a model file holds, validated. */
#include "cli/cli.h"
#include "cli/inspect.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_STRING_SHOWN 80

static const char *get_s(const struct fy_json *o, const char *key)
{
	const char *s = fy_json_str(fy_json_get(o, key));

	return s ? s : "";
}

static uint64_t get_u(const struct fy_json *o, const char *key)
{
	int64_t v = 0;

	fy_json_int(fy_json_get(o, key), &v);
	return (uint64_t)v;
}

static void print_scalar(const struct fy_json *v)
{
	int64_t i;
	double d;

	switch (fy_json_type(v)) {
	case FY_JSON_STRING:
		fy_print_quoted(stdout, fy_json_str(v), fy_json_str_len(v), MAX_STRING_SHOWN);
		break;
	case FY_JSON_INTEGER:
		fy_json_int(v, &i);
		printf("%" PRId64, i);
		break;
	case FY_JSON_REAL:
		fy_json_num(v, &d);
		printf("%.9g", d);
		break;
	case FY_JSON_TRUE:
		printf("true");
		break;
	case FY_JSON_FALSE:
		printf("false");
		break;
	default:
		printf("null");
		break;
	}
}

static void print_kv(const char *key, const struct fy_json *kv)
{
	const struct fy_json *val = fy_json_get(kv, "value");
	uint64_t count;
	size_t i;

	printf("    %-40s ", key);
	if (strcmp(get_s(kv, "type"), "array") != 0) {
		print_scalar(val);
		printf("  (%s)\n", get_s(kv, "type"));
		return;
	}
	count = get_u(kv, "count");
	printf("[%s x %" PRIu64 "]", get_s(kv, "element_type"), count);
	for (i = 0; i < fy_json_size(val); i++) {
		printf(i ? ", " : " ");
		print_scalar(fy_json_at(val, i));
	}
	if (count > fy_json_size(val))
		printf(", ... (%" PRIu64 " more)", count - fy_json_size(val));
	printf("\n");
}

static void format_shape(const struct fy_json *shape, char *buf, size_t cap)
{
	size_t used = 0;
	size_t i;
	int64_t d;

	buf[0] = '\0';
	for (i = 0; i < fy_json_size(shape) && used < cap; i++) {
		fy_json_int(fy_json_at(shape, i), &d);
		used += (size_t)snprintf(buf + used, cap - used, "%s%" PRId64, i ? " x " : "", d);
	}
	if (fy_json_size(shape) == 0)
		snprintf(buf, cap, "scalar");
}

static void print_tensors(const struct fy_json *tensors, bool gguf)
{
	char shape[96];
	char bytes[32];
	size_t width = 4;
	size_t i;

	for (i = 0; i < fy_json_size(tensors); i++) {
		size_t n = strlen(get_s(fy_json_at(tensors, i), "name"));

		width = n > width ? n : width;
	}
	const bool split =
		fy_json_size(tensors) > 0 && fy_json_get(fy_json_at(tensors, 0), "shard") != NULL;
	printf("    %-*s  %-8s %-24s %s%14s %14s\n", (int)width, "NAME", "TYPE",
	       gguf ? "SHAPE (ne, fastest first)" : "SHAPE", split ? "SHARD " : "", "OFFSET",
	       "BYTES");
	for (i = 0; i < fy_json_size(tensors); i++) {
		const struct fy_json *t = fy_json_at(tensors, i);
		char shard[16] = "";

		if (split)
			snprintf(shard, sizeof(shard), "%5" PRIu64 " ", get_u(t, "shard"));
		format_shape(fy_json_get(t, "shape"), shape, sizeof(shape));
		printf("    %-*s  %-8s %-24s %s%14" PRIu64 " %14s\n", (int)width, get_s(t, "name"),
		       get_s(t, "type"), shape, shard, get_u(t, "offset"),
		       fy_fmt_count(bytes, sizeof(bytes), get_u(t, "bytes")));
	}
}

/* A split set's shards (offsets in the tensor table are within each tensor's shard). */
static void print_split(const struct fy_json *split)
{
	const struct fy_json *shards = fy_json_get(split, "shards");
	char a[32], b[32];

	if (split == NULL)
		return;
	printf("  split: %" PRIu64 " files, %s bytes (%s) in all\n", get_u(split, "count"),
	       fy_fmt_count(a, sizeof(a), get_u(split, "size")),
	       fy_fmt_bytes(b, sizeof(b), get_u(split, "size")));
	for (size_t i = 0; i < fy_json_size(shards); i++) {
		const struct fy_json *sh = fy_json_at(shards, i);
		printf("    %zu: %s, %s bytes, %" PRIu64 " tensors", i + 1, get_s(sh, "path"),
		       fy_fmt_count(a, sizeof(a), get_u(sh, "size")), get_u(sh, "tensors"));
		if (fy_json_get(sh, "trailing_bytes") != NULL)
			printf(", %" PRIu64 " trailing bytes ignored", get_u(sh, "trailing_bytes"));
		printf("\n");
	}
}

static void print_totals(const struct fy_json *tot, const char *indent)
{
	const struct fy_json *types = fy_json_get(tot, "types");
	char a[32], b[32], c[32], d[32], e[32];
	void *it;

	printf("%stotals: %s tensors, %s parameters (%s), %s bytes of tensor data (%s)\n", indent,
	       fy_fmt_count(a, sizeof(a), get_u(tot, "tensors")),
	       fy_fmt_count(b, sizeof(b), get_u(tot, "parameters")),
	       fy_fmt_params(c, sizeof(c), get_u(tot, "parameters")),
	       fy_fmt_count(d, sizeof(d), get_u(tot, "bytes")),
	       fy_fmt_bytes(e, sizeof(e), get_u(tot, "bytes")));
	if (fy_json_get(tot, "active_parameters") != NULL)
		printf("%s  active per token: %s parameters (%s)\n", indent,
		       fy_fmt_count(a, sizeof(a), get_u(tot, "active_parameters")),
		       fy_fmt_params(b, sizeof(b), get_u(tot, "active_parameters")));
	for (it = fy_json_iter(types); it != NULL; it = fy_json_next(types, it)) {
		const struct fy_json *row = fy_json_iter_value(it);

		printf("%s  %-8s %8s tensors %16s parameters %18s bytes\n", indent,
		       fy_json_iter_key(it), fy_fmt_count(a, sizeof(a), get_u(row, "tensors")),
		       fy_fmt_count(b, sizeof(b), get_u(row, "parameters")),
		       fy_fmt_count(c, sizeof(c), get_u(row, "bytes")));
	}
}

/* A mixture of experts: the count and the routing in words. */
static void print_moe(const struct fy_json *moe, const char *indent)
{
	if (moe == NULL)
		return;
	printf("%sexperts: %" PRIu64 ", %" PRIu64 " per token; routing: %s\n", indent,
	       get_u(moe, "experts"), get_u(moe, "experts_used"), get_s(moe, "routing"));
}

/* The attention in words. */
static void print_attention(const struct fy_json *att, const char *indent)
{
	if (att != NULL)
		printf("%sattention: %s\n", indent, get_s(att, "text"));
}

static void print_file(const struct fy_json *f)
{
	const struct fy_json *meta = fy_json_get(f, "metadata");
	const struct fy_json *tensors = fy_json_get(f, "tensors");
	bool gguf = strcmp(get_s(f, "format"), "gguf") == 0;
	char a[32], b[32], c[32], d[32];
	void *it;

	printf("%s\n", get_s(f, "path"));
	if (gguf)
		printf("  format: GGUF v%" PRIu64 "\n", get_u(f, "version"));
	else
		printf("  format: safetensors\n");
	printf("  size: %s bytes (%s); header %s bytes; data at offset %s",
	       fy_fmt_count(a, sizeof(a), get_u(f, "size")),
	       fy_fmt_bytes(b, sizeof(b), get_u(f, "size")),
	       fy_fmt_count(c, sizeof(c), get_u(f, "header_size")),
	       fy_fmt_count(d, sizeof(d), get_u(f, "data_offset")));
	if (gguf)
		printf("; alignment %" PRIu64, get_u(f, "alignment"));
	printf("\n");
	if (fy_json_get(f, "trailing_bytes") != NULL)
		printf("  trailing: %s bytes after the last tensor (ignored, as llama.cpp does)\n",
		       fy_fmt_count(a, sizeof(a), get_u(f, "trailing_bytes")));
	print_split(fy_json_get(f, "split"));
	printf("  metadata: %zu %s\n", fy_json_size(meta), gguf ? "keys" : "entries");
	for (it = fy_json_iter(meta); it != NULL; it = fy_json_next(meta, it)) {
		if (gguf) {
			print_kv(fy_json_iter_key(it), fy_json_iter_value(it));
		} else {
			printf("    %-40s ", fy_json_iter_key(it));
			print_scalar(fy_json_iter_value(it));
			printf("\n");
		}
	}
	printf("  tensors: %zu\n", fy_json_size(tensors));
	if (fy_json_size(tensors) > 0)
		print_tensors(tensors, gguf);
	print_attention(fy_json_get(f, "attention"), "  ");
	print_moe(fy_json_get(f, "moe"), "  ");
	if (fy_json_get(f, "totals") != NULL)
		print_totals(fy_json_get(f, "totals"), "  ");
}

static void print_config(const struct fy_json *cfg)
{
	void *it;

	printf("  config.json:\n");
	for (it = fy_json_iter(cfg); it != NULL; it = fy_json_next(cfg, it)) {
		printf("    %-26s ", fy_json_iter_key(it));
		print_scalar(fy_json_iter_value(it));
		printf("\n");
	}
}

static void print_dir(const struct fy_json *d)
{
	const struct fy_json *files = fy_json_get(d, "files");
	const struct fy_json *index = fy_json_get(d, "index");
	const struct fy_json *tot = fy_json_get(d, "totals");
	char a[32];
	size_t i;

	printf("%s: directory\n", get_s(d, "path"));
	if (fy_json_get(d, "config") != NULL)
		print_config(fy_json_get(d, "config"));
	print_attention(fy_json_get(d, "attention"), "  ");
	print_moe(fy_json_get(d, "moe"), "  ");
	if (index != NULL) {
		printf("  index: %s, total_size %s bytes", get_s(index, "file"),
		       fy_fmt_count(a, sizeof(a), get_u(index, "total_size")));
		if (get_u(index, "total_size") != get_u(tot, "bytes"))
			printf(" (tensor data is %s bytes)",
			       fy_fmt_count(a, sizeof(a), get_u(tot, "bytes")));
		printf("\n");
	}
	printf("  files: %zu\n", fy_json_size(files));
	for (i = 0; i < fy_json_size(files); i++) {
		printf("\n");
		print_file(fy_json_at(files, i));
	}
	printf("\n");
	print_totals(tot, "");
}

int cmd_inspect(struct fy_cli *cli, int argc, char **argv)
{
	bool full = false;
	const struct fy_opt opts[] = {
		{ "full", 0, FY_OPT_FLAG, &full, NULL,
		  "show long metadata arrays in full (default: the first 8 elements)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry inspect FILE|DIR [--json] [--full]",
		"Detects the format from the content (GGUF or safetensors) and validates every\n"
		"header rule before printing the header facts, the metadata, the tensor table\n"
		"and totals (parameters, bytes, a histogram by type). On a directory holding a\n"
		"Hugging Face checkpoint it also summarises config.json and checks the shard\n"
		"index against the shards. Exit status: 0 valid, 1 invalid (one line on stderr\n"
		"naming the file and the problem), 2 usage error. With -q nothing is printed:\n"
		"the exit status alone tells whether the file is valid.",
		opts,
	};
	struct fy_json *doc = NULL;
	struct fy_err err;
	struct stat st;
	int npos = 0;
	int r;
	int rc;

	r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r >= 0)
		return r;
	fy_err_clear(&err);
	if (stat(argv[0], &st) != 0) {
		fy_err_sys(&err, FY_EIO, "cannot open '%s'", argv[0]);
		return fy_cli_fail(cli, &err);
	}
	if (S_ISDIR(st.st_mode))
		rc = fy_inspect_dir(argv[0], full, &doc, &err);
	else
		rc = fy_inspect_file(argv[0], full, &doc, &err);
	if (rc != FY_OK)
		return fy_cli_fail(cli, &err);
	if (cli->json)
		return fy_cli_print_json(cli, doc);
	if (!cli->quiet) {
		if (S_ISDIR(st.st_mode))
			print_dir(doc);
		else
			print_file(doc);
	}
	fy_json_free(doc);
	return FY_EXIT_OK;
}
