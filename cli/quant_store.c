/*
 * ferry quant REPO[@REV]: quantize a GGUF file of a store revision and add the result to the
 * -GGUF repository as a new revision whose manifest records the lineage.
 */
#include "cli/quant.h"
#include "mirror/mirror.h"
#include "verify/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* The GGUF file to quantize: --file, else the revision's only F32/F16/BF16 GGUF file. */
static int pick_source(struct fy_cli *cli, struct fy_store *s, const struct fy_revision *r,
		       const char *file, const struct fy_file_entry **out)
{
	const struct fy_file_entry *found = NULL;
	size_t n_float = 0;
	if (file != NULL) {
		*out = fy_revision_find(r, file);
		if (*out == NULL)
			fprintf(stderr, "ferry quant: %s@%.12s has no file '%s'\n", r->repo, r->id,
				file);
		return *out != NULL ? -1 : FY_EXIT_FAIL;
	}
	for (size_t i = 0; i < r->n_files; i++) {
		const struct fy_file_entry *e = &r->files[i];
		struct fy_gguf *g = NULL;
		struct fy_err err;
		if (!fy_ends_with_ci(e->path, ".gguf"))
			continue;
		if (fy_gguf_open(&g, fy_store_object_path(s, e->sha256), &err) != FY_OK)
			continue;
		const struct fy_gguf_kv *ft = fy_gguf_find_kv(g, "general.file_type");
		const uint64_t v = ft != NULL ? ft->v.u : 1;
		if (v == FY_FTYPE_F32 || v == FY_FTYPE_F16 || v == FY_FTYPE_BF16) {
			found = e;
			n_float++;
		}
		fy_gguf_free(g);
	}
	if (n_float != 1) {
		fprintf(stderr,
			"ferry quant: %s@%.12s has %s F32/F16/BF16 GGUF file: name the one to "
			"quantize with --file\n",
			r->repo, r->id, n_float == 0 ? "no" : "more than one");
		(void)cli;
		return FY_EXIT_FAIL;
	}
	*out = found;
	return -1;
}

static struct fy_json *lineage(const struct fy_revision *r, const struct fy_file_entry *src,
			       const struct fy_quant_cli *o)
{
	struct fy_json *params = fy_json_object();
	fy_json_set(params, "type", fy_json_string(fy_ftype_name(o->req.params.ftype)));
	fy_json_set(params, "options", fy_json_string(o->options));
	return fy_cli_lineage("quant", r, src, params);
}

static int quantize_into_store(struct fy_cli *cli, struct fy_store *s, struct fy_quant_cli *o,
			       const struct fy_revision *r, const struct fy_file_entry *src,
			       const char *to)
{
	char target[FY_REPO_MAX + 8];
	char name[FY_REPO_MAX + 32];
	char tmp[4200];
	char id[FY_REV_ID_LEN + 1];
	char msg[FY_REPO_MAX * 2 + 64];
	struct fy_requant_report rep;
	struct fy_err err;
	fy_cli_derived_names(r->repo, to, "-GGUF", fy_ftype_name(o->req.params.ftype), ".gguf",
			     target, sizeof(target), name, sizeof(name));
	if (fy_repo_check(target, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	/* the output is written under the store's tmp/, which the lock keeps from being cleared */
	if (fy_store_lock(s, fy_cli_lock_wait, cli, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	snprintf(tmp, sizeof(tmp), "%s",
		 fy_store_path(s, "tmp/quant-%ld-%s", (long)getpid(), name));
	int r_exit =
		fy_quant_cli_run(cli, o, fy_store_object_path(s, src->sha256), tmp, name, &rep);
	if (r_exit != FY_EXIT_OK || o->req.plan_only) {
		unlink(tmp);
		return r_exit;
	}
	snprintf(msg, sizeof(msg), "quant %s %s@%.12s:%s", fy_ftype_name(o->req.params.ftype),
		 r->repo, r->id, src->path);
	const struct fy_derive_opts d = { msg, lineage(r, src, o), fy_cli_lock_wait, cli, true };
	int rc = fy_store_add_file(s, target, name, tmp, &d, id, &err);
	unlink(tmp);
	if (rc != FY_OK)
		return fy_cli_fail(cli, &err);
	if (!cli->quiet)
		printf("%s@%s: added %s\n", target, id, name);
	return FY_EXIT_OK;
}

int fy_quant_store(struct fy_cli *cli, struct fy_quant_cli *o, const char *spec, const char *file,
		   const char *to)
{
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *rev = NULL;
	struct fy_store *s = NULL;
	struct fy_revision *r = NULL;
	const struct fy_file_entry *src = NULL;
	struct fy_err err;
	int x;

	if (strchr(spec, '/') == NULL) {
		fprintf(stderr, "ferry quant: '%s' is neither a file nor a repository (NS/NAME)\n",
			spec);
		return FY_EXIT_FAIL;
	}
	x = fy_cli_split_rev(cli, spec, repo, sizeof(repo), &rev);
	if (x < 0)
		x = fy_cli_open_store(cli, &s);
	if (x >= 0)
		goto out;
	if (fy_store_resolve(s, repo, rev, id, &err) != FY_OK ||
	    fy_revision_load(s, repo, id, &r, &err) != FY_OK) {
		x = fy_cli_fail(cli, &err);
		goto out;
	}
	x = pick_source(cli, s, r, file, &src);
	if (x < 0)
		x = quantize_into_store(cli, s, o, r, src, to);
out:
	fy_revision_free(r);
	fy_store_close(s);
	return x;
}
