/* ferry add REPO DIR [-m MSG] [-j N] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>

int cmd_add(struct fy_cli *cli, int argc, char **argv)
{
	const char *message = NULL;
	long threads = 0;
	const struct fy_opt opts[] = {
		{ "message", 'm', FY_OPT_STRING, &message, "MSG",
		  "the revision's message (default: \"add DIR\")" },
		{ "jobs", 'j', FY_OPT_INT, &threads, "N",
		  "files copied in parallel (default: one per CPU)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry add REPO DIR [-m MSG] [-j N]",
		"Imports the Hugging Face-format directory DIR as a new revision of REPO\n"
		"(NAMESPACE/NAME) on its main branch. Each file is read once: hashed (SHA-256 and\n"
		"git blob id) while copied into the store, identical content stored once. The\n"
		"revision id is a git commit id of the files, the parent and the message, so the\n"
		"same input gives the same id. Symlinks are followed; .git and a top-level .cache\n"
		"are skipped. An interrupted add leaves no revision; running it again completes.",
		opts,
	};
	struct fy_add_opts ao = { 0 };
	struct fy_store *s = NULL;
	struct fy_pool *pool = NULL;
	struct fy_revision *rev = NULL;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *at = NULL;
	char size[32];
	struct fy_err err;
	bool unchanged = false;
	int npos = 0;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 2, 2, &npos);
	if (r < 0)
		r = fy_cli_split_rev(cli, argv[0], repo, sizeof(repo), &at);
	if (r < 0 && at != NULL)
		r = fy_cli_usage_error(cli, "add takes a repository, not a revision");
	if (r < 0)
		r = fy_cli_pool(cli, threads, &pool);
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r >= 0)
		goto out;
	ao = (struct fy_add_opts){ message, pool, fy_cli_progress, fy_cli_lock_wait, cli };
	if (fy_store_add(s, repo, argv[1], &ao, id, &unchanged, &err) != FY_OK ||
	    fy_revision_load(s, repo, id, &rev, &err) != FY_OK) {
		fy_cli_progress_done(cli);
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	fy_cli_progress_done(cli);
	if (!cli->quiet)
		printf(unchanged ? "%s@%s: no change (%zu files, %s)\n" : "%s@%s: %zu files, %s\n",
		       repo, id, rev->n_files, fy_fmt_bytes(size, sizeof(size), rev->total_size));
	r = FY_EXIT_OK;
out:
	fy_revision_free(rev);
	fy_store_close(s);
	fy_pool_free(pool);
	return r;
}
