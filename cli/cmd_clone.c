/* ferry clone REPO[@REV] [--endpoint URL] [--token T] [--include GLOB]... [--exclude GLOB]... */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From a ferry mirror: the signed index first, then the manifest it pins, then every file. */
static int clone_from(struct fy_store *s, const char *repo, const char *rev,
		      const struct fy_clone_opts *co, bool allow_expired,
		      char id[FY_REV_ID_LEN + 1], struct fy_clone_stats *st, struct fy_err *err)
{
	struct fy_remote rm;
	struct fy_revision *r = NULL;
	struct fy_buf bytes;
	char ref[FY_REF_MAX];
	int rc;

	fy_buf_init(&bytes);
	FY_TRY(rc, fy_remote_open(s, co, allow_expired, &rm, err));
	FY_TRY(rc, fy_remote_resolve(&rm, repo, rev, id, ref, err));
	FY_TRY(rc, fy_remote_manifest(&rm, co, repo, id, &r, &bytes, err));
	FY_TRY(rc, fy_store_fetch_files(s, r, NULL, co, st, err));
	if (ref[0] == '\0') /* a revision named by id moves main, as clone does */
		snprintf(ref, sizeof(ref), "heads/main");
	rc = fy_store_commit_fetched(s, r, &bytes, ref, err);
out:
	fy_remote_close(&rm);
	fy_revision_free(r);
	fy_buf_release(&bytes);
	return rc;
}

/* From an OCI registry: the artifact ferry push wrote (docs/OCI.md). */
static int clone_oci(struct fy_store *s, const char *arg, bool plain_http,
		     const struct fy_clone_opts *co, char repo[FY_REPO_MAX + 1],
		     char id[FY_REV_ID_LEN + 1], struct fy_clone_stats *st, struct fy_err *err)
{
	struct fy_oci_ref ref;
	int rc = fy_oci_ref_parse(arg, plain_http, &ref, err);
	return rc != FY_OK ? rc : fy_oci_pull(s, &ref, NULL, co, repo, id, st, err);
}

