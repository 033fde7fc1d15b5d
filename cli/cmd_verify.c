/* ferry verify TARGET... [--deep] [--strict] [--json] [-j N] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Findings of one target. */
struct target {
	struct fy_cli *cli;
	struct fy_json *problems;
	struct fy_json *warnings;
	struct fy_json *sigs;
	const char *label; /* "ns/name@id12" or a path */
	uint64_t files;
	uint64_t bytes;
	bool strict; /* warnings are problems */
};

static void finding(void *ctx, enum fy_finding kind, const char *file, const char *msg)
{
	struct target *t = ctx;
	struct fy_json *o = fy_json_object();

	if (t->strict)
		kind = FY_FINDING_PROBLEM;
	fy_json_set(o, "file", fy_json_string(file));
	fy_json_set(o, "message", fy_json_string(msg));
	fy_json_push(kind == FY_FINDING_PROBLEM ? t->problems : t->warnings, o);
	if (t->cli->json)
		return;
	if (kind == FY_FINDING_PROBLEM)
		fprintf(stderr, "ferry verify: %s: %s: %s\n", t->label, file, msg);
	else if (!t->cli->quiet)
		fprintf(stderr, "ferry verify: warning: %s: %s: %s\n", t->label, file, msg);
}

static void check_digests(struct target *t, const struct fy_file_entry *f,
			  const struct fy_hash_job *job)
{
	char want[65], got[65];

	if (job->rc != FY_OK) {
		finding(t, FY_FINDING_PROBLEM, f->path,
			job->err.sys_errno == ENOENT ? "missing object" : job->err.msg);
		return;
	}
	if (job->digests.size != f->size) {
		char msg[128];

		snprintf(msg, sizeof(msg),
			 "size mismatch: %" PRIu64 " bytes, manifest says %" PRIu64,
			 job->digests.size, f->size);
		finding(t, FY_FINDING_PROBLEM, f->path, msg);
	} else if (memcmp(job->digests.sha256, f->sha256, FY_SHA256_LEN) != 0) {
		char msg[200];

		fy_hex(job->digests.sha256, FY_SHA256_LEN, got);
		fy_hex(f->sha256, FY_SHA256_LEN, want);
		snprintf(msg, sizeof(msg), "hash mismatch: sha256 %s, manifest says %s", got, want);
		finding(t, FY_FINDING_PROBLEM, f->path, msg);
	} else if (!f->lfs && memcmp(job->digests.git_oid, f->git_oid, FY_SHA1_LEN) != 0) {
		/* (an LFS file's git_oid follows from sha256 and size: checked on load) */
		finding(t, FY_FINDING_PROBLEM, f->path, "git blob id mismatch");
	}
}

static const char *const sig_names[] = { "valid", "untrusted key", "invalid", "duplicate" };

static void sig_seen(void *ctx, enum fy_sig_status st, const char *keyid)
{
	struct target *t = ctx;
	struct fy_json *o = fy_json_object();
	char msg[128];

	fy_json_set(o, "keyid", fy_json_string(keyid));
	fy_json_set(o, "status", fy_json_string(sig_names[st]));
	fy_json_push(t->sigs, o);
	if (st == FY_SIG_VALID)
		return;
	snprintf(msg, sizeof(msg), "%s signature by key %s",
		 st == FY_SIG_UNTRUSTED ? "untrusted-key"
		 : st == FY_SIG_INVALID ? "invalid"
					: "duplicated",
		 keyid);
	finding(t, FY_FINDING_PROBLEM, "signatures", msg);
}

