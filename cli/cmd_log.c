/* ferry log REPO[@REV] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <string.h>

static struct fy_json *entry(const struct fy_revision *r)
{
	struct fy_json *o = fy_json_object();

	fy_json_set(o, "id", fy_json_string(r->id));
	fy_json_set(o, "parent", r->parent[0] ? fy_json_string(r->parent) : fy_json_null());
	fy_json_set(o, "created", fy_json_string(r->created));
	fy_json_set(o, "message", fy_json_string(r->message));
	fy_json_set(o, "files", fy_json_integer((int64_t)r->n_files));
	fy_json_set(o, "size", fy_json_integer((int64_t)r->total_size));
	return o;
}

static void print_entry(const struct fy_revision *r)
{
	char size[32];

	printf("revision %s\ncreated  %s\nfiles    %zu, %s\n\n    %s\n\n", r->id, r->created,
	       r->n_files, fy_fmt_bytes(size, sizeof(size), r->total_size), r->message);
}

int cmd_log(struct fy_cli *cli, int argc, char **argv)
{
	static const struct fy_usage usage = {
		"ferry log REPO[@REV] [--json]",
		"The history of REPO's main branch (or of REV), newest first, following each\n"
		"revision's parent. A parent removed with 'ferry rm' ends the listing with a note.",
		NULL,
	};
	struct fy_store *s = NULL;
	struct fy_revision *rv = NULL;
	struct fy_json *list = fy_json_array();
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	const char *rev = NULL;
	struct fy_err err;
	int guard = 0;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 1, repo, &rev, &s);
	if (r < 0 && fy_store_resolve(s, repo, rev, id, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	while (r < 0 && id[0] != '\0' && guard++ < 1000000) {
		if (fy_revision_load(s, repo, id, &rv, &err) != FY_OK) {
			if (err.code != FY_ENOTFOUND || guard == 1)
				r = fy_cli_fail(cli, &err);
			else if (!cli->json && !cli->quiet)
				printf("(parent %s is not in the store)\n", id);
			break;
		}
		if (cli->json)
			fy_json_push(list, entry(rv));
		else if (!cli->quiet)
			print_entry(rv);
		memcpy(id, rv->parent, sizeof(id));
		fy_revision_free(rv);
		rv = NULL;
	}
	if (r < 0 && cli->json) {
		r = fy_cli_print_json(cli, list);
		list = NULL;
	}
	fy_json_free(list);
	fy_store_close(s);
	return r < 0 ? FY_EXIT_OK : r;
}
