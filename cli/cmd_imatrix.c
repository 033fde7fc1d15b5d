/* ferry imatrix [MODEL -f TEXT] [--in-file F]... [-o OUT] [-c N] [--chunks N]
 * [--process-output] [--no-ppl] [--output-format gguf|dat] [-t N]
 */
#include "cli/cli.h"
#include "cli/infer_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT (256u << 20)
#define MAX_MERGE 256

int cmd_imatrix(struct fy_cli *cli, int argc, char **argv)
{
	const char *text_file = NULL, *output = "imatrix.gguf", *format = "gguf";
	long n_ctx = 512, n_chunks = 0, threads = 0;
	bool process_output = false, no_ppl = false;
	struct fy_opt_list in_files = { 0 };
	const struct fy_opt opts[] = {
		{ "file", 'f', FY_OPT_STRING, &text_file, "TEXT",
		  "the calibration text (tests/data/calibration/calibration.txt ships with "
		  "ferry; a larger text of the model's domain is better)" },
		{ "output", 'o', FY_OPT_STRING, &output, "OUT", "the file (default imatrix.gguf)" },
		{ "ctx", 'c', FY_OPT_INT, &n_ctx, "N", "tokens per chunk (default 512)" },
		{ "chunks", 0, FY_OPT_INT, &n_chunks, "N", "at most N chunks (default: all)" },
		{ "process-output", 0, FY_OPT_FLAG, &process_output, NULL,
		  "also collect output.weight" },
		{ "no-ppl", 0, FY_OPT_FLAG, &no_ppl, NULL,
		  "do not compute the perplexity (as llama-imatrix --no-ppl)" },
		{ "output-format", 0, FY_OPT_STRING, &format, "gguf|dat",
		  "the file's format: llama-imatrix's GGUF (default) or its legacy .dat" },
		{ "in-file", 0, FY_OPT_LIST, &in_files, "F[,F...]",
		  "a matrix to merge (GGUF or .dat; repeatable): the result is their sum, and the "
		  "text's statistics when a MODEL is given (llama-imatrix --in-file)" },
		{ "threads", 't', FY_OPT_INT, &threads, "N", "threads (default: one per CPU)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry imatrix [MODEL -f TEXT] [--in-file F]... [-o OUT.gguf] [-c N] [--chunks N] "
		"[--process-output] [--no-ppl] [--output-format gguf|dat]",
		"Computes an importance matrix with ferry's engine: the text is cut into chunks "
		"of\n"
		"N tokens, each evaluated from position 0, and each weight's input columns are\n"
		"summed as squares (per expert for a mixture's experts), as llama-imatrix does.\n"
		"The file is in llama-imatrix's GGUF format (or its legacy .dat with\n"
		"--output-format dat): 'ferry quant --imatrix' and llama-quantize read both. "
		"MODEL: a GGUF file (split ones read whole), an HF\n"
		"checkpoint, or a store revision REPO[@REV][:FILE]. The text must hold at least\n"
		"two chunks. --in-file adds matrices made before (by either tool) as "
		"llama-imatrix\n"
		"merges them; without MODEL, it only merges (-c: the chunk size they were made\n"
		"with, which counts the chunks and scales a .dat's values).",
		opts,
	};
	struct fy_infer_artifact a = { 0 };
	struct fy_imatrix *merge[MAX_MERGE];
	const char *labels[MAX_MERGE];
	char *names = NULL; /* the --in-file values, split at commas */
	size_t n_merge = 0;
	struct fy_pool *pool = NULL;
	struct fy_buf text;
	struct fy_err err;
	int npos = 0;
	fy_buf_init(&text);
	int r = fy_cli_parse(cli, &usage, argc, argv, 0, 1, &npos);
	if (r < 0 && npos == 0 && in_files.n == 0)
		r = fy_cli_usage_error(cli,
				       "a MODEL, or matrices to merge (--in-file), is required");
	if (r < 0 && npos == 1 && text_file == NULL)
		r = fy_cli_usage_error(cli, "-f TEXT is required");
	if (r < 0 && npos == 0 && text_file != NULL)
		r = fy_cli_usage_error(cli, "-f TEXT needs a MODEL");
	if (r < 0 && strcmp(format, "gguf") != 0 && strcmp(format, "dat") != 0)
		r = fy_cli_usage_error(cli, "--output-format is gguf or dat");
	if (r < 0 && (n_ctx < 16 || n_ctx > 65536 || n_chunks < 0))
		r = fy_cli_usage_error(cli, "-c is 16 to 65536 tokens, --chunks 1 or more");
	size_t all = 1;
	for (size_t i = 0; i < in_files.n; i++)
		all += strlen(in_files.v[i]) + 1;
	names = malloc(all);
	if (r < 0 && names == NULL) {
		fy_err_set(&err, FY_ENOMEM, "out of memory");
		r = fy_cli_fail(cli, &err);
	}
	for (size_t i = 0, at = 0; r < 0 && i < in_files.n; i++) {
		char *p = strcpy(names + at, in_files.v[i]), *save = NULL;
		at += strlen(in_files.v[i]) + 1;
		for (char *tok = strtok_r(p, ",", &save); r < 0 && tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			if (n_merge == MAX_MERGE)
				r = fy_cli_usage_error(cli, "at most 256 matrices to merge");
			else if (fy_imatrix_load(&merge[n_merge], tok, &err) != FY_OK)
				r = fy_cli_fail(cli, &err);
			else
				labels[n_merge++] = tok;
		}
	}
	if (r < 0 && text_file != NULL && fy_file_read(text_file, MAX_TEXT, &text, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r < 0 && npos == 1)
		r = fy_cli_pool(cli, threads, &pool);
	if (r < 0 && npos == 1)
		r = fy_cli_open_artifact(cli, argv[0], &a);
	if (r >= 0)
		goto out;
	const struct fy_imatrix_opts o = { .n_ctx = (int)n_ctx,
					   .n_chunks = (int)n_chunks,
					   .process_output = process_output,
					   .dataset = text_file,
					   .no_ppl = no_ppl,
					   .legacy_dat = strcmp(format, "dat") == 0,
					   .merge = (const struct fy_imatrix *const *)merge,
					   .merge_labels = labels,
					   .n_merge = n_merge };
	struct fy_imatrix_report rep;
	const double t0 = fy_now_s();
	if (fy_imatrix_compute(npos == 1 ? a.model : NULL, (const char *)text.data, text.len, &o,
			       pool, output, &rep, &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		struct fy_json *j = fy_json_object();
		fy_json_set(j, "output", fy_json_string(output));
		fy_json_set(j, "tokens", fy_json_integer(rep.n_tokens));
		fy_json_set(j, "chunks", fy_json_integer(rep.n_chunks));
		fy_json_set(j, "merged", fy_json_integer((int64_t)n_merge));
		fy_json_set(j, "chunks_total", fy_json_integer(rep.n_chunks_total));
		fy_json_set(j, "chunk_size", fy_json_integer(n_ctx));
		fy_json_set(j, "entries", fy_json_integer((int64_t)rep.n_entries));
		fy_json_set(j, "ppl", no_ppl ? fy_json_null() : fy_json_real(rep.ppl));
		r = fy_cli_print_json(cli, j);
		goto out;
	}
	if (!cli->quiet && npos == 0)
		printf("%s: %zu entries merged from %zu matrices, %d chunks of %ld tokens\n",
		       output, rep.n_entries, n_merge, rep.n_chunks_total, n_ctx);
	else if (!cli->quiet && n_merge > 0)
		printf("%s: %zu entries from %d chunks of %ld tokens and %zu merged matrices (%d "
		       "chunks in all), %.1f s\n",
		       output, rep.n_entries, rep.n_chunks, n_ctx, n_merge, rep.n_chunks_total,
		       fy_now_s() - t0);
	else if (!cli->quiet && no_ppl)
		printf("%s: %zu entries from %d chunks of %ld tokens (%lld tokens in the text), "
		       "%.1f s\n",
		       output, rep.n_entries, rep.n_chunks, n_ctx, (long long)rep.n_tokens,
		       fy_now_s() - t0);
	else if (!cli->quiet)
		printf("%s: %zu entries from %d chunks of %ld tokens (%lld tokens in the text), "
		       "perplexity %.4f, %.1f s\n",
		       output, rep.n_entries, rep.n_chunks, n_ctx, (long long)rep.n_tokens, rep.ppl,
		       fy_now_s() - t0);
	r = FY_EXIT_OK;
out:
	for (size_t i = 0; i < n_merge; i++)
		fy_imatrix_free(merge[i]);
	free(names);
	fy_cli_close_artifact(&a);
	fy_pool_free(pool);
	fy_buf_release(&text);
	return r;
}
