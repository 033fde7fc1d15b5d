/* ferry help [VERB] */
#include "cli/cli.h"

#include <string.h>

int cmd_help(struct fy_cli *cli, int argc, char **argv)
{
	static const struct fy_usage usage = {
		"ferry help [VERB]",
		"Without a verb, lists the verbs; with one, shows that verb's usage and options\n"
		"(the same as 'ferry VERB --help').",
		NULL,
	};
	const struct fy_command *cmd;
	char *sub[] = { NULL, "--help", NULL };
	int npos = 0;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 0, 1, &npos);
	if (r >= 0)
		return r;
	if (npos == 0) {
		fy_cli_print_main_help(stdout);
		return FY_EXIT_OK;
	}
	cmd = fy_cli_find_command(argv[0]);
	if (cmd == NULL)
		return fy_cli_usage_error(cli, "'%s' is not a ferry verb", argv[0]);
	cli->verb = cmd->name;
	sub[0] = argv[0];
	return cmd->fn(cli, 2, sub);
}
