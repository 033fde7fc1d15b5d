/*
 * ferry convert SRC [-o OUT] [--to gguf|safetensors] [--outtype T] [--into REPO]: an HF
 * checkpoint to GGUF, or a GGUF file back to an HF checkpoint, from a path or a store revision;
 * a store revision's result becomes a revision of a derived repository (NS/NAME-GGUF, NS/NAME-HF)
 * whose manifest records the lineage. See docs/CONVERT.md.
 */
#include "cli/cli.h"
#include "cli/infer_util.h"
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct convert_cli {
	const char *output;
	const char *outtype;
	const char *name;
	const char *into;
	const char *to;
	long threads;
	const char *split_max_size;
	long split_max_tensors;
	struct fy_convert_opts co;
	struct fy_export_opts eo;
};

/* --outtype for GGUF -> HF: f32, f16, bf16 (default: the file's float type, else f32). */
static int parse_export_type(struct fy_cli *cli, const char *v, struct fy_export_opts *o)
{
	o->outtype = FY_DTYPE_COUNT;
	if (v == NULL || strcasecmp(v, "auto") == 0)
		return -1;
	if (strcasecmp(v, "f32") == 0)
		o->outtype = FY_DTYPE_F32;
	else if (strcasecmp(v, "f16") == 0)
		o->outtype = FY_DTYPE_F16;
	else if (strcasecmp(v, "bf16") == 0)
		o->outtype = FY_DTYPE_BF16;
	else
		return fy_cli_usage_error(
			cli, "--outtype: '%s' is not one of f32, f16, bf16, auto for safetensors",
			v);
	return -1;
}

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