int cmd_clone(struct fy_cli *cli, int argc, char **argv)
{
	const char *endpoint = getenv("HF_ENDPOINT"), *token = NULL, *type = "model";
	const char *from = NULL, *user = getenv("FERRY_OCI_USER");
	bool allow_expired = false, plain_http = false;
	struct fy_opt_list include = { { 0 }, 0 }, exclude = { { 0 }, 0 };
	long jobs = 8, retries = 5, stall = 60, range_mb = 32, ranged_min = 64, rate = 0;
	const struct fy_opt opts[] = {
		{ "endpoint", 0, FY_OPT_STRING, &endpoint, "URL",
		  "the hub (default: $HF_ENDPOINT, else https://huggingface.co)" },
		{ "token", 0, FY_OPT_STRING, &token, "TOKEN",
		  "bearer token (default: $HF_TOKEN; for oci://, $FERRY_OCI_TOKEN)" },
		{ "include", 0, FY_OPT_LIST, &include, "GLOB", "only files matching (repeatable)" },
		{ "exclude", 0, FY_OPT_LIST, &exclude, "GLOB", "not files matching (repeatable)" },
		{ "type", 0, FY_OPT_STRING, &type, "model|dataset", "repository type" },
		{ "from", 0, FY_OPT_STRING, &from, "URL",
		  "a ferry mirror: its signed index is checked (trusted key, version, expiry), "
		  "then the manifest it pins, then every file's SHA-256" },
		{ "allow-expired", 0, FY_OPT_FLAG, &allow_expired, NULL,
		  "with --from: accept an expired index (a site with an unreliable clock)" },
		{ "user", 0, FY_OPT_STRING, &user, "NAME",
		  "oci://: the registry's user name (default $FERRY_OCI_USER; the password from "
		  "$FERRY_OCI_PASSWORD)" },
		{ "plain-http", 0, FY_OPT_FLAG, &plain_http, NULL,
		  "oci://: HTTP rather than HTTPS (loopback hosts always use HTTP)" },
		FY_TRANSFER_OPTS(&jobs, &retries, &stall),
		{ "range-size", 0, FY_OPT_INT, &range_mb, "MB",
		  "large files are fetched in ranges of this size (default 32)" },
		{ "ranged-min", 0, FY_OPT_INT, &ranged_min, "MB",
		  "files of at least this size go in ranges, resumable (default 64)" },
		{ "limit-rate", 0, FY_OPT_INT, &rate, "BYTES",
		  "at most this many bytes/s per transfer (default: no limit)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry clone REPO[@REV] [--endpoint URL] [--token TOKEN] [--include GLOB]... "
		"[--exclude GLOB]... [-j N]\n"
		"ferry clone REPO[@REV] --from URL [--allow-expired]\n"
		"ferry clone oci://HOST[:PORT]/NAME[:TAG|@DIGEST] [--user NAME] [--plain-http]",
		"Fetches a revision (a branch, tag, commit or refs/pr/N; default main) from a\n"
		"Hugging Face-compatible hub into the store. Every file is checked against the\n"
		"hub's listing (SHA-256 for LFS files, git blob id for others) before it becomes "
		"an\n"
		"object; the revision keeps the hub's commit id and appears only once every file "
		"is\n"
		"in. LFS files already in the store are not fetched again. Large files go in\n"
		"parallel ranges and a killed clone resumes (docs/CLONE.md). With --from, the\n"
		"source is a ferry mirror and its signed index decides what is trusted\n"
		"(docs/PUBLISH.md). HTTPS certificates are checked against the system's CAs, or\n"
		"the PEM file in $CURL_CA_BUNDLE, $REQUESTS_CA_BUNDLE or $SSL_CERT_FILE (first\n"
		"set); HTTP/2 is used where the server offers it. From oci://, the artifact\n"
		"`ferry push` wrote: ferry's manifest layer names every file, each layer is\n"
		"checked against it, and the revision keeps its id and repository\n"
		"(docs/OCI.md).",
		opts,
	};
	struct fy_clone_opts co = { 0 };
	const char *ca_bundle = NULL;
	struct fy_clone_stats st = { 0 };
	struct fy_store *s = NULL;
	char repo[FY_REPO_MAX + 1] = "";
	char full[FY_REPO_MAX + 16];
	char url[2048];
	char id[FY_REV_ID_LEN + 1];
	char size[32];
	const char *rev = NULL;
	struct fy_err err;
	int npos = 0;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r < 0 && strcmp(type, "model") != 0 && strcmp(type, "dataset") != 0)
		r = fy_cli_usage_error(cli, "--type is model or dataset");
	if (r < 0)
		r = fy_cli_transfer_check(cli, jobs, retries, stall, &ca_bundle);
	if (r < 0 && (range_mb < 1 || range_mb > 4096 || ranged_min < 1 || rate < 0))
		r = fy_cli_usage_error(cli, "--range-size needs 1 to 4096, --ranged-min 1 or more, "
					    "--limit-rate 0 or more");
	if (r < 0 && from != NULL && (include.n > 0 || exclude.n > 0 || strcmp(type, "model") != 0))
		r = fy_cli_usage_error(cli, "--from clones whole model revisions (no --include, "
					    "--exclude or --type)");
	const bool oci = r < 0 && strncmp(argv[0], "oci://", 6) == 0;
	if (r < 0 && oci && (from != NULL || include.n > 0 || exclude.n > 0))
		r = fy_cli_usage_error(cli, "oci:// clones whole revisions (no --from, --include "
					    "or --exclude)");
	if (r < 0 && !oci) {
		snprintf(full, sizeof(full), "%s%s",
			 strcmp(type, "dataset") == 0 ? "datasets/" : "", argv[0]);
		r = fy_cli_split_rev(cli, full, repo, sizeof(repo), &rev);
	}
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r >= 0)
		goto out;
	fy_cli_endpoint(from != NULL ? from : endpoint, url, sizeof(url));
	if (token == NULL) /* $HF_TOKEN is the hub's, $FERRY_OCI_TOKEN a registry's */
		token = getenv(oci ? "FERRY_OCI_TOKEN" : "HF_TOKEN");
	co = (struct fy_clone_opts){ .endpoint = url,
				     .token = token,
				     .ca_bundle = ca_bundle,
				     .rev = rev,
				     .include = include.v,
				     .n_include = include.n,
				     .exclude = exclude.v,
				     .n_exclude = exclude.n,
				     .jobs = (int)jobs,
				     .retries = (int)retries,
				     .stall_s = (int)stall,
				     .range_mb = (int)range_mb,
				     .ranged_min_mb = (int)ranged_min,
				     .rate_limit = rate,
				     .progress = fy_cli_progress,
				     .transfer = fy_cli_transfer,
				     .wait_fn = fy_cli_lock_wait,
				     .ctx = cli };
	if (oci) {
		co.username = user;
		co.password = getenv("FERRY_OCI_PASSWORD");
	}
	if ((oci	    ? clone_oci(s, argv[0], plain_http, &co, repo, id, &st, &err)
	     : from != NULL ? clone_from(s, repo, rev, &co, allow_expired, id, &st, &err)
			    : fy_store_clone(s, repo, &co, id, &st, &err)) != FY_OK) {
		fy_cli_progress_done(cli);
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	fy_cli_progress_done(cli);
	if (cli->json) {
		struct fy_json *o = fy_json_object();

		fy_json_set(o, "repo", fy_json_string(repo));
		fy_json_set(o, "revision", fy_json_string(id));
		fy_json_set(o, "files", fy_json_integer((int64_t)st.files));
		fy_json_set(o, "fetched", fy_json_integer((int64_t)st.files_fetched));
		fy_json_set(o, "reused", fy_json_integer((int64_t)st.files_reused));
		fy_json_set(o, "bytes", fy_json_integer((int64_t)st.bytes_fetched));
		fy_json_set(o, "bytes_resumed", fy_json_integer((int64_t)st.bytes_resumed));
		fy_json_set(o, "retries", fy_json_integer((int64_t)st.retries));
		fy_json_set(o, "connections", fy_json_integer((int64_t)st.connections));
		fy_json_set(o, "http2", fy_json_bool(st.http2));
		r = fy_cli_print_json(cli, o);
		goto out;
	}
	if (!cli->quiet)
		printf("%s@%s: %zu files (%zu fetched, %s; %zu already in the store)\n", repo, id,
		       st.files, st.files_fetched,
		       fy_fmt_bytes(size, sizeof(size), st.bytes_fetched), st.files_reused);
	r = FY_EXIT_OK;
out:
	fy_store_close(s);
	return r;
}
