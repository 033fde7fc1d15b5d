/* ferry serve [--listen ADDR:PORT] [--tokens FILE] [--threads N] [--access-log FILE] ... */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void serve_log(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ferry serve: %s\n", msg);
}

static int write_port(struct fy_cli *cli, const char *path, unsigned port)
{
	char text[16];
	struct fy_err err;
	int n = snprintf(text, sizeof(text), "%u\n", port);

	if (fy_file_write_atomic(path, text, (size_t)n, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	return -1;
}

/* Waits for signals: SIGHUP reloads the tokens, SIGTERM and SIGINT end the server. */
static void wait_signals(struct fy_server *srv, const sigset_t *set)
{
	struct fy_err err;
	int sig = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		if (fy_serve_reload_tokens(srv, &err) != FY_OK)
			fprintf(stderr, "ferry serve: tokens not reloaded: %s\n", err.msg);
		else
			fprintf(stderr, "ferry serve: tokens reloaded\n");
	}
	fprintf(stderr, "ferry serve: stopping (finishing requests in flight)\n");
}

int cmd_serve(struct fy_cli *cli, int argc, char **argv)
{
	const char *listen = "127.0.0.1:8080", *tokens = NULL, *logpath = NULL, *portfile = NULL;
	const char *objects_from = NULL;
	long threads = 4, max_conns = 1024, timeout = 30, refresh = 1000;
	bool all = false;
	const struct fy_opt opts[] = {
		{ "all", 0, FY_OPT_FLAG, &all, NULL,
		  "serve every revision of the store, published or not (a private working "
		  "mirror)" },
		{ "listen", 0, FY_OPT_STRING, &listen, "ADDR:PORT",
		  "where to listen (default 127.0.0.1:8080; port 0: any free port)" },
		{ "tokens", 0, FY_OPT_STRING, &tokens, "FILE",
		  "bearer tokens and private/gated repositories (docs/SERVE.md); SIGHUP reloads" },
		{ "threads", 0, FY_OPT_INT, &threads, "N", "worker threads (default 4)" },
		{ "access-log", 0, FY_OPT_STRING, &logpath, "FILE",
		  "one line per request (common log format + duration); - for stdout" },
		{ "max-connections", 0, FY_OPT_INT, &max_conns, "N", "default 1024" },
		{ "timeout", 0, FY_OPT_INT, &timeout, "SECONDS",
		  "idle connections are closed after this (default 30)" },
		{ "refresh-ms", 0, FY_OPT_INT, &refresh, "MS",
		  "how often the store's refs are checked for changes (default 1000)" },
		{ "port-file", 0, FY_OPT_STRING, &portfile, "FILE",
		  "write the port listened on into FILE once ready" },
		{ "objects-from", 0, FY_OPT_STRING, &objects_from, "URL",
		  "LFS files redirect to where their bytes live: oci://HOST/NAME (a registry "
		  "ferry push filled) or an HTTP base with the store's objects/ layout "
		  "(docs/OCI.md)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry serve [--listen ADDR:PORT] [--all] [--tokens FILE] [--threads N] "
		"[--access-log FILE]",
		"Serves the store's published revisions (ferry publish; with --all every\n"
		"revision) read-only through the Hugging Face hub API, so that unmodified\n"
		"clients work with HF_ENDPOINT=http://ADDR:PORT: huggingface_hub, transformers,\n"
		"@huggingface/hub (hubUrl) and llama.cpp -hf. Files go out from the store's\n"
		"objects with sendfile, with ranges, ETags and X-Repo-Commit as the hub sends\n"
		"them. A revision added while serving is visible within --refresh-ms. SIGTERM\n"
		"lets requests in flight finish, then exits. The signed index and the published\n"
		"manifests are under /api/ferry/ for ferry clients. Details: docs/SERVE.md.",
		opts,
	};
	struct fy_serve_opts so = { 0 };
	struct fy_store *s = NULL;
	struct fy_server *srv = NULL;
	FILE *log = NULL;
	sigset_t set;
	struct fy_err err;
	int npos = 0;
	int r;

	r = fy_cli_parse(cli, &usage, argc, argv, 0, 0, &npos);
	if (r < 0 &&
	    (threads < 1 || threads > 1024 || max_conns < 1 || timeout < 1 || refresh < 10))
		r = fy_cli_usage_error(cli, "--threads, --max-connections, --timeout and "
					    "--refresh-ms need positive values");
	if (r < 0)
		r = fy_cli_open_store(cli, &s);
	if (r < 0 && logpath != NULL) {
		log = strcmp(logpath, "-") == 0 ? stdout : fopen(logpath, "a");
		if (log == NULL) {
			fy_err_sys(&err, FY_EIO, "cannot open the access log '%s'", logpath);
			r = fy_cli_fail(cli, &err);
		}
	}
	if (r >= 0)
		goto out;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the server's threads inherit the mask */
	signal(SIGPIPE, SIG_IGN);
	so = (struct fy_serve_opts){ listen,
				     tokens,
				     (int)threads,
				     (unsigned)max_conns,
				     (unsigned)timeout,
				     (unsigned)refresh,
				     all,
				     objects_from,
				     log,
				     serve_log,
				     cli };
	if (fy_serve_start(&srv, s, &so, &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->quiet)
		fprintf(stderr, "ferry serve: serving %s on port %u (HF_ENDPOINT=http://%s)\n",
			cli->store, fy_serve_port(srv), listen);
	if (portfile != NULL)
		r = write_port(cli, portfile, fy_serve_port(srv));
	if (r < 0)
		wait_signals(srv, &set);
	fy_serve_stop(srv, 30);
	r = r < 0 ? FY_EXIT_OK : r;
out:
	if (log != NULL && log != stdout)
		fclose(log);
	fy_store_close(s);
	return r;
}
