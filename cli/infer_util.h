/* Pieces shared by the verbs that read models (run, smoke, convert): cli/infer_util.c. */
#ifndef FERRY_CLI_INFER_UTIL_H
#define FERRY_CLI_INFER_UTIL_H

#include "cli/cli.h"
#include "infer/infer.h"
#include "mirror/mirror.h"

/* A model opened from a path or from a store revision. */
struct fy_infer_artifact {
	struct fy_model *model;
	char path[4200];	 /* what was opened: a file, a directory, or a store object */
	struct fy_store *store;	 /* when it came from the store */
	struct fy_revision *rev; /* the revision (store only) */
	const struct fy_file_entry *file; /* the GGUF file of the revision, or NULL (HF); the
					     first shard of a split model */
	size_t n_shards;		  /* a split model's shards, else 0 */
	char linkdir[4200];		  /* an HF revision: a directory of links to its objects */
};

/*
 * Opens spec: a GGUF file or an HF checkpoint directory when such a path exists, else a store
 * revision REPO[@REV][:FILE] (FILE: the GGUF file when the revision holds several; an HF
 * revision is opened through a directory of links into objects/). Returns -1 to go on, else
 * an exit code (the message printed).
 */
int fy_cli_open_artifact(struct fy_cli *cli, const char *spec, struct fy_infer_artifact *a);
/* The same without opening the model (a->model stays NULL): a->path is what to read. */
int fy_cli_resolve_artifact(struct fy_cli *cli, const char *spec, struct fy_infer_artifact *a);
void fy_cli_close_artifact(struct fy_infer_artifact *a);
/* Generated text as a JSON string: bytes that are not valid UTF-8 (a model may stop inside a
 * character, or a damaged one emit stray bytes) become U+FFFD. */
struct fy_json *fy_cli_json_text(const struct fy_buf *b);
/* Parses a real number in [lo, hi]. */
bool fy_cli_parse_real(const char *s, double lo, double hi, double *out);

#endif
