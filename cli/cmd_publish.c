/* ferry publish REPO[@REV] [--force --reason TEXT] [--expires-days N] [--reverify]
 * ferry publish --refresh | --list */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs another verb in this process (its own store handle; nothing of ours is locked). */
static int run_verb(struct fy_cli *cli, const char *name, int argc, char **argv)
{
	const struct fy_command *cmd = fy_cli_find_command(name);

	return cmd->fn(cli, argc, argv);
}

static bool is_model_file(const char *path)
{
	return fy_ends_with_ci(path, ".gguf") || fy_ends_with_ci(path, ".safetensors");
}

static bool in_parent(const struct fy_revision *parent, const struct fy_file_entry *f)
{
	const struct fy_file_entry *p = parent ? fy_revision_find(parent, f->path) : NULL;

	return p != NULL && memcmp(p->sha256, f->sha256, FY_SHA256_LEN) == 0;
}

/*
 * What the smoke gate runs on: the model file the derivation added (REPO@ID:FILE for a GGUF, the
 * revision for an HF checkpoint) against the lineage's source, or, for a revision with no
 * lineage, the model against itself (it loads and evaluates to finite values). false when the
 * revision holds no model (the gate does not apply); *ambiguous when it holds several new GGUF
 * files (each needs its own `ferry smoke`).
 */
static bool smoke_target(struct fy_store *s, const struct fy_revision *r, char *spec, size_t cap,
			 bool *self, bool *ambiguous)
{
	struct fy_revision *parent = NULL;
	const char *kind = fy_json_str(fy_json_get(r->origin, "kind"));
	const struct fy_gguf_model *gguf = NULL;
	struct fy_gguf_model *models = NULL;
	size_t n_models = 0;
	size_t n_gguf = 0, n_st = 0;
	struct fy_err err;
	size_t i;

	*self = kind == NULL || strcmp(kind, "derived") != 0;
	*ambiguous = false;
	if (!*self && r->parent[0] != '\0')
		fy_revision_load(s, r->repo, r->parent, &parent, &err);
	if (fy_revision_gguf_models(r, &models, &n_models, &err) != FY_OK)
		n_models = 0;
	for (i = 0; i < r->n_files; i++) {
		const struct fy_file_entry *f = &r->files[i];

		if (!is_model_file(f->path) || (!*self && in_parent(parent, f)))
			continue;
		if (fy_ends_with_ci(f->path, ".gguf")) {
			/* a split model is one model: counted once, by whichever shard is new */
			const struct fy_gguf_model *m = fy_gguf_model_of(models, n_models, f->path);
			if (m == NULL || m != gguf)
				n_gguf++;
			gguf = m;
		} else {
			n_st++;
		}
	}
	fy_revision_free(parent);
	if (n_gguf > 1)
		*ambiguous = true;
	if (n_gguf == 1 && gguf != NULL)
		snprintf(spec, cap, "%s@%s:%s", r->repo, r->id, gguf->first->path);
	else
		snprintf(spec, cap, "%s@%s", r->repo, r->id);
	fy_gguf_models_free(models, n_models);
	return n_gguf + n_st > 0;
}

struct gates {
	struct fy_json *j; /* what goes into the index entry */
	const char *failed;
	bool broke; /* a gate's verb failed on the store itself (a full disk), said already */
	char why[512];
};

/* A gate's outcome into the index entry; the first failure is the one reported. */
static void settle(struct gates *g, const char *gate, bool ok, const char *why)
{
	fy_json_set(g->j, gate, fy_json_string(ok ? "pass" : "fail"));
	if (!ok && g->failed == NULL) {
		g->failed = gate;
		snprintf(g->why, sizeof(g->why), "%.500s", why);
	}
}

