/* ferry checkout REPO[@REV] DIR [--copy] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>

int cmd_checkout(struct fy_cli *cli, int argc, char **argv)
{
	bool copy = false;
	const struct fy_opt opts[] = {
		{ "copy", 0, FY_OPT_FLAG, &copy, NULL,
		  "always copy (no reflinks or hardlinks to the store's objects)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry checkout REPO[@REV] DIR [--copy]",
		"Writes the files of a revision into DIR (created if needed; files of the same\n"
		"name are replaced). Each file is a reflink of the store's object when the\n"
		"filesystem can (copy on write), else a hardlink (same filesystem; the file is\n"
		"then read-only and shares the object's inode: do not modify it in place), else\n"
		"a copy. Every file appears whole: written under a temp name, then renamed.",
		opts,
	};
	struct fy_store *s = NULL;
	struct fy_revision *rv = NULL;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *rev = NULL;
	size_t how[3] = { 0, 0, 0 };
	struct fy_err err;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 2, repo, &rev, &s);
	if (r < 0 && (fy_store_resolve(s, repo, rev, id, &err) != FY_OK ||
		      fy_revision_load(s, repo, id, &rv, &err) != FY_OK ||
		      fy_store_checkout(s, rv, argv[1], copy ? FY_LINK_COPY : FY_LINK_ANY, how,
					&err) != FY_OK))
		r = fy_cli_fail(cli, &err);
	if (r < 0) {
		if (!cli->quiet && rv != NULL) /* loaded: the analyzer cannot see it */
			printf("%s@%.12s -> %s: %zu files (%zu reflinked, %zu hardlinked, %zu "
			       "copied)\n",
			       repo, id, argv[1], rv->n_files, how[0], how[1], how[2]);
		r = FY_EXIT_OK;
	}
	fy_revision_free(rv);
	fy_store_close(s);
	return r;
}
