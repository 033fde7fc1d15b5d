/* ferry quant's pieces shared by its file mode (cmd_quant.c) and store mode (quant_store.c). */
#ifndef FERRY_CLI_QUANT_H
#define FERRY_CLI_QUANT_H

#include "cli/cli.h"
#include "convert/convert.h"

struct fy_quant_cli {
	const char *type;	 /* --type */
	const char *output_type; /* --output-tensor-type */
	const char *token_type;	 /* --token-embedding-type */
	struct fy_opt_list tensor_types;
	struct fy_quant_override *overrides[FY_OPT_LIST_MAX];
	size_t n_overrides;
	long threads;
	const char *imatrix_path;			     /* --imatrix */
	struct fy_imatrix *imatrix;			     /* loaded from it */
	char imatrix_sha256[65];			     /* of the file, for the lineage */
	const char *split_max_size;			     /* --split-max-size */
	long split_max_tensors;				     /* --split-max-tensors */
	long max_buffer_mib;				     /* --max-buffer-size (-1: not given) */
	struct fy_opt_list include_weights, exclude_weights; /* --include/--exclude-weights */
	struct fy_opt_list override_kv;			     /* --override-kv */
	struct fy_gguf_kv_override kv[FY_OPT_LIST_MAX];
	const char *tensor_type_file; /* --tensor-type-file */
	const char *prune_layers;     /* --prune-layers */
	int prune[1024];
	char options[2048]; /* ferry.quant.options */
	struct fy_requant_opts req;
};

/* Checks and compiles the options into o->req. Returns -1 to go on, else an exit code. */
int fy_quant_cli_prepare(struct fy_cli *cli, struct fy_quant_cli *o);
void fy_quant_cli_release(struct fy_quant_cli *o);
/* Quantizes in to out (hashing in for provenance), printing the plan, warnings and a summary
 * that names the output `label`. Returns an exit code. */
int fy_quant_cli_run(struct fy_cli *cli, struct fy_quant_cli *o, const char *in, const char *out,
		     const char *label, struct fy_requant_report *rep);
/* Store mode: spec is REPO[@REV]. Returns an exit code. */
int fy_quant_store(struct fy_cli *cli, struct fy_quant_cli *o, const char *spec, const char *file,
		   const char *to);

#endif
