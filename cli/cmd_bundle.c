/* ferry bundle create [REPO[@REV]...] [--since BUNDLE|ID] -o FILE | verify FILE | import FILE */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TARGETS 64
#define PLURAL(n) ((n) == 1 ? "" : "s")

/* "700M", "4G", "4GiB", "1048576": bytes (binary units). */
static bool parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	char *end;
	unsigned long long v;
	int shift = 0;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	if (*end != '\0') {
		u = strchr(units, end[0] & ~0x20);
		if (u == NULL)
			return false;
		shift = 10 * (int)(u - units + 1);
		end++;
		if (strcasecmp(end, "") != 0 && strcasecmp(end, "B") != 0 &&
		    strcasecmp(end, "iB") != 0)
			return false;
	}
	if (v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static void print_stats(struct fy_cli *cli, const char *verb, const char *path,
			const struct fy_bundle_stats *st)
{
	char size[32], packed[32];

	if (cli->json) {
		struct fy_json *o = fy_json_object();

		fy_json_set(o, "bundle", fy_json_string(st->id));
		fy_json_set(o, "file", fy_json_string(path));
		fy_json_set(o, "base", st->base[0] ? fy_json_string(st->base) : fy_json_null());
		fy_json_set(o, "index_version", fy_json_integer((int64_t)st->index_version));
		fy_json_set(o, "revisions", fy_json_integer((int64_t)st->revisions));
		fy_json_set(o, "objects", fy_json_integer((int64_t)st->objects));
		fy_json_set(o, "objects_from_base", fy_json_integer((int64_t)st->objects_base));
		fy_json_set(o, "bytes", fy_json_integer((int64_t)st->bytes));
		fy_json_set(o, "archive_bytes", fy_json_integer((int64_t)st->archive_bytes));
		fy_json_set(o, "volumes", fy_json_integer((int64_t)st->volumes));
		if (strcmp(verb, "import") == 0) {
			fy_json_set(o, "objects_present",
				    fy_json_integer((int64_t)st->objects_present));
			fy_json_set(o, "revisions_new",
				    fy_json_integer((int64_t)st->revisions_new));
			fy_json_set(o, "refs_moved", fy_json_integer((int64_t)st->refs));
		}
		fy_cli_print_json(cli, o);
		return;
	}
	if (cli->quiet)
		return;
	fy_fmt_bytes(size, sizeof(size), st->bytes);
	fy_fmt_bytes(packed, sizeof(packed), st->archive_bytes);
	printf("bundle %.12s (index version %llu%s%.12s): %zu revision%s, %zu object%s (%s; %s "
	       "compressed, %zu volume%s)",
	       st->id, (unsigned long long)st->index_version, st->base[0] ? ", on bundle " : "",
	       st->base, st->revisions, PLURAL(st->revisions), st->objects, PLURAL(st->objects),
	       size, packed, st->volumes, PLURAL(st->volumes));
	if (st->objects_base > 0)
		printf(", %zu object%s from the base", st->objects_base, PLURAL(st->objects_base));
	if (strcmp(verb, "create") == 0)
		printf("\nwritten to %s\n", path);
	else if (strcmp(verb, "verify") == 0)
		printf("\nok: signature, index, manifests and every object check out\n");
	else
		printf("\nimported: %zu object%s written (%zu already in the store), %zu new "
		       "revision%s, %zu ref%s moved\n",
		       st->objects - st->objects_present, PLURAL(st->objects - st->objects_present),
		       st->objects_present, st->revisions_new, PLURAL(st->revisions_new), st->refs,
		       PLURAL(st->refs));
}

int cmd_bundle(struct fy_cli *cli, int argc, char **argv)
{
	const char *out = NULL, *since = NULL, *split = NULL;
	bool all = false, allow_expired = false;
	long level = 3, threads = 0;
	const struct fy_opt opts[] = {
		{ "output", 'o', FY_OPT_STRING, &out, "FILE", "create: the bundle to write" },
		{ "all", 0, FY_OPT_FLAG, &all, NULL,
		  "create: every published revision (the default when no REPO is named)" },
		{ "since", 0, FY_OPT_STRING, &since, "BUNDLE|ID",
		  "create: incremental, only the objects that bundle (a file, or the id of one "
		  "made or imported here) lacks" },
		{ "split-size", 0, FY_OPT_STRING, &split, "SIZE",
		  "create: numbered volumes FILE.001, FILE.002… of SIZE bytes (K, M, G, T: "
		  "binary units)" },
		{ "level", 0, FY_OPT_INT, &level, "N", "create: zstd level 1 to 19 (default 3)" },
		{ "threads", 0, FY_OPT_INT, &threads, "N",
		  "create: compression threads (default: one per CPU)" },
		{ "allow-expired", 0, FY_OPT_FLAG, &allow_expired, NULL,
		  "verify, import: accept an expired index (a site with an unreliable clock)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry bundle create [REPO[@REV]...|--all] [--since BUNDLE|ID] -o FILE "
		"[--split-size SIZE] [--level N]\n"
		"ferry bundle verify FILE [--allow-expired]\n"
		"ferry bundle import FILE [--allow-expired]",
		"Carries published revisions across an air gap (docs/BUNDLE.md).\n"
		"create  writes a signed, zstd-compressed tar: bundle.json and its signature, the\n"
		"        mirror's signed index, the manifests, then the objects (with --since,\n"
		"        only those the base bundle lacks). REPO takes every published revision\n"
		"        of it, REPO@REV one.\n"
		"verify  checks every volume, the signature (a trusted key), the index (expiry,\n"
		"        rollback), every manifest and object, without changing the store.\n"
		"import  checks the same while streaming and commits manifests and refs only\n"
		"        when all of it checks out; an interrupted import resumes, and importing\n"
		"        twice changes nothing. FILE may be the first volume (FILE.001).",
		opts,
	};
	struct fy_bundle_target targets[MAX_TARGETS];
	char repos[MAX_TARGETS][FY_REPO_MAX + 1];
	struct fy_bundle_opts bo = { 0 };
	struct fy_bundle_stats st;
	struct fy_store *s = NULL;
	struct fy_err err;
	const char *path = NULL;
	int npos = 0, i;
	int r, rc;

	r = fy_cli_parse(cli, &usage, argc, argv, 1, MAX_TARGETS + 1, &npos);
	if (r >= 0)
		return r;
	bo.level = (int)level;
	bo.threads = (int)threads;
	bo.allow_expired = allow_expired;
	bo.progress = fy_cli_progress;
	bo.wait_fn = fy_cli_lock_wait;
	bo.ctx = cli;
	if (strcmp(argv[0], "create") == 0) {
		if (out == NULL)
			return fy_cli_usage_error(cli, "bundle create needs -o FILE");
		if (all && npos > 1)
			return fy_cli_usage_error(cli, "--all or REPO[@REV]..., not both");
		if (level < 1 || level > 19 || threads < 0 || threads > 256)
			return fy_cli_usage_error(cli, "--level needs 1 to 19, --threads 0 to 256");
		if (split != NULL && (!parse_size(split, &bo.split_size) || bo.split_size < 4096))
			return fy_cli_usage_error(cli, "--split-size needs a size of at least 4K "
						       "(e.g. 700M, 4G)");
		for (i = 1; i < npos; i++) {
			const char *rev = NULL;

			r = fy_cli_split_rev(cli, argv[i], repos[i - 1], sizeof(repos[0]), &rev);
			if (r >= 0)
				return r;
			targets[i - 1] = (struct fy_bundle_target){ repos[i - 1], rev };
		}
		bo.targets = targets;
		bo.n_targets = (size_t)(npos - 1);
		bo.since = since;
		path = out;
	} else if (strcmp(argv[0], "verify") == 0 || strcmp(argv[0], "import") == 0) {
		if (npos != 2)
			return fy_cli_usage_error(cli, "bundle %s needs one FILE", argv[0]);
		if (out != NULL || since != NULL || split != NULL || all)
			return fy_cli_usage_error(cli,
						  "-o, --since, --split-size and --all are for "
						  "bundle create");
		path = argv[1];
	} else {
		return fy_cli_usage_error(cli,
					  "unknown bundle command '%s' (create, verify, "
					  "import)",
					  argv[0]);
	}
	r = fy_cli_open_store(cli, &s);
	if (r >= 0)
		return r;
	if (strcmp(argv[0], "create") == 0)
		rc = fy_bundle_create(s, path, &bo, &st, &err);
	else if (strcmp(argv[0], "verify") == 0)
		rc = fy_bundle_verify(s, path, &bo, &st, &err);
	else
		rc = fy_bundle_import(s, path, &bo, &st, NULL, &err);
	fy_cli_progress_done(cli);
	if (rc != FY_OK)
		r = fy_cli_fail(cli, &err);
	else
		print_stats(cli, argv[0], path, &st);
	if (rc == FY_OK && st.unrecorded[0] != '\0')
		fprintf(stderr,
			"ferry bundle: warning: the bundle is complete but not recorded in the "
			"store "
			"(%s): a later --since names it by its file, not its id\n",
			st.unrecorded);
	fy_store_close(s);
	return rc == FY_OK ? FY_EXIT_OK : r;
}
