/* ferry gc [--dry-run] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <inttypes.h>
#include <stdio.h>

int cmd_gc(struct fy_cli *cli, int argc, char **argv)
{
	bool dry = false;
	const struct fy_opt opts[] = {
		{ "dry-run", 'n', FY_OPT_FLAG, &dry, NULL, "only count what would be removed" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry gc [--dry-run]",
		"Removes the objects that no revision manifest in the store references. It holds\n"
		"the writer lock throughout, so a concurrent add waits and cannot lose objects.",
		opts,
	};
	struct fy_store *s = NULL;
	uint64_t objects = 0, bytes = 0;
	struct fy_err err;
	char size[32];
	int npos = 0;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 0, 0, &npos);
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r < 0 && fy_store_gc(s, dry, fy_cli_lock_wait, cli, &objects, &bytes, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r < 0 && cli->json) {
		struct fy_json *o = fy_json_object();

		fy_json_set(o, "dry_run", fy_json_bool(dry));
		fy_json_set(o, "objects", fy_json_integer((int64_t)objects));
		fy_json_set(o, "bytes", fy_json_integer((int64_t)bytes));
		r = fy_cli_print_json(cli, o);
	} else if (r < 0) {
		if (!cli->quiet)
			printf("gc: %s %" PRIu64 " unreferenced objects (%s)\n",
			       dry ? "would remove" : "removed", objects,
			       fy_fmt_bytes(size, sizeof(size), bytes));
		r = FY_EXIT_OK;
	}
	fy_store_close(s);
	return r;
}