static void verify_gate(struct fy_cli *cli, struct fy_store *s, struct fy_pool *pool,
			const struct fy_revision *r, bool reverify, struct gates *g)
{
	struct fy_json *rec = NULL;
	struct fy_err err;
	char spec[FY_REPO_MAX + FY_REV_ID_LEN + 2];
	char why[64];
	bool ok;

	if (!reverify && fy_store_record_read(s, r->repo, r->id, "verify", &rec, &err) == FY_OK &&
	    fy_json_type(fy_json_get(rec, "ok")) == FY_JSON_TRUE) {
		if (!cli->quiet)
			printf("verify: passed (recorded %s)\n",
			       fy_json_str(fy_json_get(rec, "time")));
	} else { /* the result has the record's "ok" and "problems" */
		fy_json_free(rec);
		snprintf(spec, sizeof(spec), "%s@%s", r->repo, r->id);
		rec = fy_cli_verify_target(cli, s, pool, spec, 0);
	}
	ok = fy_json_type(fy_json_get(rec, "ok")) == FY_JSON_TRUE;
	snprintf(why, sizeof(why), "%zu problem(s) found by verify",
		 fy_json_size(fy_json_get(rec, "problems")));
	settle(g, "verify", ok, why);
	fy_json_free(rec);
}

static void smoke_gate(struct fy_cli *cli, struct fy_store *s, const struct fy_revision *r,
		       struct gates *g)
{
	struct fy_json *rec = NULL;
	struct fy_err err;
	char spec[FY_REPO_MAX + 4200];
	bool self, ambiguous, pass;

	if (fy_store_record_read(s, r->repo, r->id, "smoke", &rec, &err) == FY_OK) {
		if (!cli->quiet)
			printf("smoke: %s (recorded %s)\n",
			       fy_json_type(fy_json_get(rec, "pass")) == FY_JSON_TRUE ? "passed"
										      : "FAILED",
			       fy_json_str(fy_json_get(rec, "time")));
	} else if (!smoke_target(s, r, spec, sizeof(spec), &self, &ambiguous)) {
		if (!cli->quiet)
			printf("smoke: not applicable (no model file)\n");
		fy_json_set(g->j, "smoke", fy_json_string("not applicable"));
		return;
	} else if (ambiguous) {
		snprintf(spec, sizeof(spec),
			 "the revision adds several GGUF files: run 'ferry smoke %s@%.12s:FILE' on "
			 "the one to gate",
			 r->repo, r->id);
		settle(g, "smoke", false, spec);
		fy_json_set(g->j, "smoke", fy_json_string("not run"));
		return;
	} else {
		char *argv[] = { "smoke", spec, "--ref", spec, NULL };

		if (!cli->quiet)
			printf("smoke: running 'ferry smoke %s%s'%s\n", spec,
			       self ? " --ref (itself)" : "",
			       self ? " (no lineage: the model is its own reference, checking that "
				      "it loads and evaluates to finite values)"
				    : "");
		fflush(stdout);
		cli->failed = 0;
		run_verb(cli, "smoke", self ? 4 : 2, argv);
		if (fy_store_record_read(s, r->repo, r->id, "smoke", &rec, &err) != FY_OK) {
			/* the store refused the result (EIO: no space, a read-only disk): not the
			 * model's doing, and --force could not get past it either */
			g->broke = cli->failed == FY_EIO;
			rec = fy_json_object();
		}
	}
	pass = fy_json_type(fy_json_get(rec, "pass")) == FY_JSON_TRUE;
	settle(g, "smoke", pass,
	       fy_json_get(rec, "pass") ? "the recorded result is a failure"
					: "no result could be recorded");
	fy_json_free(rec);
}

