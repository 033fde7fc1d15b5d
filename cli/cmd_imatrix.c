/* ferry imatrix MODEL -f TEXT [-o OUT] [-c N] [--chunks N] [--process-output] [--no-ppl]
 * [--output-format gguf|dat] [-t N]
 */
#include "cli/cli.h"
#include "cli/infer_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT (256u << 20)

int cmd_imatrix(struct fy_cli *cli, int argc, char **argv)
{
	const char *text_file = NULL, *output = "imatrix.gguf", *format = "gguf";
	long n_ctx = 512, n_chunks = 0, threads = 0;
	bool process_output = false, no_ppl = false;
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
		{ "threads", 't', FY_OPT_INT, &threads, "N", "threads (default: one per CPU)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry imatrix MODEL -f TEXT [-o OUT.gguf] [-c N] [--chunks N] [--process-output] "
		"[--no-ppl] [--output-format gguf|dat]",
		"Computes an importance matrix with ferry's engine: the text is cut into chunks "
		"of\n"
		"N tokens, each evaluated from position 0, and each weight's input columns are\n"
		"summed as squares (per expert for a mixture's experts), as llama-imatrix does.\n"
		"The file is in llama-imatrix's GGUF format (or its legacy .dat with\n"
		"--output-format dat): 'ferry quant --imatrix' and llama-quantize read both. "
		"MODEL: a GGUF file (split ones read whole), an HF\n"
		"checkpoint, or a store revision REPO[@REV][:FILE]. The text must hold at least\n"
		"two chunks.",
		opts,
	};
	struct fy_infer_artifact a = { 0 };
	struct fy_pool *pool = NULL;
	struct fy_buf text;
	struct fy_err err;
	int npos = 0;
	fy_buf_init(&text);
	int r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r < 0 && text_file == NULL)
		r = fy_cli_usage_error(cli, "-f TEXT is required");
	if (r < 0 && strcmp(format, "gguf") != 0 && strcmp(format, "dat") != 0)
		r = fy_cli_usage_error(cli, "--output-format is gguf or dat");
	if (r < 0 && (n_ctx < 16 || n_ctx > 65536 || n_chunks < 0))
		r = fy_cli_usage_error(cli, "-c is 16 to 65536 tokens, --chunks 1 or more");
	if (r < 0 && fy_file_read(text_file, MAX_TEXT, &text, &err) != FY_OK)
		r = fy_cli_fail(cli, &err);
	if (r < 0)
		r = fy_cli_pool(cli, threads, &pool);
	if (r < 0)
		r = fy_cli_open_artifact(cli, argv[0], &a);
	if (r >= 0)
		goto out;
	const struct fy_imatrix_opts o = { .n_ctx = (int)n_ctx,
					   .n_chunks = (int)n_chunks,
					   .process_output = process_output,
					   .dataset = text_file,
					   .no_ppl = no_ppl,
					   .legacy_dat = strcmp(format, "dat") == 0 };
	struct fy_imatrix_report rep;
	const double t0 = fy_now_s();
	if (fy_imatrix_compute(a.model, (const char *)text.data, text.len, &o, pool, output, &rep,
			       &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	if (cli->json) {
		struct fy_json *j = fy_json_object();
		fy_json_set(j, "output", fy_json_string(output));
		fy_json_set(j, "tokens", fy_json_integer(rep.n_tokens));
		fy_json_set(j, "chunks", fy_json_integer(rep.n_chunks));
		fy_json_set(j, "chunk_size", fy_json_integer(n_ctx));
		fy_json_set(j, "entries", fy_json_integer((int64_t)rep.n_entries));
		fy_json_set(j, "ppl", no_ppl ? fy_json_null() : fy_json_real(rep.ppl));
		r = fy_cli_print_json(cli, j);
		goto out;
	}
	if (!cli->quiet && no_ppl)
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
	fy_cli_close_artifact(&a);
	fy_pool_free(pool);
	fy_buf_release(&text);
	return r;
}
