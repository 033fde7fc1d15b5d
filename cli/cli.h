/*
 * cli: the command line. Only cli/ prints or exits (docs/STYLE.md rule 4).
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include "core/core.h"

#include <stdio.h>

enum { FY_EXIT_OK = 0, FY_EXIT_FAIL = 1, FY_EXIT_USAGE = 2 };

enum { FY_CMD_STORE = 1 };

/* Global state shared by every verb: the global options, after parsing. */
struct fy_cli {
	const char *verb;    /* the verb being run */
	const char *store;   /* --store, else $FERRY_HOME, else ~/.local/share/ferry; may be NULL */
	bool json;	     /* --json: data on stdout as JSON */
	bool quiet;	     /* -q: print nothing but errors */
	int verbose;	     /* -v (repeatable) */
	bool progress;	     /* false with --no-progress or when stderr is not a terminal */
	bool progress_drawn; /* a progress line is on the terminal */
	int progress_lines;  /* lines of a transfer's block on the terminal (fy_cli_transfer) */
	bool no_progress;    /* --no-progress: no bars and no periodic lines */
	int failed;	     /* the fy_err code fy_cli_fail last reported (0: none) */
};

typedef int (*fy_cmd_fn)(struct fy_cli *cli, int argc, char **argv);

struct fy_command {
	const char *name;
	fy_cmd_fn fn;
	int flags;
	const char *summary;
};

/* The command table (cli/commands.def), terminated by a row with name == NULL. */
extern const struct fy_command fy_commands[];
const struct fy_command *fy_cli_find_command(const char *name);

/* Verb functions, declared from the table. */
#define FY_COMMAND(name, fn, flags, summary) int fn(struct fy_cli *cli, int argc, char **argv);
#include "cli/commands.def"
#undef FY_COMMAND

/* ------------------------------------------------------------------------------------------ */
/* Options: a declarative table per verb; the global options are accepted by every verb too.  */

enum fy_opt_kind {
	FY_OPT_FLAG,   /* bool *dest = true */
	FY_OPT_STRING, /* const char **dest = the argument */
	FY_OPT_INT,    /* long *dest = the argument, checked */
	FY_OPT_LIST,   /* struct fy_opt_list *dest: repeatable, each value appended */
};

#define FY_OPT_LIST_MAX 64

/* -1 when the transfer options are in range and the CA bundle named by the environment (if
 * any) is readable, else the error (printed). *ca_bundle: that bundle, or NULL. */
int fy_cli_transfer_check(struct fy_cli *cli, long jobs, long retries, long stall,
			  const char **ca_bundle);
/* The transfer options of the verbs that fetch (clone, pull, sync, install): -j, --retries,
 * --stall-timeout, into longs. */
#define FY_TRANSFER_OPTS(jobs, retries, stall)                                                     \
	{ "jobs", 'j', FY_OPT_INT, (jobs), "N", "files transferred at once (default 8)" },         \
		{ "retries",                                                                       \
		  0,                                                                               \
		  FY_OPT_INT,                                                                      \
		  (retries),                                                                       \
		  "N",                                                                             \
		  "tries again after connection errors, timeouts, 5xx and 429, with backoff "      \
		  "(default 5)" },                                                                 \
	{                                                                                          \
		"stall-timeout", 0, FY_OPT_INT, (stall), "SECONDS",                                \
			"restart a transfer that received nothing for this long (default 60)"      \
	}

struct fy_opt_list {
	const char *v[FY_OPT_LIST_MAX];
	size_t n;
};

struct fy_opt {
	const char *name; /* long name without "--" */
	char short_name;  /* or 0 */
	enum fy_opt_kind kind;
	void *dest;
	const char *arg; /* the argument's placeholder in help ("DIR"), or NULL */
	const char *help;
};

/* What a verb prints for --help. */
struct fy_usage {
	const char *synopsis; /* "ferry inspect FILE|DIR [options]" lines, '\n'-separated */
	const char *description;
	const struct fy_opt *opts; /* terminated by name == NULL; may be NULL */
};

/*
 * Parses argv (argv[0] is the verb) against the verb's options and the global ones. Positional
 * arguments are compacted to the front of argv; *npos receives their count. Returns -1 when the
 * verb should continue, or an exit code: FY_EXIT_OK after printing --help, FY_EXIT_USAGE after
 * printing a usage error. min_pos/max_pos bound the positionals (max_pos < 0: no limit).
 */
int fy_cli_parse(struct fy_cli *cli, const struct fy_usage *u, int argc, char **argv, int min_pos,
		 int max_pos, int *npos);
/* Parses one global option at argv[*i] (advancing *i past its argument). Returns 1 if it was
 * one, 0 if not, -1 on a usage error (printed). */
int fy_cli_global_opt(struct fy_cli *cli, int argc, char **argv, int *i);
void fy_cli_print_usage(const struct fy_cli *cli, const struct fy_usage *u, FILE *to);
void fy_cli_print_global_options(FILE *to);
/* ferry's own help: the verbs from the command table and the global options. */
void fy_cli_print_main_help(FILE *to);

