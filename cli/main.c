/*
 * ferry's entry point: global options, the command table, dispatch.
 *
 *   ferry [--store DIR] [--json] [-q] [-v] [--no-progress] VERB [ARGS...]
 *   ferry --version | ferry help [VERB] | ferry VERB --help
 */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct fy_command fy_commands[] = {
#define FY_COMMAND(name, fn, flags, summary) { #name, fn, flags, summary },
#include "cli/commands.def"
#undef FY_COMMAND
	{ NULL, NULL, 0, NULL },
};

const struct fy_command *fy_cli_find_command(const char *name)
{
	const struct fy_command *c;

	for (c = fy_commands; c->name != NULL; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a);
	size_t lb = strlen(b);
	size_t d[33][33];
	size_t i;
	size_t j;

	if (la > 32 || lb > 32)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

static int unknown_verb(const char *verb)
{
	const struct fy_command *c;
	size_t best = 3;
	size_t d;

	fprintf(stderr, "ferry: '%s' is not a ferry verb. See 'ferry help'.\n", verb);
	for (c = fy_commands; c->name != NULL; c++) {
		d = edit_distance(verb, c->name);
		if (strncmp(verb, c->name, strlen(verb)) == 0 && strlen(verb) >= 2)
			d = 1;
		if (d < best)
			best = d;
	}
	if (best >= 3)
		return FY_EXIT_USAGE;
	fprintf(stderr, "\nThe most similar verb%s:\n", "");
	for (c = fy_commands; c->name != NULL; c++) {
		d = edit_distance(verb, c->name);
		if (strncmp(verb, c->name, strlen(verb)) == 0 && strlen(verb) >= 2)
			d = 1;
		if (d == best)
			fprintf(stderr, "\t%s\n", c->name);
	}
	return FY_EXIT_USAGE;
}

static void resolve_store(struct fy_cli *cli)
{
	static char buf[4096];
	const char *home;

	if (cli->store != NULL)
		return;
	cli->store = getenv("FERRY_HOME");
	if (cli->store != NULL && cli->store[0] != '\0')
		return;
	cli->store = NULL;
	home = getenv("HOME");
	if (home == NULL || home[0] == '\0')
		return;
	snprintf(buf, sizeof(buf), "%s/.local/share/ferry", home);
	cli->store = buf;
}

void fy_cli_print_global_options(FILE *to)
{
	fprintf(to,
		"Global options (before or after the verb):\n"
		"  --store DIR     the store (default: $FERRY_HOME, else ~/.local/share/ferry)\n"
		"  --json          print data as JSON on stdout\n"
		"  -q, --quiet     print nothing but errors\n"
		"  -v, --verbose   say more (repeat for more)\n"
		"  --no-progress   no progress bars (also off when stderr is not a terminal)\n"
		"  -h, --help      help for ferry or the verb\n"
		"  --version       print the version\n");
}

void fy_cli_print_main_help(FILE *to)
{
	const struct fy_command *c;

	fprintf(to,
		"usage: ferry [global options] VERB [ARGS...]\n\n"
		"ferry fetches, verifies, stores, inspects, converts (HF <-> GGUF: Llama, Qwen,\n"
		"DeepSeek, Kimi, GLM, MiniMax), re-quantizes, runs and smoke-tests, publishes\n"
		"with a signed index, serves (hub API and OCI registry), pushes to and clones\n"
		"from OCI registries, carries across air gaps as signed bundles and installs\n"
		"model repositories (HF cache, folders, Ollama) for sovereign model mirrors.\n\n"
		"Verbs:\n");
	for (c = fy_commands; c->name != NULL; c++)
		fprintf(to, "  %-10s %s\n", c->name, c->summary);
	fprintf(to, "\n");
	fy_cli_print_global_options(to);
	fprintf(to, "\n'ferry help VERB' or 'ferry VERB --help' shows a verb's options.\n");
}

int main(int argc, char **argv)
{
	struct fy_cli cli;
	const struct fy_command *cmd;
	int i = 1;
	int r;

	memset(&cli, 0, sizeof(cli));
	cli.progress = isatty(STDERR_FILENO);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--version") == 0)
			return cmd_version(&cli, 1, argv);
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fy_cli_print_main_help(stdout);
			return FY_EXIT_OK;
		}
		r = fy_cli_global_opt(&cli, argc, argv, &i);
		if (r < 0)
			return FY_EXIT_USAGE;
		if (r == 0) {
			fprintf(stderr, "ferry: unknown option '%s'. See 'ferry help'.\n", argv[i]);
			return FY_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fy_cli_print_main_help(stderr);
		return FY_EXIT_USAGE;
	}
	cmd = fy_cli_find_command(argv[i]);
	if (cmd == NULL)
		return unknown_verb(argv[i]);
	cli.verb = cmd->name;
	resolve_store(&cli);
	if ((cmd->flags & FY_CMD_STORE) && cli.store == NULL) {
		fprintf(stderr, "ferry %s: no store: set --store DIR, FERRY_HOME or HOME\n",
			cmd->name);
		return FY_EXIT_USAGE;
	}
	return cmd->fn(&cli, argc - i, argv + i);
}
