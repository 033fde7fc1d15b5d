/* Option parsing from declarative tables, usage and error printing. */
#include "cli/cli.h"
#include "convert/convert.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Matches argv[*i] against opt; on a match stores the value, advancing past an argument. */
static int match_opt(const struct fy_cli *cli, const struct fy_opt *o, int argc, char **argv,
		     int *i)
{
	const char *a = argv[*i];
	const char *val = NULL;
	size_t n = strlen(o->name);
	char *end;
	long v;

	if (a[1] == '-' && strncmp(a + 2, o->name, n) == 0 && (a[2 + n] == '\0' || a[2 + n] == '='))
		val = a[2 + n] == '=' ? a + 3 + n : NULL;
	else if (!(o->short_name && a[1] == o->short_name && a[2] == '\0'))
		return 0;
	if (o->kind == FY_OPT_FLAG) {
		if (val != NULL)
			return fy_cli_usage_error(cli, "option '--%s' takes no value", o->name), -1;
		*(bool *)o->dest = true;
		return 1;
	}
	if (val == NULL) {
		if (*i + 1 >= argc)
			return fy_cli_usage_error(cli, "option '%s' needs a value", a), -1;
		val = argv[++*i];
	}
	if (o->kind == FY_OPT_STRING) {
		*(const char **)o->dest = val;
		return 1;
	}
	if (o->kind == FY_OPT_LIST) {
		struct fy_opt_list *l = o->dest;

		if (l->n >= FY_OPT_LIST_MAX)
			return fy_cli_usage_error(cli, "option '--%s' given more than %d times",
						  o->name, FY_OPT_LIST_MAX),
			       -1;
		l->v[l->n++] = val;
		return 1;
	}
	errno = 0;
	v = strtol(val, &end, 10);
	if (errno != 0 || end == val || *end != '\0')
		return fy_cli_usage_error(cli, "option '--%s' needs an integer, not '%s'", o->name,
					  val),
		       -1;
	*(long *)o->dest = v;
	return 1;
}