struct fy_gguf_split_opts;
/* --split-max-size N(M|G) (decimal megabytes or gigabytes, as llama-gguf-split reads them; NULL:
 * no limit) and --split-max-tensors N (0: no limit) into out. Returns -1, or FY_EXIT_USAGE after
 * printing why. */
int fy_cli_split_opts(const struct fy_cli *cli, const char *max_size, long max_tensors,
		      struct fy_gguf_split_opts *out);

/* "ferry VERB: message" on stderr, one line. Returns FY_EXIT_FAIL. */
int fy_cli_fail(struct fy_cli *cli, const struct fy_err *err);
/* A usage error: the message, then a pointer to --help. Returns FY_EXIT_USAGE. */
int fy_cli_usage_error(const struct fy_cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------------------------ */
/* Output helpers                                                                             */

/* Writes n with thousands separators ("1,185,376") into buf; returns buf. */
const char *fy_fmt_count(char *buf, size_t cap, uint64_t n);
/* Writes a byte size in binary units ("1.1 MiB") into buf; returns buf. */
const char *fy_fmt_bytes(char *buf, size_t cap, uint64_t n);
/* Writes a parameter count in decimal units ("260.2K", "7.2B") into buf; returns buf. */
const char *fy_fmt_params(char *buf, size_t cap, uint64_t n);
/* Prints s quoted for a terminal (control characters escaped), at most max_chars bytes of it
 * before an ellipsis. */
void fy_print_quoted(FILE *to, const char *s, size_t len, size_t max_chars);
/* Prints j to stdout (pretty, newline-terminated) and frees it. Returns an exit code. */
int fy_cli_print_json(struct fy_cli *cli, struct fy_json *j);

/* ------------------------------------------------------------------------------------------ */
/* Store helpers (cli/store_util.c)                                                           */

struct fy_store;
struct fy_pool;

/* Opens the store of --store / FERRY_HOME / ~/.local/share/ferry; prints the error. Returns
 * -1 on success, else an exit code. */
int fy_cli_open_store(struct fy_cli *cli, struct fy_store **out);
/* Splits "ns/name@rev" into repo (copied into buf) and rev (NULL when absent). Returns -1 on
 * success, else an exit code after printing a usage error. */
int fy_cli_split_rev(struct fy_cli *cli, const char *arg, char *repo, size_t cap, const char **rev);
/* The start of a verb on REPO[@REV] (its first positional): parses argv, splits the first
 * positional into repo (FY_REPO_MAX + 1 bytes) and *rev, opens the store into *s. Returns -1
 * to go on, else an exit code (the message printed). */
int fy_cli_repo_verb(struct fy_cli *cli, const struct fy_usage *u, int argc, char **argv, int n_pos,
		     char *repo, const char **rev, struct fy_store **s);
/* Whether s ends with suffix, ignoring ASCII case. */
bool fy_ends_with_ci(const char *s, const char *suffix);
/* Where a file derived from repo goes: target = to, else repo when it ends in suffix ("-GGUF"),
 * else repo with a "-GGUF" ending replaced by suffix, else repo + suffix; name (if not NULL) =
 * "<repo's name less -GGUF>-<tag><ext>" ("stories-Q4_K_M.gguf"). */
void fy_cli_derived_names(const char *repo, const char *to, const char *suffix, const char *tag,
			  const char *ext, char *target, size_t tcap, char *name, size_t ncap);
struct fy_revision;
struct fy_file_entry;
/* A derived revision's origin: kind "derived", the operation, sources[0] = r (with src's path and
 * sha256, or with every file of r as "files" [{path, sha256}] when src is NULL), the parameters
 * (taken over) and ferry's version. */
struct fy_json *fy_cli_lineage(const char *operation, const struct fy_revision *r,
			       const struct fy_file_entry *src, struct fy_json *params);
/* The hub endpoint to use: endpoint, else https://huggingface.co, without trailing '/'. */
void fy_cli_endpoint(const char *endpoint, char *out, size_t cap);
/* A thread pool of -j N threads (0: one per CPU); prints the error. -1 on success. */
int fy_cli_pool(struct fy_cli *cli, long threads, struct fy_pool **out);
/* Lock-wait and progress callbacks that print on stderr (ctx is the struct fy_cli). */
void fy_cli_lock_wait(void *ctx, long pid);
void fy_cli_progress(void *ctx, uint64_t done, uint64_t total, const char *what);
struct fy_transfer_view;
/* A transfer's progress (clone, pull, sync, install): on a terminal a total bar and a bar per
 * file in flight, with bytes, rate and ETA, redrawn in place; otherwise a plain line every 10
 * seconds. */
void fy_cli_transfer(void *ctx, const struct fy_transfer_view *v);
/* Verifies one target of `ferry verify` (REPO[@REV] or a file path), printing findings; a store
 * revision's result is recorded beside it. Returns the result object ({"ok", "problems", ...}). */
struct fy_json *fy_cli_verify_target(struct fy_cli *cli, struct fy_store *s, struct fy_pool *pool,
				     const char *arg, int flags);
/* Ends a progress line, if one was drawn. */
void fy_cli_progress_done(struct fy_cli *cli);

#endif
