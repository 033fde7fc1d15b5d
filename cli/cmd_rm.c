/* ferry rm REPO[@REV] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <string.h>

int cmd_rm(struct fy_cli *cli, int argc, char **argv)
{
	static const struct fy_usage usage = {
		"ferry rm REPO[@REV]",
		"Without REV: removes the repository (refs, revisions, signatures). With a tag:\n"
		"removes the tag. With a revision id: removes that revision and the tags at it\n"
		"(refused while a branch points at it). Objects stay until 'ferry gc'.",
		NULL,
	};
	struct fy_store *s = NULL;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	char ref[256];
	const char *rev = NULL;
	const char *what = "repository";
	struct fy_err err;
	int rc = FY_OK;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 1, repo, &rev, &s);
	if (r >= 0)
		goto out;
	rc = fy_store_lock(s, fy_cli_lock_wait, cli, &err);
	snprintf(ref, sizeof(ref), "tags/%s", rev ? rev : "");
	if (rc == FY_OK && rev == NULL) {
		rc = fy_store_rm_repo(s, repo, &err);
	} else if (rc == FY_OK && fy_store_read_ref(s, repo, ref, id, &err) == FY_OK) {
		what = "tag";
		rc = fy_store_delete_ref(s, repo, ref, &err);
	} else if (rc == FY_OK) {
		what = "revision";
		rc = fy_store_resolve(s, repo, rev, id, &err);
		if (rc == FY_OK)
			rc = fy_store_rm_revision(s, repo, id, &err);
	}
	if (rc != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->quiet)
		printf("removed %s %s%s%s\n", what, repo, rev ? "@" : "", rev ? rev : "");
	r = FY_EXIT_OK;
out:
	fy_store_close(s);
	return r;
}
