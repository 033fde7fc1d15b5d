/* ferry push REPO[@REV] oci://HOST[:PORT]/NAME[:TAG] [--user NAME] [--plain-http] */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int cmd_push(struct fy_cli *cli, int argc, char **argv)
{
	const char *user = getenv("FERRY_OCI_USER"), *token = getenv("FERRY_OCI_TOKEN");
	const char *ca_bundle = NULL;
	bool plain_http = false;
	long chunk_mb = 64, rate = 0, retries = 5;
	const struct fy_opt opts[] = {
		{ "user", 0, FY_OPT_STRING, &user, "NAME",
		  "the registry's user name (default $FERRY_OCI_USER; the password from "
		  "$FERRY_OCI_PASSWORD)" },
		{ "token", 0, FY_OPT_STRING, &token, "TOKEN",
		  "a bearer token for the registry (default $FERRY_OCI_TOKEN)" },
		{ "plain-http", 0, FY_OPT_FLAG, &plain_http, NULL,
		  "HTTP rather than HTTPS (loopback hosts always use HTTP)" },
		{ "chunk-size", 0, FY_OPT_INT, &chunk_mb, "MB",
		  "blobs larger than this go in chunks, resumable (default 64)" },
		{ "limit-rate", 0, FY_OPT_INT, &rate, "BYTES",
		  "at most this many bytes/s per request (default: no limit)" },
		{ "retries", 0, FY_OPT_INT, &retries, "N",
		  "send a request again after a transient failure, N times (default 5)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry push REPO[@REV] oci://HOST[:PORT]/NAME[:TAG] [--user NAME] [--plain-http]",
		"Pushes a revision (default: main's head) to an OCI registry as a CNCF ModelPack\n"
		"artifact (default tag: latest): every file a raw layer with its path in\n"
		"org.cncf.model.filepath, ferry's manifest and signatures as further layers.\n"
		"Blobs the registry holds are not sent again, nor those another of its\n"
		"repositories holds that this store pushed to or cloned from (mounted); large\n"
		"ones go in chunks and an interrupted push resumes where the registry stopped;\n"
		"requests failing for a moment are sent again. Basic and token\n"
		"authentication as the registry asks. `ferry clone oci://...` reads it back with\n"
		"the same revision id (docs/OCI.md).",
		opts,
	};
	struct fy_store *s = NULL;
	struct fy_oci_ref ref;
	struct fy_oci_stats st;
	char repo[FY_REPO_MAX + 1];
	char id[FY_REV_ID_LEN + 1];
	char size[32];
	const char *rev = NULL;
	struct fy_err err;
	int r;

	r = fy_cli_repo_verb(cli, &usage, argc, argv, 2, repo, &rev, &s);
	if (r < 0 && (chunk_mb < 1 || chunk_mb > 4096 || rate < 0 || retries < 0 || retries > 100))
		r = fy_cli_usage_error(cli, "--chunk-size needs 1 to 4096, --limit-rate 0 or more, "
					    "--retries 0 to 100");
	if (r < 0)
		r = fy_cli_transfer_check(cli, 8, 5, 60, &ca_bundle);
	if (r < 0 && (fy_oci_ref_parse(argv[1], plain_http, &ref, &err) != FY_OK ||
		      fy_store_resolve(s, repo, rev, id, &err) != FY_OK))
		r = fy_cli_fail(cli, &err);
	if (r >= 0)
		goto out;
	const struct fy_oci_opts o = { .username = user,
				       .password = getenv("FERRY_OCI_PASSWORD"),
				       .token = token,
				       .ca_bundle = ca_bundle,
				       .chunk_size = (uint64_t)chunk_mb << 20,
				       .retries = retries > 0 ? (int)retries : -1,
				       .rate_limit = rate,
				       .stop = &stop,
				       .progress = fy_cli_progress,
				       .ctx = cli };
	/* Ctrl-C or SIGTERM: the chunk in flight finishes, so that the push resumes from it */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (fy_oci_push(s, repo, id, &ref, &o, &st, &err) != FY_OK) {
		fy_cli_progress_done(cli);
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	fy_cli_progress_done(cli);
	if (cli->json) {
		struct fy_json *j = fy_json_object();
		fy_json_set(j, "repo", fy_json_string(repo));
		fy_json_set(j, "revision", fy_json_string(id));
		fy_json_set(j, "digest", fy_json_string(st.digest));
		fy_json_set(j, "blobs", fy_json_integer((int64_t)st.blobs));
		fy_json_set(j, "sent", fy_json_integer((int64_t)st.blobs_sent));
		fy_json_set(j, "present", fy_json_integer((int64_t)st.blobs_present));
		fy_json_set(j, "mounted", fy_json_integer((int64_t)st.blobs_mounted));
		fy_json_set(j, "retries", fy_json_integer((int64_t)st.retries));
		fy_json_set(j, "bytes", fy_json_integer((int64_t)st.bytes_sent));
		fy_json_set(j, "bytes_resumed", fy_json_integer((int64_t)st.bytes_resumed));
		r = fy_cli_print_json(cli, j);
		goto out;
	}
	if (!cli->quiet)
		printf("%s@%.12s -> oci://%s/%s:%s@%s: %zu blobs (%zu sent, %s; %zu already "
		       "there, %zu mounted)\n",
		       repo, id, ref.host, ref.name, ref.tag, st.digest, st.blobs, st.blobs_sent,
		       fy_fmt_bytes(size, sizeof(size), st.bytes_sent), st.blobs_present,
		       st.blobs_mounted);
	r = FY_EXIT_OK;
out:
	fy_store_close(s);
	return r;
}