int fy_cli_global_opt(struct fy_cli *cli, int argc, char **argv, int *i)
{
	bool json = false, quiet = false, verbose = false, no_progress = false;
	const char *store = NULL;
	const struct fy_opt globals[] = {
		{ "store", 0, FY_OPT_STRING, &store, "DIR", NULL },
		{ "json", 0, FY_OPT_FLAG, &json, NULL, NULL },
		{ "quiet", 'q', FY_OPT_FLAG, &quiet, NULL, NULL },
		{ "verbose", 'v', FY_OPT_FLAG, &verbose, NULL, NULL },
		{ "no-progress", 0, FY_OPT_FLAG, &no_progress, NULL, NULL },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_opt *o;
	int r;

	for (o = globals; o->name != NULL; o++) {
		r = match_opt(cli, o, argc, argv, i);
		if (r != 0) {
			(*i)++;
			if (r < 0)
				return -1;
			cli->store = store ? store : cli->store;
			cli->json |= json;
			cli->quiet |= quiet;
			cli->verbose += verbose;
			cli->progress = cli->progress && !no_progress;
			cli->no_progress |= no_progress;
			return 1;
		}
	}
	return 0;
}

static int parse_one(struct fy_cli *cli, const struct fy_usage *u, int argc, char **argv, int *i)
{
	const struct fy_opt *o;
	int r;

	if (strcmp(argv[*i], "-h") == 0 || strcmp(argv[*i], "--help") == 0) {
		fy_cli_print_usage(cli, u, stdout);
		return FY_EXIT_OK;
	}
	for (o = u->opts; o != NULL && o->name != NULL; o++) {
		r = match_opt(cli, o, argc, argv, i);
		if (r < 0)
			return FY_EXIT_USAGE;
		if (r > 0) {
			(*i)++;
			return -1;
		}
	}
	r = fy_cli_global_opt(cli, argc, argv, i);
	if (r < 0)
		return FY_EXIT_USAGE;
	if (r > 0)
		return -1;
	return fy_cli_usage_error(cli, "unknown option '%s'", argv[*i]);
}

int fy_cli_parse(struct fy_cli *cli, const struct fy_usage *u, int argc, char **argv, int min_pos,
		 int max_pos, int *npos)
{
	bool only_pos = false;
	int n = 0;
	int i = 1;
	int r;

	while (i < argc) {
		if (!only_pos && strcmp(argv[i], "--") == 0) {
			only_pos = true;
			i++;
		} else if (!only_pos && argv[i][0] == '-' && argv[i][1] != '\0') {
			r = parse_one(cli, u, argc, argv, &i);
			if (r >= 0)
				return r;
		} else {
			argv[n++] = argv[i++];
		}
	}
	if (n < min_pos)
		return fy_cli_usage_error(cli, "missing argument");
	if (max_pos >= 0 && n > max_pos)
		return fy_cli_usage_error(cli, "unexpected argument '%s'", argv[max_pos]);
	*npos = n;
	return -1;
}

void fy_cli_print_usage(const struct fy_cli *cli, const struct fy_usage *u, FILE *to)
{
	const struct fy_command *c = fy_cli_find_command(cli->verb);
	const struct fy_opt *o;
	char left[64];

	fprintf(to, "usage: %s\n\n", u->synopsis);
	if (c != NULL)
		fprintf(to, "%s.\n", c->summary);
	if (u->description != NULL)
		fprintf(to, "\n%s\n", u->description);
	if (u->opts != NULL && u->opts->name != NULL) {
		fprintf(to, "\nOptions:\n");
		for (o = u->opts; o->name != NULL; o++) {
			snprintf(left, sizeof(left), "%s%c%s--%s%s%s", o->short_name ? "-" : "",
				 o->short_name ? o->short_name : ' ', o->short_name ? ", " : " ",
				 o->name, o->arg ? " " : "", o->arg ? o->arg : "");
			fprintf(to, "  %-24s %s\n", o->short_name ? left : left + 2, o->help);
		}
	}
	fprintf(to, "\n");
	fy_cli_print_global_options(to);
}

int fy_cli_fail(struct fy_cli *cli, const struct fy_err *err)
{
	cli->failed = err->code;
	fprintf(stderr, "ferry %s: %s\n", cli->verb ? cli->verb : "", err->msg);
	return FY_EXIT_FAIL;
}

int fy_cli_usage_error(const struct fy_cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ferry %s: ", cli->verb ? cli->verb : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'ferry %s --help')\n", cli->verb ? cli->verb : "");
	return FY_EXIT_USAGE;
}

int fy_cli_split_opts(const struct fy_cli *cli, const char *max_size, long max_tensors,
		      struct fy_gguf_split_opts *out)
{
	memset(out, 0, sizeof(*out));
	if (max_tensors < 0 || max_tensors > INT32_MAX)
		return fy_cli_usage_error(cli, "--split-max-tensors: a count of 1 or more");
	out->max_tensors = (int)max_tensors;
	if (max_size == NULL)
		return -1;
	char *end = NULL;
	errno = 0;
	const unsigned long long n = strtoull(max_size, &end, 10);
	const uint64_t unit = end != NULL && strcmp(end, "M") == 0   ? 1000ull * 1000
			      : end != NULL && strcmp(end, "G") == 0 ? 1000ull * 1000 * 1000
								     : 0;
	if (end == max_size || errno != 0 || n == 0 || unit == 0 || max_size[0] == '-' ||
	    !fy_mul_u64(n, unit, &out->max_bytes))
		return fy_cli_usage_error(cli,
					  "--split-max-size '%s': a positive size in M or G "
					  "(decimal, as llama-gguf-split reads it), e.g. 50G",
					  max_size);
	return -1;
}
