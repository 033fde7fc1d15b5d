/* ferry show REPO[@REV] [--json] */
#include "cli/cli.h"
#include "cli/inspect.h"
#include "mirror/mirror.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sig_names[] = { "valid", "untrusted key", "invalid", "duplicate" };

static void add_sig(void *ctx, enum fy_sig_status st, const char *keyid)
{
	struct fy_json *o = fy_json_object();

	fy_json_set(o, "keyid", fy_json_string(keyid));
	fy_json_set(o, "status", fy_json_string(sig_names[st]));
	fy_json_push(ctx, o);
}

static struct fy_json *refs_at(struct fy_store *s, const char *repo, const char *id)
{
	struct fy_json *a = fy_json_array();
	char **refs = NULL;
	size_t n = 0;
	size_t i;
	char at[FY_REV_ID_LEN + 1];
	struct fy_err err;

	if (fy_store_list_refs(s, repo, &refs, &n, &err) == FY_OK) {
		for (i = 0; i < n; i++) {
			if (fy_store_read_ref(s, repo, refs[i], at, &err) == FY_OK &&
			    strcmp(at, id) == 0)
				fy_json_push(a, fy_json_string(refs[i]));
		}
	}
	fy_names_free(refs, n);
	return a;
}

static void note_pickle(void *ctx, enum fy_finding kind, const char *file, const char *msg)
{
	(void)kind;
	(void)file;
	fy_json_set(ctx, "pickle", fy_json_string(msg));
}

/* Pickle files get what their imports would be (scanned from the object, never run). */
static void flag_pickles(struct fy_store *s, const struct fy_revision *r, struct fy_json *files)
{
	struct fy_err err;
	size_t i;

	for (i = 0; i < r->n_files && i < fy_json_size(files); i++) {
		if (fy_is_pickle_name(r->files[i].path))
			fy_validate_file(r->files[i].path,
					 fy_store_object_path(s, r->files[i].sha256), 0,
					 note_pickle, fy_json_at(files, i), &err);
	}
}

/* The model the revision holds (architecture, parameters, a mixture's experts and routing),
 * read from its objects; null when no file describes one, {error} when one does not parse. */
static int add_model(struct fy_store *s, const struct fy_revision *r, struct fy_json *doc,
		     struct fy_err *err)
{
	const char **names = calloc(r->n_files + 1, sizeof(*names));
	char **paths = calloc(r->n_files + 1, sizeof(*paths));
	struct fy_json *model = NULL;
	int rc = FY_OK;
	if (names == NULL || paths == NULL) {
		rc = fy_err_set(err, FY_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n_files; i++) {
		names[i] = r->files[i].path;
		paths[i] = strdup(fy_store_object_path(s, r->files[i].sha256));
		if (paths[i] == NULL) {
			rc = fy_err_set(err, FY_ENOMEM, "out of memory");
			goto out;
		}
	}
	/* a file that does not parse is reported, not fatal: show describes any revision */
	struct fy_err why;
	if (fy_inspect_model(names, (const char *const *)paths, r->n_files, &model, &why) !=
	    FY_OK) {
		model = fy_json_object();
		fy_json_set(model, "error", fy_json_string(why.msg));
	}
	fy_json_set(doc, "model", model != NULL ? model : fy_json_null());
out:
	for (size_t i = 0; paths != NULL && i < r->n_files; i++)
		free(paths[i]);
	free(paths);
	free(names);
	return rc;
}

static int describe(struct fy_store *s, const char *repo, const char *id, struct fy_json **out,
		    struct fy_err *err)
{
	struct fy_revision *r = NULL;
	struct fy_json *doc = NULL;
	struct fy_json *sigs = fy_json_array();
	struct fy_buf b;
	size_t n_sigs = 0;
	int rc;

