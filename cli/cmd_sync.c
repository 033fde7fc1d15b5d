/* ferry sync --list FILE [--endpoint URL] [--token TOKEN] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GLOBS 32

/* One line of the list: REPO[@REV] [GLOB | !GLOB]... (a dataset as datasets/NS/NAME). */
static int sync_one(struct fy_cli *cli, struct fy_store *s, struct fy_clone_opts base, char *line,
		    struct fy_json *results)
{
	const char *inc[MAX_GLOBS], *exc[MAX_GLOBS];
	struct fy_json *o = fy_json_object();
	struct fy_clone_stats st = { 0 };
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	char *save = NULL;
	char *w = strtok_r(line, " \t", &save);
	char *at = strchr(w, '@');
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
	if (at != NULL)
		*at = '\0';
	snprintf(repo, sizeof(repo), "%s", w);
	base.rev = at ? at + 1 : NULL;
	rc = fy_store_clone(s, repo, &base, id, &st, &err);
	fy_cli_progress_done(cli);
	fy_json_set(o, "repo", fy_json_string(repo));
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

int cmd_sync(struct fy_cli *cli, int argc, char **argv)
{
	const char *list = NULL, *endpoint = getenv("HF_ENDPOINT"), *token = getenv("HF_TOKEN");
	long jobs = 8, retries = 5;
	const struct fy_opt opts[] = {
		{ "list", 0, FY_OPT_STRING, &list, "FILE",
		  "one 'REPO[@REV] [GLOB | !GLOB]...' per line ('#' comments)" },
		{ "endpoint", 0, FY_OPT_STRING, &endpoint, "URL",
		  "the hub (default: $HF_ENDPOINT, else https://huggingface.co)" },
		{ "token", 0, FY_OPT_STRING, &token, "TOKEN", "bearer token (default: $HF_TOKEN)" },
		{ "jobs", 'j', FY_OPT_INT, &jobs, "N", "files transferred at once (default 8)" },
		{ "retries", 0, FY_OPT_INT, &retries, "N",
		  "tries after transient failures (default 5)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry sync --list FILE [--endpoint URL] [--token TOKEN]",
		"Mirrors many repositories: each line of FILE is cloned (only what changed is\n"
		"fetched), continuing past failures; a summary ends the run, and the exit status "
		"is\n"
		"1 when any repository failed. Globs select files; !GLOB excludes.",
		opts,
	};
	struct fy_clone_opts co = { 0 };
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
	if (r < 0 && list == NULL)
		r = fy_cli_usage_error(cli, "--list FILE is required");
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r < 0 && fy_file_read(list, 16u << 20, &b, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r >= 0)
		goto out;
	fy_cli_endpoint(endpoint, url, sizeof(url));
	co = (struct fy_clone_opts){ .endpoint = url,
				     .token = token,
				     .jobs = (int)jobs,
				     .retries = (int)retries,
				     .progress = fy_cli_progress,
				     .wait_fn = fy_cli_lock_wait,
				     .ctx = cli };
	for (char *line = b.data ? strtok_r((char *)b.data, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');

		if (hash != NULL)
			*hash = '\0';
		line[strcspn(line, "\r")] = '\0';
		line += strspn(line, " \t");
		if (line[0] == '\0')
			continue;
		if (sync_one(cli, s, co, line, results) == FY_OK)
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
