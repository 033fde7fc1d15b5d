/* ferry fsck [--repair] [-j N] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <inttypes.h>
#include <stdio.h>

static void finding(void *ctx, enum fy_finding kind, const char *what, const char *msg)
{
	struct fy_cli *cli = ctx;

	if (kind == FY_FINDING_PROBLEM)
		fprintf(stderr, "ferry fsck: %s: %s\n", what, msg);
	else if (!cli->quiet)
		fprintf(stderr, "ferry fsck: note: %s: %s\n", what, msg);
}

static struct fy_json *stats_json(const struct fy_fsck_stats *st, bool clean)
{
	struct fy_json *o = fy_json_object();

	fy_json_set(o, "clean", fy_json_bool(clean));
	fy_json_set(o, "objects", fy_json_integer((int64_t)st->objects));
	fy_json_set(o, "corrupt", fy_json_integer((int64_t)st->corrupt));
	fy_json_set(o, "missing", fy_json_integer((int64_t)st->missing));
	fy_json_set(o, "manifests", fy_json_integer((int64_t)st->manifests));
	fy_json_set(o, "bad_manifests", fy_json_integer((int64_t)st->bad_manifests));
	fy_json_set(o, "refs", fy_json_integer((int64_t)st->refs));
	fy_json_set(o, "dangling_refs", fy_json_integer((int64_t)st->dangling));
	fy_json_set(o, "temp_files", fy_json_integer((int64_t)st->temp_files));
	fy_json_set(o, "quarantined", fy_json_integer((int64_t)st->quarantined));
	return o;
}

int cmd_fsck(struct fy_cli *cli, int argc, char **argv)
{
	bool repair = false;
	long threads = 0;
	const struct fy_opt opts[] = {
		{ "repair", 0, FY_OPT_FLAG, &repair, NULL,
		  "move corrupt objects to quarantine/ (naming the revisions they break) and "
		  "remove stray temp files" },
		{ "jobs", 'j', FY_OPT_INT, &threads, "N", "objects hashed in parallel" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry fsck [--repair] [--json] [-j N]",
		"Checks the whole store: every object hashes to its name, every manifest is\n"
		"well-formed and matches its id, every object a manifest lists exists with the\n"
		"right size, every ref points at an existing revision. Stray temp files (from an\n"
		"interrupted writer) are noted, not counted as problems. Exit status 1 when a\n"
		"problem is found. --repair takes the writer lock.",
		opts,
	};
	struct fy_store *s = NULL;
	struct fy_pool *pool = NULL;
	struct fy_fsck_stats st = { 0 };
	struct fy_err err;
	int npos = 0;
	int rc = FY_OK;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 0, 0, &npos);
	if (r < 0)
		r = fy_cli_pool(cli, threads, &pool);
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r < 0 && repair && fy_store_lock(s, fy_cli_lock_wait, cli, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r < 0) {
		rc = fy_store_fsck(s, pool, repair, finding, cli, &st, &err);
		if (rc != FY_OK && rc != FY_EFORMAT)
			r = fy_cli_fail(cli, &err);
	}
	if (r < 0 && cli->json) {
		fy_cli_print_json(cli, stats_json(&st, rc == FY_OK));
	} else if (r < 0 && !cli->quiet) {
		printf("fsck: %" PRIu64 " objects, %" PRIu64 " manifests, %" PRIu64 " refs: %s\n",
		       st.objects, st.manifests, st.refs, rc == FY_OK ? "clean" : "PROBLEMS FOUND");
		if (st.temp_files > 0)
			printf("fsck: %" PRIu64 " stray temp files%s\n", st.temp_files,
			       repair ? " removed" : " (fsck --repair removes them)");
	}
	if (r < 0)
		r = rc == FY_OK ? FY_EXIT_OK : FY_EXIT_FAIL;
	fy_store_close(s);
	fy_pool_free(pool);
	return r;
}