static void print_index(const struct fy_json *ix)
{
	const struct fy_json *repos = fy_json_get(ix, "repos");
	void *it, *jt;

	printf("index version %" PRIu64 ", created %s, expires %s\n", fy_pubindex_version(ix),
	       fy_json_str(fy_json_get(ix, "created")), fy_json_str(fy_json_get(ix, "expires")));
	for (it = fy_json_iter(repos); it; it = fy_json_next(repos, it)) {
		const struct fy_json *refs = fy_json_get(fy_json_iter_value(it), "refs");
		const struct fy_json *revs = fy_json_get(fy_json_iter_value(it), "revisions");

		printf("%s\n", fy_json_iter_key(it));
		for (jt = fy_json_iter(revs); jt; jt = fy_json_next(revs, jt)) {
			const struct fy_json *e = fy_json_iter_value(jt);
			const struct fy_json *gt = fy_json_get(e, "gates");
			const char *sm = fy_json_str(fy_json_get(gt, "smoke"));
			void *kt;

			printf("  %.12s  published %s  verify %s, smoke %s%s", fy_json_iter_key(jt),
			       fy_json_str(fy_json_get(e, "published")),
			       fy_json_str(fy_json_get(gt, "verify"))
				       ? fy_json_str(fy_json_get(gt, "verify"))
				       : "?",
			       sm ? sm : "?", fy_json_get(gt, "override") ? " (override)" : "");
			for (kt = fy_json_iter(refs); kt; kt = fy_json_next(refs, kt))
				if (strcmp(fy_json_str(fy_json_iter_value(kt)),
					   fy_json_iter_key(jt)) == 0)
					printf("  %s", fy_json_iter_key(kt));
			printf("\n");
		}
	}
}

static int list(struct fy_cli *cli, struct fy_store *s)
{
	struct fy_json *ix = NULL;
	struct fy_buf b;
	struct fy_err err;
	int rc;

	fy_buf_init(&b);
	rc = fy_store_published(s, &b, NULL, &err);
	if (rc == FY_ENOTFOUND) {
		if (!cli->json)
			printf("nothing is published\n");
		return cli->json ? fy_cli_print_json(cli, fy_json_null()) : FY_EXIT_OK;
	}
	if (rc == FY_OK)
		rc = fy_pubindex_parse(b.data, b.len, "published index", &ix, &err);
	fy_buf_release(&b);
	if (rc != FY_OK)
		return fy_cli_fail(cli, &err);
	if (cli->json)
		return fy_cli_print_json(cli, ix);
	print_index(ix);
	fy_json_free(ix);
	return FY_EXIT_OK;
}

static int publish_one(struct fy_cli *cli, struct fy_store *s, const char *arg, bool force,
		       const char *reason, bool reverify, struct fy_publish_opts *po)
{
	struct fy_revision *r = NULL;
	struct fy_pool *pool = NULL;
	struct gates g = { fy_json_object(), NULL, false, "" };
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *rev = NULL;
	struct fy_err err;
	uint64_t version = 0;
	char now[32];
	int x;

	x = fy_cli_split_rev(cli, arg, repo, sizeof(repo), &rev);
	if (x < 0)
		x = fy_cli_pool(cli, 0, &pool);
	if (x < 0 && (fy_store_resolve(s, repo, rev, id, &err) != FY_OK ||
		      fy_revision_load(s, repo, id, &r, &err) != FY_OK))
		x = fy_cli_fail(cli, &err);
	if (x < 0 && r != NULL) { /* r is loaded when x < 0: the analyzer cannot see it */
		verify_gate(cli, s, pool, r, reverify, &g);
		smoke_gate(cli, s, r, &g);
	}
	if (x < 0 && g.broke)
		x = FY_EXIT_FAIL;
	if (x < 0 && g.failed != NULL && !force) {
		fprintf(stderr,
			"ferry publish: %s@%.12s fails the %s gate: %s (--force --reason TEXT "
			"publishes it anyway, recording why)\n",
			repo, id, g.failed, g.why);
		x = FY_EXIT_FAIL;
	}
	if (x < 0 && force) {
		struct fy_json *o = fy_json_object();

		fy_now_iso(now);
		fy_json_set(o, "reason", fy_json_string(reason));
		fy_json_set(o, "failed", g.failed ? fy_json_string(g.failed) : fy_json_null());
		fy_json_set(o, "time", fy_json_string(now));
		fy_json_set(g.j, "override", o);
		if (!cli->quiet)
			fprintf(stderr, "ferry publish: gates overridden: %s\n", reason);
	}
	po->gates = g.j;
	if (x < 0 && fy_store_publish(s, repo, id, po, &version, &err) != FY_OK)
		x = fy_cli_fail(cli, &err);
	if (x < 0 && !cli->quiet)
		printf("published %s@%.12s (index version %" PRIu64 ")\n", repo, id, version);
	fy_json_free(g.j);
	fy_revision_free(r);
	fy_pool_free(pool);
	return x;
}

