/* ferry version (and ferry --version) */
#include "cli/cli.h"

int cmd_version(struct fy_cli *cli, int argc, char **argv)
{
	static const struct fy_usage usage = { "ferry version", NULL, NULL };
	int npos = 0;
	int r;

	if (argc > 1 || cli->verb != NULL) {
		r = fy_cli_parse(cli, &usage, argc, argv, 0, 0, &npos);
		if (r >= 0)
			return r;
	}
	printf("ferry %s\n", FY_VERSION);
	return FY_EXIT_OK;
}