	fy_buf_init(&b);
	FY_TRY(rc, fy_revision_load(s, repo, id, &r, err));
	FY_TRY(rc, fy_revision_bytes(s, repo, id, &b, err));
	FY_TRY(rc, fy_json_parse(&doc, b.data, b.len, id, err));
	rc = fy_store_check_signatures(s, repo, id, add_sig, sigs, &n_sigs, err);
	if (rc != FY_OK && rc != FY_EHASH)
		goto out;
	flag_pickles(s, r, fy_json_get(doc, "files"));
	fy_json_set(doc, "refs", refs_at(s, repo, id));
	fy_json_set(doc, "size", fy_json_integer((int64_t)r->total_size));
	fy_json_set(doc, "signatures", sigs);
	sigs = NULL;
	struct fy_json *smoke = NULL;
	rc = fy_store_record_read(s, repo, id, "smoke", &smoke, err);
	if (rc != FY_OK && rc != FY_ENOTFOUND)
		goto out;
	fy_json_set(doc, "smoke", smoke != NULL ? smoke : fy_json_null());
	FY_TRY(rc, add_model(s, r, doc, err));
	*out = doc;
	doc = NULL;
	rc = FY_OK;
out:
	fy_json_free(sigs);
	fy_json_free(doc);
	fy_revision_free(r);
	fy_buf_release(&b);
	return rc;
}

static const char *str(const struct fy_json *o, const char *key)
{
	const char *s = fy_json_str(fy_json_get(o, key));

	return s ? s : "";
}

static void print_files(const struct fy_json *files)
{
	char size[32];
	size_t i;
	int64_t n;

	for (i = 0; i < fy_json_size(files); i++) {
		const struct fy_json *f = fy_json_at(files, i);

		n = 0;
		fy_json_int(fy_json_get(f, "size"), &n);
		printf("  %10s %s sha256:%.16s git:%.12s  %s\n",
		       fy_fmt_bytes(size, sizeof(size), (uint64_t)n),
		       fy_json_type(fy_json_get(f, "lfs")) == FY_JSON_TRUE ? "lfs" : "   ",
		       str(f, "sha256"), str(f, "git_oid"), str(f, "path"));
		if (fy_json_get(f, "pickle") != NULL)
			printf("             warning: %s\n", str(f, "pickle"));
	}
}

static void print_model(const struct fy_json *m)
{
	char a[32], b[32];
	int64_t n = 0, layers = 0;
	if (fy_json_type(m) != FY_JSON_OBJECT)
		return;
	if (fy_json_get(m, "error") != NULL) {
		printf("model    unreadable: %s\n", str(m, "error"));
		return;
	}
	fy_json_int(fy_json_get(m, "parameters"), &n);
	fy_json_int(fy_json_get(m, "layers"), &layers);
	printf("model    %s, %lld layers, %s parameters", str(m, "architecture"), (long long)layers,
	       fy_fmt_params(a, sizeof(a), (uint64_t)n));
	const struct fy_json *moe = fy_json_get(m, "moe");
	if (fy_json_int(fy_json_get(m, "active_parameters"), &n))
		printf(" (%s active per token)", fy_fmt_params(b, sizeof(b), (uint64_t)n));
	if (fy_json_int(fy_json_get(m, "shards"), &n))
		printf(", split in %lld files", (long long)n);
	printf("\n");
	if (fy_json_get(m, "attention") != NULL)
		printf("attention %s\n", str(fy_json_get(m, "attention"), "text"));
	if (moe != NULL)
		printf("experts  %s\n", str(moe, "routing"));
}

static void print_doc(const struct fy_json *d)
{
	const struct fy_json *origin = fy_json_get(d, "origin");
	const struct fy_json *refs = fy_json_get(d, "refs");
	const struct fy_json *sigs = fy_json_get(d, "signatures");
	char *o = origin ? fy_json_dump(origin, 0) : NULL;
	char size[32];
	int64_t n = 0;
	size_t i;

	fy_json_int(fy_json_get(d, "size"), &n);
	printf("revision %s\n", str(d, "id"));
	printf("repo     %s\n", str(d, "repo"));
	printf("parent   %s\n",
	       fy_json_str(fy_json_get(d, "parent")) ? str(d, "parent") : "(none)");
	printf("tree     %s\n", str(d, "tree"));
	printf("created  %s\n", str(d, "created"));
	printf("refs     ");
	for (i = 0; i < fy_json_size(refs); i++)
		printf("%s%s", i ? ", " : "", fy_json_str(fy_json_at(refs, i)));
	printf("%s\norigin   %s\n", fy_json_size(refs) ? "" : "(none)", o ? o : "(none)");
	printf("signed   ");
	for (i = 0; i < fy_json_size(sigs); i++)
		printf("%s%s (%s)", i ? ", " : "", str(fy_json_at(sigs, i), "keyid"),
		       str(fy_json_at(sigs, i), "status"));
	printf("%s\n", fy_json_size(sigs) ? "" : "no");
	const struct fy_json *sm = fy_json_get(d, "smoke");
	double kl = 0, ratio = 0, top1 = 0;
	if (fy_json_type(sm) == FY_JSON_OBJECT) {
		fy_json_num(fy_json_get(sm, "kl_mean"), &kl);
		fy_json_num(fy_json_get(sm, "ppl_ratio"), &ratio);
		fy_json_num(fy_json_get(sm, "top1"), &top1);
		printf("smoke    %s against %s: KL %.6f, perplexity ratio %.4f, top-1 %.2f%% "
		       "(%s)\n",
		       fy_json_type(fy_json_get(sm, "pass")) == FY_JSON_TRUE ? "pass" : "FAIL",
		       str(fy_json_get(sm, "reference"), "artifact"), kl, ratio, 100 * top1,
		       str(sm, "time"));
	} else {
		printf("smoke    never run\n");
	}
	print_model(fy_json_get(d, "model"));
	printf("\n    %s\n\n", str(d, "message"));
	printf("files    %zu, %s\n", fy_json_size(fy_json_get(d, "files")),
	       fy_fmt_bytes(size, sizeof(size), (uint64_t)n));
	print_files(fy_json_get(d, "files"));
	free(o);
}

int cmd_show(struct fy_cli *cli, int argc, char **argv)
{
	static const struct fy_usage usage = {
		"ferry show REPO[@REV] [--json]",
		"One revision in detail: id, parent, tree, creation time, message, origin, the\n"
		"refs that point at it, its signatures (valid, untrusted key, invalid), and every\n"
		"file with size, SHA-256, git blob id and LFS flag, and the last smoke result\n"
		"(ferry smoke). Pickle files are flagged with\n"
		"the imports loading them would perform (scanned, never executed).",
		NULL,
	};
	struct fy_store *s = NULL;
	struct fy_json *doc = NULL;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *rev = NULL;
	struct fy_err err;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 1, repo, &rev, &s);
	if (r < 0 && (fy_store_resolve(s, repo, rev, id, &err) != FY_OK ||
		      describe(s, repo, id, &doc, &err) != FY_OK))
		r = fy_cli_fail(cli, &err);
	if (r < 0 && cli->json) {
		r = fy_cli_print_json(cli, doc);
		doc = NULL;
	} else if (r < 0) {
		if (!cli->quiet)
			print_doc(doc);
		r = FY_EXIT_OK;
	}
	fy_json_free(doc);
	fy_store_close(s);
	return r;
}