int cmd_publish(struct fy_cli *cli, int argc, char **argv)
{
	bool force = false, refresh = false, show = false, reverify = false;
	const char *reason = NULL;
	long days = 30;
	const struct fy_opt opts[] = {
		{ "force", 0, FY_OPT_FLAG, &force, NULL,
		  "publish although a gate failed or could not run (needs --reason)" },
		{ "reason", 0, FY_OPT_STRING, &reason, "TEXT",
		  "why the gates are overridden (recorded in the index)" },
		{ "expires-days", 0, FY_OPT_INT, &days, "N",
		  "the signed index expires after N days (default 30); refresh before" },
		{ "reverify", 0, FY_OPT_FLAG, &reverify, NULL,
		  "re-hash every file even when a passing verify is recorded" },
		{ "refresh", 0, FY_OPT_FLAG, &refresh, NULL,
		  "sign the index again with a new expiry (a new version, same content)" },
		{ "list", 'l', FY_OPT_FLAG, &show, NULL, "show the published index" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry publish REPO[@REV]... [--force --reason TEXT] [--expires-days N]\n"
		"ferry publish --refresh [--expires-days N]\n"
		"ferry publish --list [--json]",
		"Makes revisions visible on the mirror once their gates pass: verify (every\n"
		"byte re-hashed and every file's structure checked; a passing result recorded\n"
		"by 'ferry verify' is reused) and smoke (the recorded result, else 'ferry smoke'\n"
		"is run now: a derived revision against its source, a revision without lineage\n"
		"against itself). Each revision goes into the mirror's index with its manifest's\n"
		"SHA-256, and the index is signed with the store's key as a new version\n"
		"(ferry key generate makes one). 'ferry serve' shows only published revisions;\n"
		"ferry clients check the index's signature, version and expiry. Details:\n"
		"docs/PUBLISH.md.",
		opts,
	};
	struct fy_publish_opts po = { NULL, 30, fy_cli_lock_wait, cli };
	struct fy_store *s = NULL;
	struct fy_err err;
	uint64_t version = 0;
	int npos = 0;
	int r;
	int i;

	r = fy_cli_parse(cli, &usage, argc, argv, 0, -1, &npos);
	if (r < 0 && (days < 1 || days > 3650))
		r = fy_cli_usage_error(cli, "--expires-days needs a value from 1 to 3650");
	if (r < 0 && force != (reason != NULL))
		r = fy_cli_usage_error(cli, "--force and --reason go together");
	if (r < 0 && (refresh || show) != (npos == 0))
		r = fy_cli_usage_error(cli, npos == 0 ? "name a revision to publish"
						      : "--refresh and --list take no revision");
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	po.expires_days = (int)days;
	if (r < 0 && !show) { /* before any gate runs */
		struct fy_key *k = NULL;

		if (fy_store_key_load(s, &k, &err) != FY_OK)
			r = fy_cli_fail(cli, &err);
		fy_key_free(k);
	}
	if (r < 0 && show)
		r = list(cli, s);
	if (r < 0 && refresh) {
		if (fy_store_publish_refresh(s, &po, &version, &err) != FY_OK)
			r = fy_cli_fail(cli, &err);
		else if (!cli->quiet)
			printf("index version %" PRIu64 " signed, expires in %ld days\n", version,
			       days);
	}
	for (i = 0; r < 0 && !refresh && !show && i < npos; i++)
		r = publish_one(cli, s, argv[i], force, reason, reverify, &po);
	if (r < 0)
		r = FY_EXIT_OK;
	fy_store_close(s);
	return r;
}
