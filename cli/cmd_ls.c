/* ferry ls [REPO[@REV]] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <string.h>

/* One repository's summary row (JSON). */
static struct fy_json *repo_row(struct fy_store *s, const char *repo)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *tags = fy_json_array();
	struct fy_revision *r = NULL;
	char **refs = NULL;
	size_t n = 0;
	size_t i;
	char id[FY_REV_ID_LEN + 1];
	struct fy_err err;

	fy_json_set(o, "repo", fy_json_string(repo));
	if (fy_store_resolve(s, repo, "main", id, &err) == FY_OK &&
	    fy_revision_load(s, repo, id, &r, &err) == FY_OK) {
		fy_json_set(o, "main", fy_json_string(id));
		fy_json_set(o, "files", fy_json_integer((int64_t)r->n_files));
		fy_json_set(o, "size", fy_json_integer((int64_t)r->total_size));
		fy_json_set(o, "created", fy_json_string(r->created));
	} else {
		fy_json_set(o, "error", fy_json_string(err.msg));
	}
	fy_revision_free(r);
	if (fy_store_list_refs(s, repo, &refs, &n, &err) == FY_OK) {
		for (i = 0; i < n; i++) {
			if (strncmp(refs[i], "tags/", 5) == 0)
				fy_json_push(tags, fy_json_string(refs[i] + 5));
		}
	}
	fy_names_free(refs, n);
	fy_json_set(o, "tags", tags);
	return o;
}

static int list_repos(struct fy_cli *cli, struct fy_store *s)
{
	struct fy_json *rows = fy_json_array();
	char **repos = NULL;
	size_t n = 0;
	size_t i, t;
	struct fy_err err;
	char size[32];
	int64_t files = 0, bytes = 0;

	if (fy_store_list_repos(s, &repos, &n, &err) != FY_OK) {
		fy_json_free(rows);
		return fy_cli_fail(cli, &err);
	}
	for (i = 0; i < n; i++)
		fy_json_push(rows, repo_row(s, repos[i]));
	fy_names_free(repos, n);
	if (cli->json)
		return fy_cli_print_json(cli, rows);
	for (i = 0; i < fy_json_size(rows) && !cli->quiet; i++) {
		const struct fy_json *o = fy_json_at(rows, i);
		const struct fy_json *tags = fy_json_get(o, "tags");

		files = bytes = 0;
		fy_json_int(fy_json_get(o, "files"), &files);
		fy_json_int(fy_json_get(o, "size"), &bytes);
		printf("%-40s %.12s %6lld files %10s", fy_json_str(fy_json_get(o, "repo")),
		       fy_json_str(fy_json_get(o, "main")) ? fy_json_str(fy_json_get(o, "main"))
							   : "(no main)",
		       (long long)files, fy_fmt_bytes(size, sizeof(size), (uint64_t)bytes));
		for (t = 0; t < fy_json_size(tags); t++)
			printf("%s%s", t ? ", " : "  tags: ", fy_json_str(fy_json_at(tags, t)));
		printf("\n");
	}
	fy_json_free(rows);
	return FY_EXIT_OK;
}

static int list_files(struct fy_cli *cli, struct fy_store *s, const char *repo, const char *rev)
{
	struct fy_revision *r = NULL;
	struct fy_json *rows;
	char id[FY_REV_ID_LEN + 1];
	struct fy_err err;
	char size[32];
	size_t i;

	if (fy_store_resolve(s, repo, rev, id, &err) != FY_OK ||
	    fy_revision_load(s, repo, id, &r, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	if (cli->json) {
		rows = fy_json_array();
		for (i = 0; i < r->n_files; i++) {
			struct fy_json *o = fy_json_object();

			fy_json_set(o, "path", fy_json_string(r->files[i].path));
			fy_json_set(o, "size", fy_json_integer((int64_t)r->files[i].size));
			fy_json_set(o, "lfs", fy_json_bool(r->files[i].lfs));
			fy_json_push(rows, o);
		}
		fy_revision_free(r);
		return fy_cli_print_json(cli, rows);
	}
	for (i = 0; i < r->n_files && !cli->quiet; i++)
		printf("%10s %s %s\n", fy_fmt_bytes(size, sizeof(size), r->files[i].size),
		       r->files[i].lfs ? "lfs" : "   ", r->files[i].path);
	fy_revision_free(r);
	return FY_EXIT_OK;
}

int cmd_ls(struct fy_cli *cli, int argc, char **argv)
{
	static const struct fy_usage usage = {
		"ferry ls [REPO[@REV]] [--json]",
		"Without REPO: every repository in the store with its main revision, file count,\n"
		"size and tags. With REPO: the files of its main revision (or of REV: a branch,\n"
		"tag, revision id or unique id prefix), with sizes and LFS flags.",
		NULL,
	};
	struct fy_store *s = NULL;
	char repo[FY_REPO_MAX + 1];
	const char *rev = NULL;
	int npos = 0;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 0, 1, &npos);
	if (r < 0 && npos == 1)
		r = fy_cli_split_rev(cli, argv[0], repo, sizeof(repo), &rev);
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r < 0)
		r = npos == 0 ? list_repos(cli, s) : list_files(cli, s, repo, rev);
	fy_store_close(s);
	return r;
}