static void check_revision(struct target *t, struct fy_store *s, struct fy_pool *pool,
			   const struct fy_revision *r, int flags)
{
	struct fy_hash_job *jobs = calloc(r->n_files ? r->n_files : 1, sizeof(*jobs));
	struct fy_err err;
	size_t n_sigs = 0;
	size_t i;
	int rc;

	for (i = 0; jobs != NULL && i < r->n_files; i++) {
		jobs[i].path = strdup(fy_store_object_path(s, r->files[i].sha256));
		/* an LFS file is identified by its SHA-256; its content blob id adds nothing */
		jobs[i].flags = r->files[i].lfs ? FY_HASH_SHA256_ONLY : 0;
	}
	if (jobs != NULL)
		fy_hash_files(pool, jobs, r->n_files);
	for (i = 0; jobs != NULL && i < r->n_files; i++) {
		check_digests(t, &r->files[i], &jobs[i]);
		if (jobs[i].rc == FY_OK) {
			rc = fy_validate_file(r->files[i].path, jobs[i].path, flags, finding, t,
					      &err);

			if (rc != FY_OK && rc != FY_EFORMAT)
				finding(t, FY_FINDING_PROBLEM, r->files[i].path, err.msg);
		}
		free((char *)jobs[i].path);
		t->files++;
		t->bytes += r->files[i].size;
	}
	free(jobs);
	/* a split model is whole or it is a problem: every shard its first one names */
	struct fy_gguf_model *models = NULL;
	size_t n_models = 0;
	if (fy_revision_gguf_models(r, &models, &n_models, &err) == FY_OK) {
		for (i = 0; i < n_models; i++)
			if (fy_gguf_model_check(r, &models[i], &err) != FY_OK) {
				/* the message names the revision, as the finding does */
				const char *msg = strstr(err.msg, ": ");
				finding(t, FY_FINDING_PROBLEM, models[i].first->path,
					msg != NULL ? msg + 2 : err.msg);
			}
	}
	fy_gguf_models_free(models, n_models);
	rc = fy_store_check_signatures(s, r->repo, r->id, sig_seen, t, &n_sigs, &err);
	if (rc != FY_OK && rc != FY_EHASH)
		finding(t, FY_FINDING_PROBLEM, "signatures", err.msg);
	else if (n_sigs == 0)
		finding(t, FY_FINDING_WARNING, "signatures", "not signed");
}

/* A plain file or a folder of files: structure checks only (no manifest to compare with). */
static void check_path(struct target *t, const char *path, int flags)
{
	struct fy_digests d;
	struct fy_err err;
	struct stat st;
	int rc;

	if (stat(path, &st) != 0)
		rc = fy_err_sys(&err, FY_EIO, "cannot stat '%s'", path);
	else
		rc = fy_hash_file(path,
				  fy_lfs_rule(path, (uint64_t)st.st_size) ? FY_HASH_SHA256_ONLY : 0,
				  &d, &err);
	if (rc != FY_OK) {
		finding(t, FY_FINDING_PROBLEM, path, err.msg);
		return;
	}
	t->files++;
	t->bytes += d.size;
	rc = fy_validate_file(path, path, flags, finding, t, &err);
	if (rc != FY_OK && rc != FY_EFORMAT)
		finding(t, FY_FINDING_PROBLEM, path, err.msg);
}

/* The result beside the revision (a record of kind "verify"), for publish to reuse. */
static void record(struct target *t, struct fy_store *s, const struct fy_revision *r, int flags)
{
	struct fy_json *j = fy_json_object();
	struct fy_err err;
	char now[32];

	fy_now_iso(now);
	fy_json_set(j, "ok", fy_json_bool(fy_json_size(t->problems) == 0));
	fy_json_set(j, "files", fy_json_integer((int64_t)t->files));
	fy_json_set(j, "bytes", fy_json_integer((int64_t)t->bytes));
	fy_json_set(j, "problems", fy_json_copy(t->problems));
	fy_json_set(j, "deep", fy_json_bool(flags & FY_VALIDATE_DEEP));
	fy_json_set(j, "ferry", fy_json_string(FY_VERSION));
	fy_json_set(j, "time", fy_json_string(now));
	if (fy_store_lock(s, fy_cli_lock_wait, t->cli, &err) != FY_OK ||
	    fy_store_record_write(s, r->repo, r->id, "verify", j, &err) != FY_OK)
		finding(t, FY_FINDING_WARNING, "record", err.msg);
	fy_store_unlock(s);
	fy_json_free(j);
}

static void check_repo(struct target *t, struct fy_store *s, struct fy_pool *pool, const char *arg,
		       int flags, char *label, size_t cap)
{
	struct fy_revision *r = NULL;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *at = strchr(arg, '@');
	struct fy_err err;

	snprintf(repo, sizeof(repo), "%.*s", at ? (int)(at - arg) : (int)strlen(arg), arg);
	if (fy_store_resolve(s, repo, at ? at + 1 : NULL, id, &err) != FY_OK ||
	    fy_revision_load(s, repo, id, &r, &err) != FY_OK) {
		finding(t, FY_FINDING_PROBLEM, "manifest", err.msg);
		return;
	}
	snprintf(label, cap, "%s@%.12s", repo, id);
	check_revision(t, s, pool, r, flags);
	record(t, s, r, flags);
	fy_revision_free(r);
}

