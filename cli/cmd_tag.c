/* ferry tag REPO@REV NAME [--force] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>

int cmd_tag(struct fy_cli *cli, int argc, char **argv)
{
	bool force = false;
	const struct fy_opt opts[] = {
		{ "force", 'f', FY_OPT_FLAG, &force, NULL, "move an existing tag" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry tag REPO[@REV] NAME [--force]",
		"Names a revision (default: main's head). Tags resolve wherever a revision is\n"
		"expected (REPO@NAME). An existing tag is moved only with --force.",
		opts,
	};
	struct fy_store *s = NULL;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	char old[FY_REV_ID_LEN + 1];
	char ref[256];
	const char *rev = NULL;
	struct fy_err err;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 2, repo, &rev, &s);
	if (r < 0)
		snprintf(ref, sizeof(ref), "tags/%s", argv[1]);
	if (r < 0 && (fy_store_resolve(s, repo, rev, id, &err) != FY_OK ||
		      fy_store_lock(s, fy_cli_lock_wait, cli, &err) != FY_OK))
		r = fy_cli_fail(cli, &err);
	if (r < 0 && !force && fy_store_read_ref(s, repo, ref, old, &err) == FY_OK) {
		fy_err_set(&err, FY_EEXIST, "%s: tag '%s' exists (at %.12s); --force moves it",
			   repo, argv[1], old);
		r = fy_cli_fail(cli, &err);
	}
	if (r < 0 && fy_store_write_ref(s, repo, ref, id, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r < 0) {
		if (!cli->quiet)
			printf("%s@%s -> %.12s\n", repo, argv[1], id);
		r = FY_EXIT_OK;
	}
	fy_store_close(s);
	return r;
}
