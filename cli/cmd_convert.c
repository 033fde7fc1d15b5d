/*
 * ferry convert SRC [-o OUT] [--outtype T] [--into REPO]: an HF checkpoint to GGUF, from a
 * directory or a store revision; a store revision's result becomes a revision of a derived
 * repository (NS/NAME-GGUF) whose manifest records the lineage. See docs/CONVERT.md.
 */
#include "cli/cli.h"
#include "cli/infer_util.h"
#include "convert/convert.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct convert_cli {
	const char *output;
	const char *outtype;
	const char *name;
	const char *into;
	const char *to;
	long threads;
	struct fy_convert_opts co;
};

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
	if (!cli->quiet && label != NULL)
		printf("%s: %s, %zu tensors, %zu tokens, %s of tensor data\n", label, rep->arch,
		       rep->n_tensors, rep->n_vocab,
		       fy_fmt_bytes(size, sizeof(size), rep->out_bytes));
	return FY_EXIT_OK;
}

/* A store revision (an HF checkpoint) converted into the derived -GGUF repository. */
static int convert_revision(struct fy_cli *cli, struct fy_infer_artifact *a, struct convert_cli *o)
{
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
		unlink(tmp);
		fy_store_unlock(a->store);
		return x;
	}
	fy_cli_derived_names(r->repo, o->into, "-GGUF", fy_ftype_name(rep.file_type), ".gguf",
			     target, sizeof(target), name, sizeof(name));
	struct fy_json *params = fy_json_object();
	fy_json_set(params, "to", fy_json_string("gguf"));
	fy_json_set(params, "outtype", fy_json_string(o->outtype));
	snprintf(msg, sizeof(msg), "convert %s@%.12s to GGUF %s", r->repo, r->id, o->outtype);
	const struct fy_derive_opts d = { msg, fy_cli_lineage("convert", r, NULL, params),
					  fy_cli_lock_wait, cli };
	int rc = fy_store_add_file(a->store, target, name, tmp, &d, id, &err);
	unlink(tmp);
	fy_store_unlock(a->store);
	if (rc != FY_OK)
		return fy_cli_fail(cli, &err);
	if (!cli->quiet)
		printf("%s@%s: added %s (%s, %zu tensors, %zu tokens)\n", target, id, name,
		       rep.arch, rep.n_tensors, rep.n_vocab);
	return FY_EXIT_OK;
}

static int run(struct fy_cli *cli, const char *spec, struct convert_cli *o)
{
	struct fy_infer_artifact a;
	struct fy_convert_report rep;
	int x = fy_cli_resolve_artifact(cli, spec, &a);
	if (x < 0 && a.rev == NULL) {
		if (o->output == NULL)
			x = fy_cli_usage_error(cli, "-o OUT.gguf is required for a directory");
		else
			x = to_gguf(cli, a.path, o->output, o->output, o, &rep);
	} else if (x < 0) {
		x = convert_revision(cli, &a, o);
	}
	fy_cli_close_artifact(&a);
	return x;
}

int cmd_convert(struct fy_cli *cli, int argc, char **argv)
{
	struct convert_cli o = { .outtype = "f16", .co = { .outtype = FY_DTYPE_F16 } };
	const struct fy_opt opts[] = {
		{ "output", 'o', FY_OPT_STRING, &o.output, "OUT",
		  "the GGUF file to write (required for a directory; a store revision goes "
		  "into the store unless given)" },
		{ "outtype", 0, FY_OPT_STRING, &o.outtype, "T",
		  "2-D weights as f32, f16 (default), bf16, q8_0, or auto (bf16 for a bf16 "
		  "checkpoint, else f16); norms, biases and 1-D tensors stay f32" },
		{ "into", 0, FY_OPT_STRING, &o.into, "REPO",
		  "store mode: the repository to add the result to (default: NS/NAME-GGUF)" },
		{ "name", 0, FY_OPT_STRING, &o.name, "NAME",
		  "general.name (default: DIR's or the repository's name)" },
		{ "threads", 't', FY_OPT_INT, &o.threads, "N", "threads (default: one per CPU)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry convert DIR -o OUT.gguf [--outtype f32|f16|bf16|q8_0|auto] [--name NAME]\n"
		"       ferry convert REPO[@REV] [--outtype T] [--into REPO] [-o OUT.gguf]",
		"Converts a Hugging Face checkpoint (config.json, safetensors shards, tokenizer)\n"
		"to a GGUF file for llama.cpp: LlamaForCausalLM, MistralForCausalLM,\n"
		"Qwen2ForCausalLM, Qwen3ForCausalLM, from one architecture table (tensor names,\n"
		"llama's q/k row permutation, hyper-parameters). Tensors stream one at a time "
		"from\n"
		"the memory-mapped shards; the file is written atomically. The vocabulary comes\n"
		"from a SentencePiece tokenizer.model, or a byte-level BPE tokenizer.json (Qwen,\n"
		"Llama 3: the pre-tokenizer named from its regex).\n"
		"\n"
		"A store revision REPO[@REV] is converted into a new revision of NS/NAME-GGUF\n"
		"(--into to choose) holding NAME-<TYPE>.gguf, its manifest recording the source\n"
		"revision, every source file's sha256 and the parameters (lineage). See\n"
		"docs/CONVERT.md.",
		opts,
	};
	struct fy_pool *pool = NULL;
	int npos = 0;
	int r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r < 0)
		r = parse_outtype(cli, o.outtype, &o.co);
	if (r < 0)
		r = fy_cli_pool(cli, o.threads, &pool);
	if (r >= 0)
		goto out;
	o.co.name = o.name;
	o.co.pool = pool;
	r = run(cli, argv[0], &o);
out:
	fy_pool_free(pool);
	return r;
}