struct fy_json *fy_cli_verify_target(struct fy_cli *cli, struct fy_store *s, struct fy_pool *pool,
				     const char *arg, int flags)
{
	struct target t = { cli,
			    fy_json_array(),
			    fy_json_array(),
			    fy_json_array(),
			    arg,
			    0,
			    0,
			    (flags & FY_VALIDATE_STRICT) != 0 };
	struct fy_json *o = fy_json_object();
	char label[FY_REPO_MAX + 32];
	struct stat st;

	snprintf(label, sizeof(label), "%s", arg);
	t.label = label;
	if (stat(arg, &st) == 0 && S_ISREG(st.st_mode))
		check_path(&t, arg, flags);
	else if (s != NULL)
		check_repo(&t, s, pool, arg, flags, label, sizeof(label));
	else
		finding(&t, FY_FINDING_PROBLEM, arg,
			"not a file, and there is no store to look in");
	fy_json_set(o, "target", fy_json_string(label));
	fy_json_set(o, "files", fy_json_integer((int64_t)t.files));
	fy_json_set(o, "bytes", fy_json_integer((int64_t)t.bytes));
	fy_json_set(o, "ok", fy_json_bool(fy_json_size(t.problems) == 0));
	fy_json_set(o, "problems", t.problems);
	fy_json_set(o, "warnings", t.warnings);
	fy_json_set(o, "signatures", t.sigs);
	if (!cli->json && !cli->quiet && fy_json_size(t.problems) == 0) {
		char size[32];

		printf("%s: %" PRIu64 " files, %s verified\n", label, t.files,
		       fy_fmt_bytes(size, sizeof(size), t.bytes));
	}
	return o;
}

int cmd_verify(struct fy_cli *cli, int argc, char **argv)
{
	bool deep = false;
	bool strict = false;
	long threads = 0;
	const struct fy_opt opts[] = {
		{ "deep", 0, FY_OPT_FLAG, &deep, NULL,
		  "also scan every float tensor for NaN and Inf (counts per tensor)" },
		{ "strict", 0, FY_OPT_FLAG, &strict, NULL,
		  "warnings fail too (bytes after a GGUF file's last tensor, no signature, ...)" },
		{ "jobs", 'j', FY_OPT_INT, &threads, "N",
		  "files hashed in parallel (default: CPUs)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry verify TARGET... [--deep] [--strict] [--json] [-j N]",
		"TARGET is REPO[@REV] (a revision in the store) or a file path. For a revision,\n"
		"every file is re-hashed from the store and compared with the manifest (size,\n"
		"SHA-256, git blob id), its structure checked (safetensors, GGUF, JSON), pickles\n"
		"flagged with the imports they would perform, and the signatures checked. A file\n"
		"path gets the structure checks. One line per problem on stderr, naming the file\n"
		"and the reason; exit status 1 when there is any. A revision's result is recorded\n"
		"beside it (repos/NS/NAME/verify/ID.json), where publish finds it.",
		opts,
	};
	struct fy_store *s = NULL;
	struct fy_pool *pool = NULL;
	struct fy_json *all = fy_json_array();
	struct fy_err err;
	bool ok = true;
	int npos = 0;
	int i;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 1, -1, &npos);
	if (r < 0)
		r = fy_cli_pool(cli, threads, &pool);
	if (r < 0 && cli->store != NULL && fy_store_open(&s, cli->store, &err) != FY_OK)
		s = NULL; /* file targets work without a store */
	for (i = 0; r < 0 && i < npos; i++) {
		struct fy_json *o = fy_cli_verify_target(cli, s, pool, argv[i],
							 (deep ? FY_VALIDATE_DEEP : 0) |
								 (strict ? FY_VALIDATE_STRICT : 0));

		ok = ok && fy_json_type(fy_json_get(o, "ok")) == FY_JSON_TRUE;
		fy_json_push(all, o);
	}
	if (r < 0 && cli->json) {
		fy_cli_print_json(cli, all);
		all = NULL;
	}
	if (r < 0)
		r = ok ? FY_EXIT_OK : FY_EXIT_FAIL;
	fy_json_free(all);
	fy_store_close(s);
	fy_pool_free(pool);
	return r;
}