/* HF checkpoint in dir -> GGUF at out. Returns an exit code. */
static int to_gguf(struct fy_cli *cli, const char *dir, const char *out, const char *label,
		   struct convert_cli *o, struct fy_convert_report *rep)
{
	struct fy_err err;
	char size[32];
	if (fy_convert_hf_to_gguf(dir, out, &o->co, rep, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	if (!cli->quiet && label != NULL) {
		printf("%s: %s, %zu tensors, %zu tokens, %s of tensor data", label, rep->arch,
		       rep->n_tensors, rep->n_vocab,
		       fy_fmt_bytes(size, sizeof(size), rep->out_bytes));
		if (rep->n_shards > 1)
			printf(", in %zu shards", rep->n_shards);
		printf("\n");
	}
	return FY_EXIT_OK;
}

/* GGUF file at path -> HF checkpoint in dir. Returns an exit code. */
static int to_hf(struct fy_cli *cli, const char *path, const char *dir, const char *label,
		 struct convert_cli *o, struct fy_export_report *rep)
{
	struct fy_err err;
	if (fy_convert_gguf_to_hf(path, dir, &o->eo, rep, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	if (!cli->quiet && label != NULL)
		printf("%s: %s, %zu tensors (%s), %zu tokens (%s)\n", label, rep->arch,
		       rep->n_tensors, fy_dtype_name(rep->dtype), rep->n_vocab, rep->tokenizer);
	return FY_EXIT_OK;
}

/* A store revision's GGUF file converted into the derived -HF repository. */
static int export_revision(struct fy_cli *cli, struct fy_infer_artifact *a, struct convert_cli *o)
{
	const struct fy_revision *r = a->rev;
	char target[FY_REPO_MAX + 8];
	char dir[4200];
	char id[FY_REV_ID_LEN + 1];
	char msg[FY_REPO_MAX * 2 + 128];
	struct fy_export_report rep;
	struct fy_err err;
	char **names = NULL;
	size_t n = 0;
	if (o->output != NULL)
		return to_hf(cli, a->path, o->output, o->output, o, &rep);
	fy_cli_derived_names(r->repo, o->into, "-HF", "", "", target, sizeof(target), NULL, 0);
	if (fy_repo_check(target, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	if (fy_store_lock(a->store, fy_cli_lock_wait, cli, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	snprintf(dir, sizeof(dir), "%s", fy_store_path(a->store, "tmp/export-%ld", (long)getpid()));
	int x = to_hf(cli, a->path, dir, NULL, o, &rep);
	if (x == FY_EXIT_OK && fy_dir_list(dir, "", &names, &n, &err) != FY_OK)
		x = fy_cli_fail(cli, &err);
	char **srcs = x == FY_EXIT_OK ? calloc(n > 0 ? n : 1, sizeof(*srcs)) : NULL;
	bool paths = srcs != NULL;
	for (size_t i = 0; srcs != NULL && i < n; i++) {
		srcs[i] = fy_path_join(dir, names[i]);
		paths = paths && srcs[i] != NULL;
	}
	if (x == FY_EXIT_OK) {
		struct fy_json *params = fy_json_object();
		fy_json_set(params, "to", fy_json_string("safetensors"));
		fy_json_set(params, "outtype",
			    fy_json_string(o->outtype != NULL ? o->outtype : "auto"));
		snprintf(msg, sizeof(msg), "convert %s@%.12s:%s to safetensors (%s)", r->repo,
			 r->id, a->file->path, fy_dtype_name(rep.dtype));
		const struct fy_derive_opts d = { msg,
						  fy_cli_lineage("convert", r, a->file, params),
						  fy_cli_lock_wait,
						  cli,
						  true,
						  NULL };
		if (!paths) {
			fy_json_free(d.origin);
			fy_err_set(&err, FY_ENOMEM, "out of memory");
			x = fy_cli_fail(cli, &err);
		} else if (fy_store_add_files(a->store, target, n, (const char *const *)names,
					      (const char *const *)srcs, &d, id, &err) != FY_OK)
			x = fy_cli_fail(cli, &err);
		else if (!cli->quiet)
			printf("%s@%s: added %zu files (%s, %zu tensors as %s, %s tokenizer)\n",
			       target, id, n, rep.arch, rep.n_tensors, fy_dtype_name(rep.dtype),
			       rep.tokenizer);
	}
	fy_names_free(srcs, srcs != NULL ? n : 0);
	fy_names_free(names, n);
	fy_dir_remove(dir);
	fy_store_unlock(a->store);
	return x;
}

/* A store revision (an HF checkpoint) converted into the derived -GGUF repository. The options
 * are copied: the copy points at this call's source string, the caller's do not. */
static int convert_revision(struct fy_cli *cli, struct fy_infer_artifact *a,
			    const struct convert_cli *caller)
{
	struct convert_cli opts = *caller;
	struct convert_cli *o = &opts;
	const struct fy_revision *r = a->rev;
	char target[FY_REPO_MAX + 8];
	char name[FY_REPO_MAX + 32];
	char tmp[4200];
	char src[FY_REPO_MAX + FY_REV_ID_LEN + 2];
	char id[FY_REV_ID_LEN + 1];
	char msg[FY_REPO_MAX * 2 + 64];
	struct fy_convert_report rep;
	struct fy_err err;
	if (a->file != NULL) {
		fprintf(stderr,
			"ferry convert: %s@%.12s is a GGUF revision, not an HF checkpoint\n",
			r->repo, r->id);
		return FY_EXIT_FAIL;
	}
	snprintf(src, sizeof(src), "%s@%s", r->repo, r->id);
	o->co.source_digest = src;
	if (o->co.name == NULL) /* the repository's name, not the link directory's */
		o->co.name = strchr(r->repo, '/') + 1;
	if (o->output != NULL)
		return to_gguf(cli, a->path, o->output, o->output, o, &rep);
	fy_cli_derived_names(r->repo, o->into, "-GGUF", "", "", target, sizeof(target), NULL, 0);
	if (fy_repo_check(target, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	/* written under the store's tmp/, which the lock keeps from being cleared */
	if (fy_store_lock(a->store, fy_cli_lock_wait, cli, &err) != FY_OK)
		return fy_cli_fail(cli, &err);
	snprintf(tmp, sizeof(tmp), "%s",
		 fy_store_path(a->store, "tmp/convert-%ld.gguf", (long)getpid()));
	int x = to_gguf(cli, a->path, tmp, NULL, o, &rep);
	if (x != FY_EXIT_OK) {
		unlink(tmp); /* a failed split writes no shard under its name */
		fy_store_unlock(a->store);
		return x;
	}
	fy_cli_derived_names(r->repo, o->into, "-GGUF", fy_ftype_name(rep.file_type), ".gguf",
			     target, sizeof(target), name, sizeof(name));
	struct fy_json *params = fy_json_object();
	fy_json_set(params, "to", fy_json_string("gguf"));
	fy_json_set(params, "outtype", fy_json_string(o->outtype != NULL ? o->outtype : "f16"));
	snprintf(msg, sizeof(msg), "convert %s@%.12s to GGUF %s", r->repo, r->id,
		 fy_ftype_name(rep.file_type));
	const struct fy_derive_opts d = {
		msg, fy_cli_lineage("convert", r, NULL, params), fy_cli_lock_wait, cli, true, NULL
	};
	int rc = fy_store_add_gguf(a->store, target, name, tmp, rep.n_shards, &d, id, &err);
	fy_store_unlock(a->store);
	if (rc != FY_OK)
		return fy_cli_fail(cli, &err);
	if (!cli->quiet)
		printf("%s@%s: added %s (%s, %zu tensors, %zu tokens%s)\n", target, id, name,
		       rep.arch, rep.n_tensors, rep.n_vocab, rep.n_shards > 1 ? ", split" : "");
	return FY_EXIT_OK;
}

/* Whether the source is a GGUF file (else an HF checkpoint). */
static bool source_is_gguf(const struct fy_infer_artifact *a)
{
	struct stat st;
	if (a->rev != NULL)
		return a->file != NULL;
	return stat(a->path, &st) == 0 && S_ISREG(st.st_mode) && fy_ends_with_ci(a->path, ".gguf");
}

static int run(struct fy_cli *cli, const char *spec, struct convert_cli *o)
{
	struct fy_infer_artifact a;
	struct fy_convert_report rep;
	struct fy_export_report xrep;
	int x = fy_cli_resolve_artifact(cli, spec, &a);
	if (x >= 0)
		goto out;
	const bool gguf = source_is_gguf(&a);
	const char *want = gguf ? "safetensors" : "gguf";
	if (o->to != NULL && strcasecmp(o->to, want) != 0 &&
	    !(gguf && strcasecmp(o->to, "hf") == 0)) {
		fprintf(stderr, "ferry convert: %s is %s: it converts to %s, not %s\n", spec,
			gguf ? "a GGUF file" : "an HF checkpoint", want, o->to);
		x = FY_EXIT_FAIL;
		goto out;
	}
	x = gguf ? parse_export_type(cli, o->outtype, &o->eo)
		 : parse_outtype(cli, o->outtype != NULL ? o->outtype : "f16", &o->co);
	if (x >= 0)
		goto out;
	if (a.rev != NULL)
		x = gguf ? export_revision(cli, &a, o) : convert_revision(cli, &a, o);
	else if (o->output == NULL)
		x = fy_cli_usage_error(cli, "-o %s is required for a path",
				       gguf ? "DIR" : "OUT.gguf");
	else if (gguf)
		x = to_hf(cli, a.path, o->output, o->output, o, &xrep);
	else
		x = to_gguf(cli, a.path, o->output, o->output, o, &rep);
out:
	fy_cli_close_artifact(&a);
	return x;
}

int cmd_convert(struct fy_cli *cli, int argc, char **argv)
{
	struct convert_cli o = { .co = { .outtype = FY_DTYPE_F16 } };
	const struct fy_opt opts[] = {
		{ "output", 'o', FY_OPT_STRING, &o.output, "OUT",
		  "the GGUF file (or, from GGUF, the directory) to write; required for a "
		  "path, a store revision goes into the store unless given" },
		{ "to", 0, FY_OPT_STRING, &o.to, "FORMAT",
		  "gguf (from an HF checkpoint) or safetensors (from a GGUF file); the "
		  "default follows the source" },
		{ "outtype", 0, FY_OPT_STRING, &o.outtype, "T",
		  "to GGUF: 2-D weights as f32, f16 (default), bf16, q8_0, or auto (bf16 for "
		  "a bf16 or fp8 checkpoint, else f16), norms, biases and 1-D tensors f32; to "
		  "safetensors: f32, f16, bf16 (default: the file's float type, f32 for a "
		  "quantized file)" },
		{ "into", 0, FY_OPT_STRING, &o.into, "REPO",
		  "store mode: the repository to add the result to (default: NS/NAME-GGUF, "
		  "or NS/NAME-HF from GGUF)" },
		{ "name", 0, FY_OPT_STRING, &o.name, "NAME",
		  "general.name (default: DIR's or the repository's name)" },
		{ "split-max-size", 0, FY_OPT_STRING, &o.split_max_size, "N(M|G)",
		  "to GGUF: shards of at most N megabytes/gigabytes of tensors "
		  "(llama-gguf-split's layout)" },
		{ "split-max-tensors", 0, FY_OPT_INT, &o.split_max_tensors, "N",
		  "to GGUF: shards of at most N tensors" },
		{ "threads", 't', FY_OPT_INT, &o.threads, "N", "threads (default: one per CPU)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry convert DIR -o OUT.gguf [--outtype f32|f16|bf16|q8_0|auto] [--name NAME]\n"
		"       ferry convert FILE.gguf -o DIR [--outtype f32|f16|bf16]\n"
		"       ferry convert REPO[@REV][:FILE] [--to gguf|safetensors] [--outtype T] "
		"[--into REPO] [-o OUT]",
		"Converts a Hugging Face checkpoint (config.json, safetensors shards, tokenizer)\n"
		"to a GGUF file for llama.cpp: LlamaForCausalLM, MistralForCausalLM,\n"
		"Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM, Qwen3NextForCausalLM,\n"
		"Qwen3_5ForConditionalGeneration, Qwen3_5ForCausalLM (Qwen3.5, text), their\n"
		"Qwen3_5Moe forms (Qwen3.5-MoE, fused experts),\n"
		"DeepseekV3ForCausalLM\n"
		"(DeepSeek-V3/R1, Kimi K2), DeepseekV32ForCausalLM, DeepseekV4ForCausalLM,\n"
		"Glm4ForCausalLM (GLM-4-0414),\n"
		"Glm4MoeForCausalLM (GLM-4.5/4.6/4.7), Glm4MoeLiteForCausalLM (GLM-4.7-Flash),\n"
		"MiniMaxM2ForCausalLM, MiniMaxM1ForCausalLM and MiniMaxText01ForCausalLM\n"
		"(lightning attention), KimiLinearForCausalLM (Kimi Delta Attention); one file\n"
		"per family\n"
		"in convert/arch/ (tensor names, llama's q/k row permutation, hyper-parameters;\n"
		"a mixture's experts stacked into one tensor per layer; next-token-prediction\n"
		"layers kept or left out as llama.cpp's converter does). Tensors stream one at\n"
		"a time from the memory-mapped shards; the file is written atomically. The\n"
		"vocabulary comes from\n"
		"a SentencePiece tokenizer.model, a byte-level BPE tokenizer.json (the\n"
		"pre-tokenizer named from its regex and the family), or a tiktoken.model with\n"
		"Kimi's tokenization_kimi.py; generation_config.json gives general.sampling.*.\n"
		"FP8 (F8_E4M3) weights with block scales (DeepSeek, Kimi K2, MiniMax-M2) and\n"
		"compressed-tensors int4 (Kimi K2-Thinking, K2.5) are dequantized exactly;\n"
		"DeepSeek-V4 keeps its source's types (FP8 -> Q8_0, FP4 experts -> MXFP4).\n"
		"KimiK25ForConditionalGeneration converts its language model.\n"
		"\n"
		"A GGUF file of the llama family converts back (--to safetensors): tensors "
		"dequantized to\n"
		"model.safetensors under HF names, config.json from the hyper-parameters,\n"
		"tokenizer.json and tokenizer_config.json (and tokenizer.model for\n"
		"SentencePiece) from the vocabulary.\n"
		"\n"
		"A store revision REPO[@REV] is converted into a new revision of NS/NAME-GGUF\n"
		"(NS/NAME-HF from GGUF; --into to choose) holding NAME-<TYPE>.gguf (or the\n"
		"checkpoint's files), its manifest recording the source\n"
		"revision, every source file's sha256 and the parameters (lineage). See\n"
		"docs/CONVERT.md.",
		opts,
	};
	struct fy_pool *pool = NULL;
	int npos = 0;
	int r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r < 0 && o.to != NULL && strcasecmp(o.to, "gguf") != 0 &&
	    strcasecmp(o.to, "safetensors") != 0 && strcasecmp(o.to, "hf") != 0)
		r = fy_cli_usage_error(cli, "--to: '%s' is not gguf or safetensors", o.to);
	if (r < 0)
		r = fy_cli_split_opts(cli, o.split_max_size, o.split_max_tensors, &o.co.split);
	if (r < 0)
		r = fy_cli_pool(cli, o.threads, &pool);
	if (r >= 0)
		goto out;
	o.co.name = o.name;
	o.co.pool = pool;
	o.eo.pool = pool;
	r = run(cli, argv[0], &o);
out:
	fy_pool_free(pool);
	return r;
}
