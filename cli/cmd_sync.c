/* ferry sync --list FILE [--endpoint URL] [--token TOKEN] | ferry sync --from URL */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GLOBS 32

/* What a list's oci:// lines are pulled with. */
struct oci_creds {
	bool plain_http;
	const char *user, *password, *token;
};

/* One line of the list: REPO[@REV] [GLOB | !GLOB]... (a dataset as datasets/NS/NAME), or
 * oci://HOST/NAME[:TAG|@DIGEST] (an artifact ferry push wrote: a whole revision). */
static int sync_one(struct fy_cli *cli, struct fy_store *s, struct fy_clone_opts base, char *line,
		    const struct oci_creds *oc, struct fy_json *results)
{
	const char *inc[MAX_GLOBS], *exc[MAX_GLOBS];
	struct fy_json *o = fy_json_object();
	struct fy_clone_stats st = { 0 };
	char repo[FY_REPO_MAX + 1] = "";
	char id[FY_REV_ID_LEN + 1];
	char *save = NULL;
	char *w = strtok_r(line, " \t", &save);
	const bool oci = strncmp(w, "oci://", 6) == 0;
	char *at = oci ? NULL : strchr(w, '@');
	struct fy_err err;
	int rc;

	base.n_include = base.n_exclude = 0;
	for (char *g = strtok_r(NULL, " \t", &save); g != NULL; g = strtok_r(NULL, " \t", &save)) {
		if (g[0] == '!' && base.n_exclude < MAX_GLOBS)
			exc[base.n_exclude++] = g + 1;
		else if (g[0] != '!' && base.n_include < MAX_GLOBS)
			inc[base.n_include++] = g;
	}
	base.include = inc;
	base.exclude = exc;
	if (oci) {
		struct fy_oci_ref ref;
		base.username = oc->user;
		base.password = oc->password;
		base.token = oc->token;
		if (base.n_include > 0 || base.n_exclude > 0)
			rc = fy_err_set(&err, FY_EINVAL,
					"%s: oci:// lines take whole revisions "
					"(no globs)",
					w);
		else if ((rc = fy_oci_ref_parse(w, oc->plain_http, &ref, &err)) == FY_OK)
			rc = fy_oci_pull(s, &ref, NULL, &base, repo, id, &st, &err);
		if (repo[0] == '\0')
			snprintf(repo, sizeof(repo), "%.*s", FY_REPO_MAX, w);
	} else {
		if (at != NULL)
			*at = '\0';
		snprintf(repo, sizeof(repo), "%s", w);
		base.rev = at ? at + 1 : NULL;
		rc = fy_store_clone(s, repo, &base, id, &st, &err);
	}
	fy_cli_progress_done(cli);
	fy_json_set(o, "repo", fy_json_string(repo));
	if (oci)
		fy_json_set(o, "source", fy_json_string(w));
	fy_json_set(o, "ok", fy_json_bool(rc == FY_OK));
	if (rc == FY_OK) {
		fy_json_set(o, "revision", fy_json_string(id));
		fy_json_set(o, "fetched", fy_json_integer((int64_t)st.files_fetched));
		if (!cli->quiet && !cli->json)
			printf("ok      %s@%.12s (%zu files fetched, %zu unchanged)\n", repo, id,
			       st.files_fetched, st.files_reused);
	} else {
		fy_json_set(o, "error", fy_json_string(err.msg));
		if (!cli->json)
			fprintf(stderr, "ferry sync: %s\n", err.msg);
	}
	fy_json_push(results, o);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Everything a ferry mirror publishes: its signed index checked first, then each repository's
 * revisions and refs. Counts into *ok and *failed. */
static int sync_from(struct fy_cli *cli, struct fy_store *s, const struct fy_clone_opts *co,
		     bool allow_expired, struct fy_json *results, size_t *ok, size_t *failed)
{
	struct fy_remote rm;
	const struct fy_json *repos;
	const char **names = NULL;
	size_t n = 0, i;
	struct fy_err err;
	void *it;

	if (fy_remote_open(s, co, allow_expired, &rm, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	repos = fy_json_get(rm.index, "repos");
	names = calloc(fy_json_size(repos) + 1, sizeof(*names));
	for (it = fy_json_iter(repos); names != NULL && it; it = fy_json_next(repos, it))
		names[n++] = fy_json_iter_key(it);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		struct fy_json *o = fy_json_object();
		struct fy_clone_stats st;
		size_t fresh = 0;
		int rc = fy_remote_sync_repo(s, &rm, co, names[i], &fresh, &st, &err);

		fy_cli_progress_done(cli);
		fy_json_set(o, "repo", fy_json_string(names[i]));
		fy_json_set(o, "ok", fy_json_bool(rc == FY_OK));
		if (rc == FY_OK) {
			(*ok)++;
			fy_json_set(o, "revisions_new", fy_json_integer((int64_t)fresh));
			fy_json_set(o, "fetched", fy_json_integer((int64_t)st.files_fetched));
			if (!cli->quiet && !cli->json)
				printf("ok      %s (%zu new revision%s, %zu files fetched, %zu "
				       "already in the store)\n",
				       names[i], fresh, fresh == 1 ? "" : "s", st.files_fetched,
				       st.files_reused);
		} else {
			(*failed)++;
			fy_json_set(o, "error", fy_json_string(err.msg));
			if (!cli->json)
				fprintf(stderr, "ferry sync: %s\n", err.msg);
		}
		fy_json_push(results, o);
	}
	free(names);
	fy_remote_close(&rm);
	return -1;
}

int cmd_sync(struct fy_cli *cli, int argc, char **argv)
{
	const char *list = NULL, *endpoint = getenv("HF_ENDPOINT"), *token = getenv("HF_TOKEN");
	const char *from = NULL, *user = getenv("FERRY_OCI_USER"), *oci_token = NULL;
	bool allow_expired = false, plain_http = false;
	long jobs = 8, retries = 5, stall = 60;
	const struct fy_opt opts[] = {
		{ "list", 0, FY_OPT_STRING, &list, "FILE",
		  "one 'REPO[@REV] [GLOB | !GLOB]...' per line ('#' comments)" },
		{ "from", 0, FY_OPT_STRING, &from, "URL",
		  "a ferry mirror: everything its signed index publishes (every revision and "
		  "ref)" },
		{ "allow-expired", 0, FY_OPT_FLAG, &allow_expired, NULL,
		  "with --from: accept an expired index (a site with an unreliable clock)" },
		{ "endpoint", 0, FY_OPT_STRING, &endpoint, "URL",
		  "the hub (default: $HF_ENDPOINT, else https://huggingface.co)" },
		{ "token", 0, FY_OPT_STRING, &token, "TOKEN", "bearer token (default: $HF_TOKEN)" },
		{ "oci-token", 0, FY_OPT_STRING, &oci_token, "TOKEN",
		  "oci:// lines: a registry's bearer token (default $FERRY_OCI_TOKEN)" },
		{ "user", 0, FY_OPT_STRING, &user, "NAME",
		  "oci:// lines: the registry's user name (default $FERRY_OCI_USER; the password "
		  "from $FERRY_OCI_PASSWORD)" },
		{ "plain-http", 0, FY_OPT_FLAG, &plain_http, NULL,
		  "oci:// lines: HTTP rather than HTTPS (loopback hosts always use HTTP)" },
		FY_TRANSFER_OPTS(&jobs, &retries, &stall),
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry sync --list FILE [--endpoint URL] [--token TOKEN]\n"
		"ferry sync --from URL [--allow-expired]",
		"Mirrors many repositories: each line of FILE is cloned (only what changed is\n"
		"fetched), continuing past failures; a summary ends the run, and the exit status "
		"is\n"
		"1 when any repository failed. Globs select files; !GLOB excludes. A line\n"
		"oci://HOST/NAME[:TAG|@DIGEST] reads an artifact ferry push wrote (docs/OCI.md).\n"
		"With --from, the source is a ferry mirror: its signed index is checked (trusted\n"
		"key, version, expiry), then every revision it publishes is fetched (manifest as\n"
		"signed, every file's SHA-256) and the index's refs are set (docs/PUBLISH.md).",
		opts,
	};
	struct fy_clone_opts co = { 0 };
	const char *ca_bundle = NULL;
	struct fy_json *results = fy_json_array();
	struct fy_store *s = NULL;
	struct fy_buf b;
	char url[2048];
	char *save = NULL;
	size_t ok = 0, failed = 0;
	struct fy_err err;
	int npos = 0;
	int r;

	fy_buf_init(&b);
	r = fy_cli_parse(cli, &usage, argc, argv, 0, 0, &npos);
	if (r < 0 && (list == NULL) == (from == NULL))
		r = fy_cli_usage_error(cli, "--list FILE or --from URL (one of them)");
	if (r < 0)
		r = fy_cli_transfer_check(cli, jobs, retries, stall, &ca_bundle);
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r < 0 && list != NULL && fy_file_read(list, 16u << 20, &b, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r >= 0)
		goto out;
	fy_cli_endpoint(from != NULL ? from : endpoint, url, sizeof(url));
	co = (struct fy_clone_opts){ .endpoint = url,
				     .token = token,
				     .ca_bundle = ca_bundle,
				     .jobs = (int)jobs,
				     .retries = (int)retries,
				     .stall_s = (int)stall,
				     .progress = fy_cli_progress,
				     .transfer = fy_cli_transfer,
				     .wait_fn = fy_cli_lock_wait,
				     .ctx = cli };
	const struct oci_creds oc = { plain_http, user, getenv("FERRY_OCI_PASSWORD"),
				      oci_token ? oci_token : getenv("FERRY_OCI_TOKEN") };
	if (from != NULL && (r = sync_from(cli, s, &co, allow_expired, results, &ok, &failed)) >= 0)
		goto out; /* the mirror's index was refused: nothing was synced */
	for (char *line = b.data ? strtok_r((char *)b.data, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');

		if (hash != NULL)
			*hash = '\0';
		line[strcspn(line, "\r")] = '\0';
		line += strspn(line, " \t");
		if (line[0] == '\0')
			continue;
		if (sync_one(cli, s, co, line, &oc, results) == FY_OK)
			ok++;
		else
			failed++;
	}
	if (cli->json) {
		struct fy_json *o = fy_json_object();

		fy_json_set(o, "ok", fy_json_integer((int64_t)ok));
		fy_json_set(o, "failed", fy_json_integer((int64_t)failed));
		fy_json_set(o, "repos", results);
		results = NULL;
		fy_cli_print_json(cli, o);
	} else if (!cli->quiet || failed > 0) {
		fprintf(failed ? stderr : stdout, "sync: %zu repositories synced, %zu failed\n", ok,
			failed);
	}
	r = failed > 0 ? FY_EXIT_FAIL : FY_EXIT_OK;
out:
	fy_json_free(results);
	fy_buf_release(&b);
	fy_store_close(s);
	return r;
}
