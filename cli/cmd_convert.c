/* ferry convert DIR -o OUT.gguf [--outtype T] [--name NAME] [-t N]: HF checkpoint -> GGUF */
#include "cli/cli.h"
#include "convert/convert.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int parse_outtype(struct fy_cli *cli, const char *v, struct fy_convert_opts *o)
{
	static const struct {
		const char *name;
		enum fy_dtype t;
	} types[] = { { "f32", FY_DTYPE_F32 },
		      { "f16", FY_DTYPE_F16 },
		      { "bf16", FY_DTYPE_BF16 },
		      { "q8_0", FY_DTYPE_Q8_0 } };
	if (strcasecmp(v, "auto") == 0) {
		o->outtype_auto = true;
		return -1;
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcasecmp(v, types[i].name) == 0) {
			o->outtype = types[i].t;
			return -1;
		}
	}
	return fy_cli_usage_error(cli, "--outtype: '%s' is not one of f32, f16, bf16, q8_0, auto",
				  v);
}

int cmd_convert(struct fy_cli *cli, int argc, char **argv)
{
	const char *output = NULL;
	const char *outtype = "f16";
	const char *name = NULL;
	long threads = 0;
	const struct fy_opt opts[] = {
		{ "output", 'o', FY_OPT_STRING, &output, "OUT",
		  "the GGUF file to write (required)" },
		{ "outtype", 0, FY_OPT_STRING, &outtype, "T",
		  "2-D weights as f32, f16 (default), bf16, q8_0, or auto (bf16 for a bf16 "
		  "checkpoint, else f16); norms, biases and 1-D tensors stay f32" },
		{ "name", 0, FY_OPT_STRING, &name, "NAME", "general.name (default: DIR's name)" },
		{ "threads", 't', FY_OPT_INT, &threads, "N", "threads (default: one per CPU)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry convert DIR -o OUT.gguf [--outtype f32|f16|bf16|q8_0|auto] [--name NAME]",
		"Converts the Hugging Face checkpoint in DIR (config.json, safetensors shards,\n"
		"tokenizer) to a GGUF file for llama.cpp: LlamaForCausalLM, MistralForCausalLM,\n"
		"Qwen2ForCausalLM, Qwen3ForCausalLM, from one architecture table (tensor names,\n"
		"llama's q/k row permutation, hyper-parameters). Tensors stream one at a time "
		"from\n"
		"the memory-mapped shards; the file is written atomically. The vocabulary comes\n"
		"from a SentencePiece tokenizer.model, or a byte-level BPE tokenizer.json (Qwen,\n"
		"Llama 3: the pre-tokenizer named from its regex). See docs/CONVERT.md.",
		opts,
	};
	struct fy_convert_opts co = { .outtype = FY_DTYPE_F16 };
	struct fy_convert_report rep;
	struct fy_pool *pool = NULL;
	struct fy_err err;
	char size[32];
	int npos = 0;
	int r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r < 0 && output == NULL)
		r = fy_cli_usage_error(cli, "-o OUT.gguf is required");
	if (r < 0)
		r = parse_outtype(cli, outtype, &co);
	if (r < 0)
		r = fy_cli_pool(cli, threads, &pool);
	if (r >= 0)
		goto out;
	co.name = name;
	co.pool = pool;
	if (fy_convert_hf_to_gguf(argv[0], output, &co, &rep, &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->quiet)
		printf("%s: %s, %zu tensors, %zu tokens, %s of tensor data\n", output, rep.arch,
		       rep.n_tensors, rep.n_vocab, fy_fmt_bytes(size, sizeof(size), rep.out_bytes));
	r = FY_EXIT_OK;
out:
	fy_pool_free(pool);
	return r;
}
