/* ferry init [DIR] */
#include "cli/cli.h"
#include "mirror/mirror.h"

int cmd_init(struct fy_cli *cli, int argc, char **argv)
{
	static const struct fy_usage usage = {
		"ferry init [DIR]",
		"Creates a store in DIR (default: --store, else $FERRY_HOME, else\n"
		"~/.local/share/ferry). Running it on an existing store changes nothing.\n"
		"Layout: docs/STORE.md.",
		NULL,
	};
	const char *dir;
	struct fy_err err;
	bool created = false;
	int npos = 0;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 0, 1, &npos);
	if (r >= 0)
		return r;
	dir = npos == 1 ? argv[0] : cli->store;
	if (dir == NULL)
		return fy_cli_usage_error(cli, "no store: give DIR, --store, FERRY_HOME or HOME");
	if (fy_store_init(dir, &created, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	if (!cli->quiet)
		printf(created ? "initialized an empty ferry store in %s\n"
			       : "%s is a ferry store already\n",
		       dir);
	return FY_EXIT_OK;
}
