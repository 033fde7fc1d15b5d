/* ferry pull REPO[@BRANCH] [--endpoint URL] [--token TOKEN] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The endpoint and revision a mirrored revision came from (its manifest's origin). */
static int origin_of(struct fy_store *s, const char *repo, const char *rev, char *endpoint,
		     size_t ecap, char *upstream_rev, size_t rcap, char id[FY_REV_ID_LEN + 1],
		     struct fy_err *err)
{
	struct fy_revision *r = NULL;
	const char *kind, *ep, *ur;
	int rc;

	rc = fy_store_resolve(s, repo, rev, id, err);
	if (rc == FY_OK)
		rc = fy_revision_load(s, repo, id, &r, err);
	if (rc != FY_OK)
		return rc;
	kind = fy_json_str(fy_json_get(r->origin, "kind"));
	ep = fy_json_str(fy_json_get(r->origin, "endpoint"));
	ur = fy_json_str(fy_json_get(r->origin, "revision"));
	if (kind == NULL || strcmp(kind, "hub") != 0 || ep == NULL)
		rc = fy_err_set(err, FY_EINVAL,
				"%s@%.12s was not cloned from a hub: nothing to pull", repo, id);
	else {
		snprintf(endpoint, ecap, "%s", ep);
		snprintf(upstream_rev, rcap, "%s", ur ? ur : "main");
	}
	fy_revision_free(r);
	return rc;
}

int cmd_pull(struct fy_cli *cli, int argc, char **argv)
{
	const char *endpoint = NULL, *token = getenv("HF_TOKEN");
	long jobs = 8, retries = 5, stall = 60;
	const struct fy_opt opts[] = {
		{ "endpoint", 0, FY_OPT_STRING, &endpoint, "URL",
		  "the hub (default: the one the revision came from)" },
		{ "token", 0, FY_OPT_STRING, &token, "TOKEN", "bearer token (default: $HF_TOKEN)" },
		FY_TRANSFER_OPTS(&jobs, &retries, &stall),
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry pull REPO[@BRANCH] [--endpoint URL] [--token TOKEN]",
		"Fetches what changed upstream for a branch cloned earlier (default main): the\n"
		"endpoint and upstream revision come from the revision's origin. Files the store\n"
		"has already (same blob id or sha256) are not fetched again.",
		opts,
	};
	struct fy_clone_opts co = { 0 };
	const char *ca_bundle = NULL;
	struct fy_clone_stats st = { 0 };
	struct fy_store *s = NULL;
	char repo[FY_REPO_MAX + 1];
	char ep[2048], urev[256];
	char before[FY_REV_ID_LEN + 1], after[FY_REV_ID_LEN + 1];
	const char *rev = NULL;
	struct fy_err err;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 1, repo, &rev, &s);
	if (r < 0)
		r = fy_cli_transfer_check(cli, jobs, retries, stall, &ca_bundle);
	if (r < 0 &&
	    origin_of(s, repo, rev, ep, sizeof(ep), urev, sizeof(urev), before, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r >= 0)
		goto out;
	co = (struct fy_clone_opts){ .endpoint = endpoint ? endpoint : ep,
				     .token = token,
				     .ca_bundle = ca_bundle,
				     .rev = urev,
				     .jobs = (int)jobs,
				     .retries = (int)retries,
				     .stall_s = (int)stall,
				     .progress = fy_cli_progress,
				     .transfer = fy_cli_transfer,
				     .wait_fn = fy_cli_lock_wait,
				     .ctx = cli };
	if (fy_store_clone(s, repo, &co, after, &st, &err) != FY_OK) {
		fy_cli_progress_done(cli);
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	fy_cli_progress_done(cli);
	if (!cli->quiet && strcmp(before, after) == 0)
		printf("%s: up to date at %.12s\n", repo, after);
	else if (!cli->quiet)
		printf("%s: %.12s -> %.12s (%zu files fetched, %zu unchanged)\n", repo, before,
		       after, st.files_fetched, st.files_reused);
	r = FY_EXIT_OK;
out:
	fy_store_close(s);
	return r;
}
