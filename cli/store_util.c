/* What the verbs that work on the store share: opening it, REPO@REV arguments, thread pools,
 * lock waits and progress bars. */
#include "cli/cli.h"
#include "mirror/mirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

bool fy_ends_with_ci(const char *s, const char *suffix)
{
	const size_t n = strlen(s);
	const size_t m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

void fy_cli_derived_names(const char *repo, const char *to, const char *suffix, const char *tag,
			  const char *ext, char *target, size_t tcap, char *name, size_t ncap)
{
	const char *base = strchr(repo, '/') != NULL ? strchr(repo, '/') + 1 : repo;
	char stem[FY_REPO_MAX + 1];
	snprintf(stem, sizeof(stem), "%s", base);
	if (fy_ends_with_ci(stem, "-GGUF"))
		stem[strlen(stem) - 5] = '\0';
	if (to != NULL)
		snprintf(target, tcap, "%s", to);
	else if (fy_ends_with_ci(repo, suffix))
		snprintf(target, tcap, "%s", repo);
	else if (fy_ends_with_ci(repo, "-GGUF"))
		snprintf(target, tcap, "%.*s%s", (int)(strlen(repo) - 5), repo, suffix);
	else
		snprintf(target, tcap, "%s%s", repo, suffix);
	if (name != NULL)
		snprintf(name, ncap, "%s-%s%s", stem, tag, ext);
}

struct fy_json *fy_cli_lineage(const char *operation, const struct fy_revision *r,
			       const struct fy_file_entry *src, struct fy_json *params)
{
	char hex[2 * FY_SHA256_LEN + 1];
	struct fy_json *origin = fy_json_object();
	struct fy_json *source = fy_json_object();
	fy_json_set(source, "repo", fy_json_string(r->repo));
	fy_json_set(source, "revision", fy_json_string(r->id));
	if (src != NULL) {
		fy_hex(src->sha256, FY_SHA256_LEN, hex);
		fy_json_set(source, "path", fy_json_string(src->path));
		fy_json_set(source, "sha256", fy_json_string(hex));
	} else {
		struct fy_json *files = fy_json_array();
		for (size_t i = 0; i < r->n_files; i++) {
			struct fy_json *f = fy_json_object();
			fy_hex(r->files[i].sha256, FY_SHA256_LEN, hex);
			fy_json_set(f, "path", fy_json_string(r->files[i].path));
			fy_json_set(f, "sha256", fy_json_string(hex));
			fy_json_push(files, f);
		}
		fy_json_set(source, "files", files);
	}
	fy_json_set(origin, "kind", fy_json_string("derived"));
	fy_json_set(origin, "operation", fy_json_string(operation));
	fy_json_set(origin, "sources", fy_json_array());
	fy_json_push(fy_json_get(origin, "sources"), source);
	fy_json_set(origin, "parameters", params);
	fy_json_set(origin, "ferry", fy_json_string(FY_VERSION));
	return origin;
}

int fy_cli_open_store(struct fy_cli *cli, struct fy_store **out)
{
	struct fy_err err;

	if (fy_store_open(out, cli->store, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	return -1;
}

int fy_cli_split_rev(struct fy_cli *cli, const char *arg, char *repo, size_t cap, const char **rev)
{
	const char *at = strchr(arg, '@');
	size_t n = at ? (size_t)(at - arg) : strlen(arg);
	struct fy_err err;

	if (n >= cap)
		return fy_cli_usage_error(cli, "repository name too long: '%s'", arg);
	memcpy(repo, arg, n);
	repo[n] = '\0';
	*rev = at ? at + 1 : NULL;
	if (fy_repo_check(repo, &err) != FY_OK)
		return fy_cli_usage_error(cli, "%s", err.msg);
	return -1;
}

int fy_cli_repo_verb(struct fy_cli *cli, const struct fy_usage *u, int argc, char **argv, int n_pos,
		     char *repo, const char **rev, struct fy_store **s)
{
	int npos = 0;
	int r = fy_cli_parse(cli, u, argc, argv, n_pos, n_pos, &npos);

	if (r < 0)
		r = fy_cli_split_rev(cli, argv[0], repo, FY_REPO_MAX + 1, rev);
	if (r < 0)
		r = fy_cli_open_store(cli, s);
	return r;
}

void fy_cli_endpoint(const char *endpoint, char *out, size_t cap)
{
	size_t n;

	snprintf(out, cap, "%s", endpoint && endpoint[0] ? endpoint : "https://huggingface.co");
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
}

int fy_cli_pool(struct fy_cli *cli, long threads, struct fy_pool **out)
{
	struct fy_err err;

	if (threads < 0 || threads > 1024)
		return fy_cli_usage_error(cli, "-j needs a thread count from 0 to 1024");
	if (fy_pool_new(out, (int)threads, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	return -1;
}

void fy_cli_lock_wait(void *ctx, long pid)
{
	struct fy_cli *cli = ctx;

	if (pid > 0)
		fprintf(stderr, "ferry %s: waiting for the store's writer lock (held by pid %ld)\n",
			cli->verb, pid);
	else
		fprintf(stderr, "ferry %s: waiting for the store's writer lock\n", cli->verb);
}

/* Progress: a bar with rate and ETA on a terminal; without one, a plain line every 10 s. */
void fy_cli_progress(void *ctx, uint64_t done, uint64_t total, const char *what)
{
	static struct timespec start, last;
	static bool started;
	struct fy_cli *cli = ctx;
	struct timespec now;
	char a[32], b[32], r[32];
	double secs, rate, eta;
	long gap;
	int width = 24;
	int fill;

	if (cli->quiet || cli->no_progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!started) {
		start = last = now;
		started = true;
	}
	gap = (now.tv_sec - last.tv_sec) * 1000L + (now.tv_nsec - last.tv_nsec) / 1000000L;
	if (done < total && gap < (cli->progress ? 100 : 10000))
		return;
	last = now;
	secs = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
	rate = secs > 0 ? (double)done / secs : 0;
	eta = rate > 0 ? (double)(total - done) / rate : 0;
	fy_fmt_bytes(r, sizeof(r), (uint64_t)rate);
	if (!cli->progress) {
		fprintf(stderr, "ferry %s: %s / %s (%d%%), %s/s, ETA %.0f s, %s\n", cli->verb,
			fy_fmt_bytes(a, sizeof(a), done), fy_fmt_bytes(b, sizeof(b), total),
			total ? (int)(100.0 * (double)done / (double)total) : 100, r, eta, what);
		return;
	}
	fill = total ? (int)((double)done / (double)total * width) : width;
	fprintf(stderr, "\r[%.*s%*s] %3d%% %s / %s %s/s ETA %.0fs  %.30s\033[K", fill,
		"########################", width - fill, "",
		total ? (int)(100.0 * (double)done / (double)total) : 100,
		fy_fmt_bytes(a, sizeof(a), done), fy_fmt_bytes(b, sizeof(b), total), r, eta, what);
	cli->progress_drawn = true;
}

/* --- a transfer's bars -------------------------------------------------------------------- */

#define XFER_SHOWN 8	/* file bars drawn at most */
#define XFER_TRACKED 64 /* files whose rate is followed */

/* When each file in flight was first seen, and its bytes then: its rate is measured since. */
struct xfer_seen {
	char path[160];
	double t0;
	uint64_t b0;
	bool live;
};

static struct {
	bool started;
	double t0, last_line;
	struct xfer_seen seen[XFER_TRACKED];
} xfer;

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The rate of a file in flight, in bytes/s (0 until it has moved for half a second). */
static double file_rate(const struct fy_transfer_file *f, double now)
{
	struct xfer_seen *free_slot = NULL;
	for (int i = 0; i < XFER_TRACKED; i++) {
		struct xfer_seen *s = &xfer.seen[i];
		if (s->live && strncmp(s->path, f->path, sizeof(s->path) - 1) == 0)
			return now - s->t0 >= 0.5 ? (double)(f->done - s->b0) / (now - s->t0) : 0;
		if (!s->live && free_slot == NULL)
			free_slot = s;
	}
	if (free_slot != NULL) {
		snprintf(free_slot->path, sizeof(free_slot->path), "%s", f->path);
		free_slot->t0 = now;
		free_slot->b0 = f->done;
		free_slot->live = true;
	}
	return 0;
}

/* "[####    ]  38%  1.2 MiB / 3.1 MiB  2.0 MiB/s  ETA 1s" into buf. */
static void bar(char *buf, size_t cap, int width, uint64_t done, uint64_t total, double rate)
{
	char a[32], b[32], r[32];
	const double frac = total ? (double)done / (double)total : 1.0;
	const int fill = (int)(frac * width);
	char eta[32] = "ETA -";
	if (rate > 0 && total >= done)
		snprintf(eta, sizeof(eta), "ETA %.0fs", (double)(total - done) / rate);
	snprintf(buf, cap, "[%.*s%*s] %3d%%  %s / %s  %s/s  %s", fill,
		 "########################################", width - fill, "", (int)(frac * 100),
		 fy_fmt_bytes(a, sizeof(a), done), fy_fmt_bytes(b, sizeof(b), total),
		 fy_fmt_bytes(r, sizeof(r), (uint64_t)rate), eta);
}

/* The block on the terminal: the total, then a line per file in flight. */
static void draw_block(struct fy_cli *cli, const struct fy_transfer_view *v, double now,
		       double rate)
{
	char line[512];
	int n = 0;
	if (cli->progress_lines > 0)
		fprintf(stderr, "\033[%dA", cli->progress_lines);
	bar(line, sizeof(line), 24, v->done, v->total, rate);
	fprintf(stderr, "\r%s  files %zu/%zu\033[K\n", line, v->files_done, v->files_total);
	n++;
	for (size_t i = 0; i < v->n_files && i < XFER_SHOWN; i++, n++) {
		const struct fy_transfer_file *f = &v->files[i];
		const size_t len = strlen(f->path);
		bar(line, sizeof(line), 16, f->done, f->size, file_rate(f, now));
		fprintf(stderr, "\r  %-32.32s %s\033[K\n", len > 32 ? f->path + len - 32 : f->path,
			line);
	}
	if (v->n_files > XFER_SHOWN) {
		fprintf(stderr, "\r  ... and %zu more in flight\033[K\n", v->n_files - XFER_SHOWN);
		n++;
	}
	if (n < cli->progress_lines)
		fprintf(stderr, "\033[J");
	cli->progress_lines = n;
}

void fy_cli_transfer(void *ctx, const struct fy_transfer_view *v)
{
	struct fy_cli *cli = ctx;
	const double now = mono_s();
	char a[32], b[32], r[32];
	if (!xfer.started) {
		memset(&xfer, 0, sizeof(xfer));
		xfer.started = true;
		xfer.t0 = xfer.last_line = now;
	}
	for (int i = 0; i < XFER_TRACKED; i++) { /* files no longer in flight are forgotten */
		bool in = false;
		for (size_t k = 0; k < v->n_files && !in; k++)
			in = strncmp(xfer.seen[i].path, v->files[k].path,
				     sizeof(xfer.seen[i].path) - 1) == 0;
		xfer.seen[i].live = xfer.seen[i].live && in;
	}
	const double rate = now - xfer.t0 > 0 ? (double)v->done / (now - xfer.t0) : 0;
	if (v->final) {
		xfer.started = false;
		fy_cli_progress_done(cli);
		return;
	}
	if (cli->quiet || cli->no_progress)
		return;
	if (cli->progress) {
		draw_block(cli, v, now, rate);
		return;
	}
	if (now - xfer.last_line < 10)
		return;
	xfer.last_line = now;
	fprintf(stderr, "ferry %s: %s / %s (%d%%), %s/s, %zu of %zu files", cli->verb,
		fy_fmt_bytes(a, sizeof(a), v->done), fy_fmt_bytes(b, sizeof(b), v->total),
		v->total ? (int)(100.0 * (double)v->done / (double)v->total) : 100,
		fy_fmt_bytes(r, sizeof(r), (uint64_t)rate), v->files_done, v->files_total);
	for (size_t i = 0; i < v->n_files && i < 4; i++)
		fprintf(stderr, "%s %s %d%%", i == 0 ? "; in flight:" : ",", v->files[i].path,
			v->files[i].size
				? (int)(100.0 * (double)v->files[i].done / (double)v->files[i].size)
				: 100);
	fprintf(stderr, "%s\n", v->n_files > 4 ? ", ..." : "");
}

void fy_cli_progress_done(struct fy_cli *cli)
{
	xfer.started = false; /* a transfer that failed before its final report starts over */
	if (cli->progress_drawn)
		fprintf(stderr, "\r\033[K");
	cli->progress_drawn = false;
	if (cli->progress_lines > 0)
		fprintf(stderr, "\033[%dA\r\033[J", cli->progress_lines);
	cli->progress_lines = 0;
}

/* The certificates that HTTPS endpoints are checked against, instead of the system's: the
 * variables curl, Python's requests (huggingface_hub) and OpenSSL read, first set wins. */
static const char *const ca_vars[] = { "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE" };

int fy_cli_transfer_check(struct fy_cli *cli, long jobs, long retries, long stall,
			  const char **ca_bundle)
{
	*ca_bundle = NULL;
	if (jobs < 1 || jobs > 256 || retries < 0 || retries > 100 || stall < 1)
		return fy_cli_usage_error(cli, "-j needs 1 to 256, --retries 0 to 100, "
					       "--stall-timeout 1 or more");
	for (size_t i = 0; i < sizeof(ca_vars) / sizeof(ca_vars[0]); i++) {
		const char *v = getenv(ca_vars[i]);

		if (v == NULL || v[0] == '\0')
			continue;
		if (access(v, R_OK) != 0) {
			struct fy_err err;

			fy_err_sys(&err, FY_EIO, "CA bundle '%s' (from $%s) cannot be read", v,
				   ca_vars[i]);
			return fy_cli_fail(cli, &err);
		}
		*ca_bundle = v;
		break;
	}
	return -1;
}
