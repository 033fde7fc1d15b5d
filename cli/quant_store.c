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
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* The GGUF model to quantize: --file (any file of it, for a split model), else the revision's
 * only F32/F16/BF16 model. */
static int pick_source(struct fy_cli *cli, struct fy_store *s, const struct fy_revision *r,
		       const char *file, const struct fy_gguf_model *models, size_t n_models,
		       const struct fy_gguf_model **out)
{
	const struct fy_gguf_model *found = NULL;
	struct fy_err err;
	size_t n_float = 0;
	if (file != NULL) {
		*out = fy_gguf_model_of(models, n_models, file);
		if (*out == NULL)
			fprintf(stderr, "ferry quant: %s@%.12s has no file '%s'\n", r->repo, r->id,
				file);
		else if (fy_gguf_model_check(r, *out, &err) != FY_OK)
			return fy_cli_fail(cli, &err);
		return *out != NULL ? -1 : FY_EXIT_FAIL;
	}
	for (size_t i = 0; i < n_models; i++) {
		struct fy_gguf *g = NULL;
		if (fy_store_gguf_open(s, r, &models[i], &g, &err) != FY_OK)
			continue;
		const struct fy_gguf_kv *ft = fy_gguf_find_kv(g, "general.file_type");
		const uint64_t v = ft != NULL ? ft->v.u : 1;
		if (v == FY_FTYPE_F32 || v == FY_FTYPE_F16 || v == FY_FTYPE_BF16) {
			found = &models[i];
			n_float++;
		}
		fy_gguf_free(g);
	}
	if (n_float != 1) {
		fprintf(stderr,
			"ferry quant: %s@%.12s has %s F32/F16/BF16 GGUF model: name the one to "
			"quantize with --file\n",
			r->repo, r->id, n_float == 0 ? "no" : "more than one");
		return FY_EXIT_FAIL;
	}
	*out = found;
	return -1;
}

/* A failed or dry run's output: the file, or the shards of a split written so far. */
static void remove_outputs(const char *tmp, size_t n_shards)
{
	char shard[4300];
	struct fy_err err;
	unlink(tmp);
	for (size_t k = 0; k < n_shards; k++)
		if (fy_gguf_split_path(shard, sizeof(shard), tmp, k, n_shards, &err) == FY_OK)
			unlink(shard);
}

/* The source: its (first) file, and every shard of a split model. */
static struct fy_json *lineage(const struct fy_revision *r, const struct fy_gguf_model *m,
			       const struct fy_quant_cli *o)
{
	struct fy_json *params = fy_json_object();
	fy_json_set(params, "type", fy_json_string(fy_ftype_name(o->req.params.ftype)));
	fy_json_set(params, "options", fy_json_string(o->options));
	if (o->imatrix_path != NULL) {
		struct fy_json *im = fy_json_object();
		const char *base = strrchr(o->imatrix_path, '/');
		fy_json_set(im, "file", fy_json_string(base != NULL ? base + 1 : o->imatrix_path));
		fy_json_set(im, "sha256", fy_json_string(o->imatrix_sha256));
		fy_json_set(params, "imatrix", im);
	}
	struct fy_json *origin = fy_cli_lineage("quant", r, m->first, params);
	if (m->shards != NULL) {
		struct fy_json *shards = fy_json_array();
		char hex[2 * FY_SHA256_LEN + 1];
		for (size_t k = 0; k < m->n; k++) {
			struct fy_json *f = fy_json_object();
			fy_hex(m->shards[k]->sha256, FY_SHA256_LEN, hex);
			fy_json_set(f, "path", fy_json_string(m->shards[k]->path));
			fy_json_set(f, "sha256", fy_json_string(hex));
			fy_json_push(shards, f);
		}
		fy_json_set(fy_json_at(fy_json_get(origin, "sources"), 0), "shards", shards);
	}
	return origin;
}

static int quantize_into_store(struct fy_cli *cli, struct fy_store *s, struct fy_quant_cli *o,
			       const struct fy_revision *r, const struct fy_gguf_model *m,
			       const char *to)
{
	const struct fy_file_entry *src = m->first;
	char in[8400];
	char links[4200];
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
	/* the input: the object, or a split model's shards linked under their names */
	snprintf(links, sizeof(links), "%s", fy_store_path(s, "tmp/quant-%ld-in", (long)getpid()));
	if (m->shards == NULL) {
		snprintf(in, sizeof(in), "%s", fy_store_object_path(s, src->sha256));
	} else if ((mkdir(links, 0700) != 0 && errno != EEXIST) ||
		   fy_store_gguf_link(s, r, m, links, in, sizeof(in), &err) != FY_OK) {
		if (err.code == FY_OK)
			fy_err_sys(&err, FY_EIO, "cannot create '%s'", links);
		fy_dir_remove(links);
		return fy_cli_fail(cli, &err);
	}
	int r_exit = fy_quant_cli_run(cli, o, in, tmp, name, &rep);
	fy_dir_remove(links);
	if (r_exit != FY_EXIT_OK || o->req.plan_only) {
		remove_outputs(tmp, rep.n_shards);
		return r_exit;
	}
	snprintf(msg, sizeof(msg), "quant %s %s@%.12s:%s", fy_ftype_name(o->req.params.ftype),
		 r->repo, r->id, src->path);
	const struct fy_derive_opts d = {
		msg, lineage(r, m, o), fy_cli_lock_wait, cli, true, NULL
	};
	int rc = fy_store_add_gguf(s, target, name, tmp, rep.n_shards, &d, id, &err);
	if (rc != FY_OK)
		return fy_cli_fail(cli, &err);
	if (!cli->quiet && rep.n_shards > 1)
		printf("%s@%s: added %s in %zu shards\n", target, id, name, rep.n_shards);
	else if (!cli->quiet)
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
	const struct fy_gguf_model *src = NULL;
	struct fy_gguf_model *models = NULL;
	size_t n_models = 0;
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
	if (fy_revision_gguf_models(r, &models, &n_models, &err) != FY_OK) {
		x = fy_cli_fail(cli, &err);
		goto out;
	}
	x = pick_source(cli, s, r, file, models, n_models, &src);
	if (x < 0)
		x = quantize_into_store(cli, s, o, r, src, to);
out:
	fy_gguf_models_free(models, n_models);
	fy_revision_free(r);
	fy_store_close(s);
	return x;
}
