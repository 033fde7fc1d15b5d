/* Opening models for run, smoke and convert: a path, or a revision of the store. */
#include "cli/infer_util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

bool fy_cli_parse_real(const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	errno = 0;
	const double v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

struct fy_json *fy_cli_json_text(const struct fy_buf *b)
{
	struct fy_json *j = fy_json_stringn(b->len ? (const char *)b->data : "", b->len);
	if (j != NULL)
		return j;
	struct fy_buf c;
	fy_buf_init(&c);
	for (size_t i = 0; i < b->len;) {
		const size_t n = fy_utf8_len(b->data + i, b->len - i);
		if (n == 0) {
			fy_buf_append(&c, "\xef\xbf\xbd", 3, NULL);
			i++;
		} else {
			fy_buf_append(&c, b->data + i, n, NULL);
			i += n;
		}
	}
	j = fy_json_stringn(c.len ? (const char *)c.data : "", c.len);
	fy_buf_release(&c);
	return j;
}

static bool is_gguf(const char *path)
{
	const size_t n = strlen(path);
	return n >= 5 && strcasecmp(path + n - 5, ".gguf") == 0;
}

/* A split model missing shards: the store's error, naming the first one missing. */
static int incomplete(struct fy_cli *cli, const struct fy_revision *r,
		      const struct fy_gguf_model *m)
{
	struct fy_err err;
	fy_gguf_model_check(r, m, &err);
	return fy_cli_fail(cli, &err);
}

/* Picks the revision's GGUF model (named by any of its files, or the only one; a split set is
 * one model, a->file its first shard), or none for an HF checkpoint. */
static int pick_file(struct fy_cli *cli, struct fy_infer_artifact *a, const char *file)
{
	const struct fy_revision *r = a->rev;
	struct fy_gguf_model *models = NULL;
	size_t n_models = 0;
	struct fy_err err;
	int x = -1;
	if (fy_revision_gguf_models(r, &models, &n_models, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	if (file != NULL) {
		a->file = fy_revision_find(r, file);
		const struct fy_gguf_model *m = fy_gguf_model_of(models, n_models, file);
		if (a->file == NULL) {
			fprintf(stderr, "ferry %s: %s@%.12s has no file '%s'\n", cli->verb, r->repo,
				r->id, file);
			x = FY_EXIT_FAIL;
		} else if (m != NULL) {
			a->file = m->first;
			a->n_shards = m->shards != NULL ? m->n : 0;
			x = m->complete ? -1 : incomplete(cli, r, m);
		}
		fy_gguf_models_free(models, n_models);
		return x;
	}
	if (n_models == 1) {
		a->file = models[0].first;
		a->n_shards = models[0].shards != NULL ? models[0].n : 0;
		if (!models[0].complete)
			x = incomplete(cli, r, &models[0]);
	} else if (n_models > 1) {
		fprintf(stderr,
			"ferry %s: %s@%.12s holds %zu GGUF models: name one as %s@%.12s:FILE\n",
			cli->verb, r->repo, r->id, n_models, r->repo, r->id);
		x = FY_EXIT_FAIL;
	} else if (fy_revision_find(r, "config.json") == NULL) {
		fprintf(stderr, "ferry %s: %s@%.12s holds neither a GGUF file nor config.json\n",
			cli->verb, r->repo, r->id);
		x = FY_EXIT_FAIL;
	}
	fy_gguf_models_free(models, n_models);
	return x;
}

/* A directory of links to the objects of an HF revision's top-level files, under tmp/ (or,
 * for a store on a read-only disk, a mirror mounted from a snapshot, under $TMPDIR). */
static int n_links;
static int make_linkdir(struct fy_infer_artifact *a, struct fy_err *err)
{
	const char *tmpdir = getenv("TMPDIR");

	snprintf(a->linkdir, sizeof(a->linkdir), "%s",
		 fy_store_path(a->store, "tmp/run-%ld-%d", (long)getpid(), ++n_links));
	if (mkdir(a->linkdir, 0700) != 0 && (errno == EROFS || errno == EACCES)) {
		snprintf(a->linkdir, sizeof(a->linkdir), "%s/ferry-run-XXXXXX",
			 tmpdir != NULL && tmpdir[0] != '\0' ? tmpdir : "/tmp");
		if (mkdtemp(a->linkdir) == NULL)
			return fy_err_sys(err, FY_EIO, "cannot create '%s'", a->linkdir);
	} else if (access(a->linkdir, W_OK) != 0) {
		return fy_err_sys(err, FY_EIO, "cannot create '%s'", a->linkdir);
	}
	return FY_OK;
}

static int link_revision(struct fy_infer_artifact *a, struct fy_err *err)
{
	int rc = make_linkdir(a, err);
	if (rc != FY_OK)
		return rc;
	for (size_t i = 0; i < a->rev->n_files; i++) {
		const struct fy_file_entry *e = &a->rev->files[i];
		char link[8400];
		if (strchr(e->path, '/') != NULL)
			continue;
		snprintf(link, sizeof(link), "%s/%s", a->linkdir, e->path);
		unlink(link);
		if (symlink(fy_store_object_path(a->store, e->sha256), link) != 0)
			return fy_err_sys(err, FY_EIO, "%s", link);
	}
	return FY_OK;
}

/* A split model: its shards linked under their own names (fy_gguf_open follows them), a->path
 * the first. */
static int link_shards(struct fy_infer_artifact *a, struct fy_err *err)
{
	struct fy_gguf_model *models = NULL;
	size_t n = 0;
	int rc = make_linkdir(a, err);
	if (rc == FY_OK)
		rc = fy_revision_gguf_models(a->rev, &models, &n, err);
	const struct fy_gguf_model *m =
		rc == FY_OK ? fy_gguf_model_of(models, n, a->file->path) : NULL;
	for (size_t k = 0; m != NULL && k < m->n; k++) {
		const char *path = m->shards[k]->path;
		const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
		char link[8400];
		snprintf(link, sizeof(link), "%s/%s", a->linkdir, base);
		unlink(link);
		if (symlink(fy_store_object_path(a->store, m->shards[k]->sha256), link) != 0) {
			rc = fy_err_sys(err, FY_EIO, "%s", link);
			break;
		}
		if (k == 0 && strlen(link) >= sizeof(a->path)) {
			rc = fy_err_set(err, FY_EINVAL, "%s: path too long", link);
			break;
		}
		if (k == 0)
			memcpy(a->path, link, strlen(link) + 1);
	}
	fy_gguf_models_free(models, n);
	return rc;
}

static int open_revision(struct fy_cli *cli, const char *spec, struct fy_infer_artifact *a)
{
	char arg[FY_REPO_MAX + 512];
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *rev = NULL, *file = NULL;
	struct fy_err err;
	snprintf(arg, sizeof(arg), "%s", spec);
	char *colon = strchr(arg, ':');
	if (colon != NULL) {
		*colon = '\0';
		file = colon + 1;
	}
	if (strchr(arg, '/') == NULL) {
		fprintf(stderr, "ferry %s: '%s' is neither a file, a directory nor a repository\n",
			cli->verb, spec);
		return FY_EXIT_FAIL;
	}
	int x = fy_cli_split_rev(cli, arg, repo, sizeof(repo), &rev);
	if (x < 0)
		x = fy_cli_open_store(cli, &a->store);
	if (x >= 0)
		return x;
	if (fy_store_resolve(a->store, repo, rev, id, &err) != FY_OK ||
	    fy_revision_load(a->store, repo, id, &a->rev, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	x = pick_file(cli, a, file);
	if (x >= 0)
		return x;
	if (a->file != NULL && a->n_shards > 0) {
		if (link_shards(a, &err) != FY_OK)
			return fy_cli_fail(cli, &err);
	} else if (a->file != NULL) {
		snprintf(a->path, sizeof(a->path), "%s",
			 fy_store_object_path(a->store, a->file->sha256));
	} else {
		if (link_revision(a, &err) != FY_OK)
			return fy_cli_fail(cli, &err);
		snprintf(a->path, sizeof(a->path), "%s", a->linkdir);
	}
	return -1;
}

int fy_cli_resolve_artifact(struct fy_cli *cli, const char *spec, struct fy_infer_artifact *a)
{
	struct stat st;
	struct fy_err err;
	memset(a, 0, sizeof(*a));
	if (stat(spec, &st) == 0) {
		snprintf(a->path, sizeof(a->path), "%s", spec);
		return -1;
	}
	if (spec[0] == '/' || spec[0] == '.' || (is_gguf(spec) && strpbrk(spec, "@:") == NULL)) {
		fy_err_sys(&err, FY_ENOTFOUND, "%s", spec); /* a path, not a repository */
		return fy_cli_fail(cli, &err);
	}
	return open_revision(cli, spec, a);
}

int fy_cli_open_artifact(struct fy_cli *cli, const char *spec, struct fy_infer_artifact *a)
{
	struct fy_err err;
	int x = fy_cli_resolve_artifact(cli, spec, a);
	if (x >= 0)
		return x;
	if (fy_model_open(&a->model, a->path, &err) != FY_OK) {
		if (a->rev != NULL)
			fy_err_prefix(&err, "%s@%.12s", a->rev->repo, a->rev->id);
		return fy_cli_fail(cli, &err);
	}
	return -1;
}

void fy_cli_close_artifact(struct fy_infer_artifact *a)
{
	fy_model_free(a->model);
	if (a->linkdir[0] != '\0' && a->rev != NULL) {
		for (size_t i = 0; i < a->rev->n_files; i++) {
			const char *p = a->rev->files[i].path;
			const char *base = strrchr(p, '/') != NULL ? strrchr(p, '/') + 1 : p;
			char link[8400];
			snprintf(link, sizeof(link), "%s/%s", a->linkdir, p);
			unlink(link);
			snprintf(link, sizeof(link), "%s/%s", a->linkdir, base);
			unlink(link);
		}
		rmdir(a->linkdir);
	}
	fy_revision_free(a->rev);
	fy_store_close(a->store);
	memset(a, 0, sizeof(*a));
}
