/* ferry pull REPO[@BRANCH] [--endpoint URL] [--token TOKEN] [--user NAME] */
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

/* main's head was cloned from a registry: the same reference again (its tag may have moved). */
static int pull_oci(struct fy_cli *cli, struct fy_store *s, const char *repo,
		    const struct fy_oci_ref *ref, const struct fy_clone_opts *co,
		    const char *before)
{
	struct fy_clone_stats st = { 0 };
	char got[FY_REPO_MAX + 1], after[FY_REV_ID_LEN + 1];
	struct fy_err err;
	snprintf(got, sizeof(got), "%s", repo);
	if (fy_oci_pull(s, ref, NULL, co, got, after, &st, &err) != FY_OK) {
		fy_cli_progress_done(cli);
		return fy_cli_fail(cli, &err);
	}
	fy_cli_progress_done(cli);
	if (!cli->quiet && strcmp(before, after) == 0)
		printf("%s: up to date at %.12s (oci://%s/%s:%s)\n", repo, after, ref->host,
		       ref->name, ref->digest[0] ? ref->digest : ref->tag);
	else if (!cli->quiet)
		printf("%s: %.12s -> %.12s (%zu files fetched, %zu unchanged)\n", repo, before,
		       after, st.files_fetched, st.files_reused);
	return FY_EXIT_OK;
}

int cmd_pull(struct fy_cli *cli, int argc, char **argv)
{
	const char *endpoint = NULL, *token = NULL, *user = getenv("FERRY_OCI_USER");
	long jobs = 8, retries = 5, stall = 60;
	const struct fy_opt opts[] = {
		{ "endpoint", 0, FY_OPT_STRING, &endpoint, "URL",
		  "the hub (default: the one the revision came from)" },
		{ "token", 0, FY_OPT_STRING, &token, "TOKEN",
		  "bearer token (default: $HF_TOKEN; from a registry, $FERRY_OCI_TOKEN)" },
		{ "user", 0, FY_OPT_STRING, &user, "NAME",
		  "from a registry: its user name (default $FERRY_OCI_USER; the password from "
		  "$FERRY_OCI_PASSWORD)" },
		FY_TRANSFER_OPTS(&jobs, &retries, &stall),
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry pull REPO[@BRANCH] [--endpoint URL] [--token TOKEN] [--user NAME]",
		"Fetches what changed upstream for a branch cloned earlier (default main): the\n"
		"endpoint and upstream revision come from the revision's origin. Files the store\n"
		"has already (same blob id or sha256) are not fetched again. A main cloned from\n"
		"an OCI registry (ferry clone oci://...) is pulled from the same reference\n"
		"again: its tag's artifact now.",
		opts,
	};
	struct fy_clone_opts co = { 0 };
	const char *ca_bundle = NULL;
	struct fy_clone_stats st = { 0 };
	struct fy_store *s = NULL;
	struct fy_oci_ref oref;
	char repo[FY_REPO_MAX + 1];
	char ep[2048], urev[256];
	char before[FY_REV_ID_LEN + 1], after[FY_REV_ID_LEN + 1];
	const char *rev = NULL;
	struct fy_err err;
	bool oci = false;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 1, repo, &rev, &s);
	if (r < 0)
		r = fy_cli_transfer_check(cli, jobs, retries, stall, &ca_bundle);
	if (r < 0 && (rev == NULL || strcmp(rev, "main") == 0) &&
	    fy_store_resolve(s, repo, rev, before, &err) == FY_OK)
		oci = fy_oci_origin(s, repo, before, &oref, &err) == FY_OK;
	if (r < 0 && !oci &&
	    origin_of(s, repo, rev, ep, sizeof(ep), urev, sizeof(urev), before, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r >= 0)
		goto out;
	if (token == NULL)
		token = getenv(oci ? "FERRY_OCI_TOKEN" : "HF_TOKEN");
	co = (struct fy_clone_opts){ .endpoint = oci	    ? ""
						 : endpoint ? endpoint
							    : ep,
				     .token = token,
				     .ca_bundle = ca_bundle,
				     .rev = oci ? NULL : urev,
				     .jobs = (int)jobs,
				     .retries = (int)retries,
				     .stall_s = (int)stall,
				     .progress = fy_cli_progress,
				     .transfer = fy_cli_transfer,
				     .wait_fn = fy_cli_lock_wait,
				     .ctx = cli };
	if (oci) {
		co.username = user;
		co.password = getenv("FERRY_OCI_PASSWORD");
		r = pull_oci(cli, s, repo, &oref, &co, before);
		goto out;
	}
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
