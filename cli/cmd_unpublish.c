/* ferry unpublish REPO[@REV] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <inttypes.h>
#include <stdio.h>

int cmd_unpublish(struct fy_cli *cli, int argc, char **argv)
{
	long days = 30;
	const struct fy_opt opts[] = {
		{ "expires-days", 0, FY_OPT_INT, &days, "N",
		  "the new index expires after N days (default 30)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry unpublish REPO[@REV]",
		"Removes a revision (REPO@REV), or every revision of a repository (REPO), from\n"
		"the mirror's signed index: a new index version is signed, and 'ferry serve'\n"
		"stops showing it within its refresh interval. Refs that pointed at the revision\n"
		"go; the repository's main falls back to its latest revision still published.\n"
		"The revision stays in the store.",
		opts,
	};
	struct fy_publish_opts po = { NULL, 30, fy_cli_lock_wait, cli };
	struct fy_store *s = NULL;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *rev = NULL;
	struct fy_err err;
	uint64_t version = 0;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 1, repo, &rev, &s);
	if (r < 0 && (days < 1 || days > 3650))
		r = fy_cli_usage_error(cli, "--expires-days needs a value from 1 to 3650");
	po.expires_days = (int)days;
	if (r < 0 && rev != NULL && fy_store_resolve(s, repo, rev, id, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r < 0 &&
	    fy_store_unpublish(s, repo, rev != NULL ? id : NULL, &po, &version, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r < 0) {
		if (!cli->quiet)
			printf("unpublished %s%s%.12s (index version %" PRIu64 ")\n", repo,
			       rev ? "@" : "", rev ? id : "", version);
		r = FY_EXIT_OK;
	}
	fy_store_close(s);
	return r;
}
