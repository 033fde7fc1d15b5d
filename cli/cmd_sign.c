/* ferry sign REPO[@REV] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>

int cmd_sign(struct fy_cli *cli, int argc, char **argv)
{
	static const struct fy_usage usage = {
		"ferry sign REPO[@REV]",
		"Signs a revision's manifest with this store's key ('ferry key generate'). The\n"
		"signature covers the manifest's bytes, which name every file's digests; a new\n"
		"signature by the same key replaces the old one. 'ferry verify' checks them.",
		NULL,
	};
	struct fy_store *s = NULL;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	char keyid[FY_KEYID_LEN + 1];
	const char *rev = NULL;
	struct fy_err err;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 1, repo, &rev, &s);
	if (r < 0 && (fy_store_resolve(s, repo, rev, id, &err) != FY_OK ||
		      fy_store_lock(s, fy_cli_lock_wait, cli, &err) != FY_OK ||
		      fy_store_sign(s, repo, id, keyid, &err) != FY_OK))
		r = fy_cli_fail(cli, &err);
	if (r < 0) {
		if (!cli->quiet)
			printf("signed %s@%.12s with key %s\n", repo, id, keyid);
		r = FY_EXIT_OK;
	}
	fy_store_close(s);
	return r;
}
