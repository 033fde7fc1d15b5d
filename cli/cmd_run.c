/* ferry run ARTIFACT [-p TEXT] [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S] [--chat] */
#include "cli/cli.h"
#include "cli/infer_util.h"
#include "infer/infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* The prompt wrapped in the model's chat format, for the families ferry knows (no Jinja). */
static int chat_prompt(const struct fy_vocab *v, const char *user, struct fy_buf *out,
		       struct fy_err *err)
{
	const char *t = fy_vocab_chat_template(v);
	if (t != NULL && strstr(t, "<|im_start|>") != NULL)
		return fy_buf_printf(
			out, err, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user);
	if (t != NULL && strstr(t, "<|start_header_id|>") != NULL)
		return fy_buf_printf(out, err,
				     "<|start_header_id|>user<|end_header_id|>\n\n%s<|eot_id|>"
				     "<|start_header_id|>assistant<|end_header_id|>\n\n",
				     user);
	return fy_err_set(err, FY_EUNSUPPORTED,
			  t == NULL ? "the model has no chat template"
				    : "the model's chat template is not ChatML or Llama 3's");
}

struct gen {
	struct fy_cli *cli;
	struct fy_model *m;
	struct fy_ctx *ctx;
	struct fy_sampler smp;
	int32_t *ids;
	size_t n_ids, cap_ids;
	long n_predict;
	struct fy_buf text;
	double t_prompt, t_gen;
	int n_prompt, n_gen;
};

static int generate(struct gen *g, struct fy_err *err)
{
	const int n_vocab = g->m->hp.n_vocab;
	const struct fy_vocab *v = g->m->vocab;
	float *logits = malloc((size_t)n_vocab * sizeof(float));
	struct fy_buf piece;
	int rc = FY_OK;
	fy_buf_init(&piece);
	if (logits == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	double t0 = fy_now_s();
	FY_TRY(rc, fy_eval(g->ctx, g->ids, (int)g->n_ids, false, logits, err));
	g->t_prompt = fy_now_s() - t0;
	g->n_prompt = (int)g->n_ids;
	int32_t prev = g->ids[g->n_ids - 1];
	t0 = fy_now_s();
	for (long i = 0; i < g->n_predict; i++) {
		const int32_t id = fy_sample(&g->smp, logits, n_vocab);
		if (id == fy_vocab_eos(v) || id == fy_vocab_eot(v))
			break;
		piece.len = 0;
		FY_TRY(rc, fy_detokenize(v, id, false, &piece, err));
		size_t skip = 0;
		/* SentencePiece: the space prefix of the first word after BOS is not text */
		if (fy_vocab_kind(v) == FY_VOCAB_SPM && prev == fy_vocab_bos(v) && piece.len > 0 &&
		    piece.data[0] == ' ')
			skip = 1;
		FY_TRY(rc, fy_buf_append(&g->text, piece.data + skip, piece.len - skip, err));
		if (!g->cli->json && !g->cli->quiet) {
			fwrite(piece.data + skip, 1, piece.len - skip, stdout);
			fflush(stdout);
		}
		void *a = g->ids;
		rc = fy_grow(&a, &g->cap_ids, g->n_ids, sizeof(*g->ids), err);
		g->ids = a;
		if (rc != FY_OK)
			goto out;
		g->ids[g->n_ids++] = id;
		g->n_gen++;
		prev = id;
		if (i + 1 == g->n_predict)
			break;
		if (fy_ctx_pos(g->ctx) >= fy_ctx_size(g->ctx))
			break; /* the context is full */
		FY_TRY(rc, fy_eval(g->ctx, &id, 1, false, logits, err));
	}
	g->t_gen = fy_now_s() - t0;
out:
	free(logits);
	fy_buf_release(&piece);
	return rc;
}

static void report(const struct gen *g)
{
	if (g->cli->json) {
		struct fy_json *o = fy_json_object();
		struct fy_json *pids = fy_json_array(), *gids = fy_json_array();
		for (size_t i = 0; i < g->n_ids; i++)
			fy_json_push(i < (size_t)g->n_prompt ? pids : gids,
				     fy_json_integer(g->ids[i]));
		fy_json_set(o, "prompt_ids", pids);
		fy_json_set(o, "ids", gids);
		fy_json_set(o, "text", fy_cli_json_text(&g->text));
		fy_json_set(o, "prompt_tokens_per_s",
			    fy_json_real(g->t_prompt > 0 ? g->n_prompt / g->t_prompt : 0));
		fy_json_set(o, "gen_tokens_per_s",
			    fy_json_real(g->t_gen > 0 ? g->n_gen / g->t_gen : 0));
		fy_cli_print_json(g->cli, o);
		return;
	}
	if (!g->cli->quiet)
		printf("\n");
	struct rusage ru;
	if (g->cli->verbose > 0 && getrusage(RUSAGE_SELF, &ru) == 0)
		fprintf(stderr,
			"ferry run: prompt %d tokens in %.3f s (%.1f tokens/s); generation %d "
			"tokens in %.3f s (%.1f tokens/s); kernels %s, %s activations; peak RSS "
			"%.1f MiB\n",
			g->n_prompt, g->t_prompt, g->t_prompt > 0 ? g->n_prompt / g->t_prompt : 0,
			g->n_gen, g->t_gen, g->t_gen > 0 ? g->n_gen / g->t_gen : 0,
			fy_kernels_active()->name,
			fy_ctx_activations(g->ctx) == FY_ACT_Q8 ? "q8" : "f32",
			(double)ru.ru_maxrss / 1024.0);
}

int cmd_run(struct fy_cli *cli, int argc, char **argv)
{
	const char *prompt = "", *prompt_file = NULL, *temp = "0.8", *top_p = "0.95", *seed = NULL;
	const char *act = "q8";
	long n_predict = 128, top_k = 40, threads = 0, n_ctx = 0;
	bool chat = false;
	const struct fy_opt opts[] = {
		{ "prompt", 'p', FY_OPT_STRING, &prompt, "TEXT",
		  "the prompt (default: empty, generation starts from BOS)" },
		{ "file", 'f', FY_OPT_STRING, &prompt_file, "FILE", "read the prompt from FILE" },
		{ "n-predict", 'n', FY_OPT_INT, &n_predict, "N",
		  "tokens to generate (default 128)" },
		{ "temp", 0, FY_OPT_STRING, &temp, "T", "temperature; 0 is greedy (default 0.8)" },
		{ "top-k", 0, FY_OPT_INT, &top_k, "K",
		  "sample from the K likeliest (default 40; 0: all)" },
		{ "top-p", 0, FY_OPT_STRING, &top_p, "P",
		  "nucleus sampling mass (default 0.95; 1: off)" },
		{ "seed", 0, FY_OPT_STRING, &seed, "S", "random seed (default: from the clock)" },
		{ "chat", 0, FY_OPT_FLAG, &chat, NULL,
		  "wrap the prompt as a user turn of the model's chat format (ChatML, Llama 3)" },
		{ "ctx", 'c', FY_OPT_INT, &n_ctx, "N",
		  "context positions (default: the training context, at most 4096)" },
		{ "threads", 't', FY_OPT_INT, &threads, "N", "threads (default: one per CPU)" },
		{ "activations", 0, FY_OPT_STRING, &act, "q8|f32",
		  "q8: activations rounded to 8-bit blocks for Q8_0/Q4_K/Q5_K/Q6_K/IQ4_XS weights "
		  "and "
		  "integer products, as llama.cpp (the default); f32: never rounded (what smoke "
		  "measures with)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry run ARTIFACT [-p TEXT | -f FILE] [-n N] [--temp T] [--top-k K] [--top-p P] "
		"[--seed S]\n"
		"          [--chat] [-t N] [--activations q8|f32]",
		"Runs a model with ferry's reference kernels and streams the generated text to\n"
		"stdout. ARTIFACT is a GGUF file, an HF checkpoint directory (run as it is, "
		"without\n"
		"converting; FP8 weights are dequantized on load), or a store revision\n"
		"REPO[@REV][:FILE]. Architectures: llama, qwen2, qwen3, qwen3moe (Qwen3-MoE),\n"
		"deepseek2 (DeepSeek-V3/R1, Kimi K2, GLM-4.7-Flash), deepseek32 (DeepSeek-V3.2), "
		"glm4 "
		"(GLM-4-0414),\n"
		"glm4moe (GLM-4.5/4.6/4.7), minimax-m2, deepseek4 (DeepSeek-V4), qwen3next\n"
		"(Qwen3-Next), qwen35 and qwen35moe (Qwen3.5). -v prints the prompt "
		"and generation "
		"speed;\n"
		"--json prints the ids, the text and the speeds "
		"instead. See docs/INFER.md.",
		opts,
	};
	struct gen g = { .cli = cli };
	struct fy_infer_artifact art = { 0 };
	struct fy_pool *pool = NULL;
	struct fy_buf chat_text, file_text;
	struct fy_err err;
	double t = 0.8, p = 0.95;
	uint64_t s = (uint64_t)time(NULL);
	int npos = 0;
	fy_buf_init(&g.text);
	fy_buf_init(&chat_text);
	fy_buf_init(&file_text);
	int r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r < 0 && !fy_cli_parse_real(temp, 0, 100, &t))
		r = fy_cli_usage_error(cli, "--temp needs a number from 0 to 100");
	if (r < 0 && !fy_cli_parse_real(top_p, 0, 1, &p))
		r = fy_cli_usage_error(cli, "--top-p needs a number from 0 to 1");
	if (r < 0 && seed != NULL) {
		char *end = NULL;
		s = strtoull(seed, &end, 10);
		if (end == seed || *end != '\0')
			r = fy_cli_usage_error(cli, "--seed needs a non-negative integer");
	}
	if (r < 0 && (n_predict < 0 || n_predict > 1000000))
		r = fy_cli_usage_error(cli, "-n needs a token count from 0 to 1000000");
	if (r < 0 && strcmp(act, "q8") != 0 && strcmp(act, "f32") != 0)
		r = fy_cli_usage_error(cli, "--activations needs q8 or f32");
	if (r < 0 && (top_k < 0 || n_ctx < 0 || n_ctx > 1000000))
		r = fy_cli_usage_error(cli, "--top-k and --ctx need non-negative counts");
	if (r < 0)
		r = fy_cli_pool(cli, threads, &pool);
	if (r >= 0)
		goto out;
	if (prompt_file != NULL) {
		if (fy_file_read(prompt_file, 64u << 20, &file_text, &err) != FY_OK ||
		    fy_buf_append(&file_text, "", 1, &err) != FY_OK) {
			r = fy_cli_fail(cli, &err);
			goto out;
		}
		prompt = (const char *)file_text.data;
	}
	g.n_predict = n_predict;
	fy_sampler_init(&g.smp, (float)t, (int)top_k, (float)p, s);
	r = fy_cli_open_artifact(cli, argv[0], &art);
	if (r >= 0)
		goto out;
	g.m = art.model;
	if (chat && chat_prompt(g.m->vocab, prompt, &chat_text, &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	const char *text = chat ? (const char *)chat_text.data : prompt;
	const size_t len = chat			 ? chat_text.len
			   : prompt_file != NULL ? file_text.len - 1
						 : strlen(prompt);
	if (fy_tokenize(g.m->vocab, text, len, true, true, &g.ids, &g.n_ids, &err) != FY_OK ||
	    fy_ctx_new(&g.ctx, g.m, (int)n_ctx, pool, &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	fy_ctx_set_activations(g.ctx, strcmp(act, "q8") == 0 ? FY_ACT_Q8 : FY_ACT_F32);
	g.cap_ids = g.n_ids; /* at least: the array holds n_ids */
	if (g.n_ids == 0) {
		err.code = FY_EINVAL;
		snprintf(err.msg, sizeof(err.msg),
			 "%s: the prompt is empty and the vocabulary has no BOS to start from",
			 argv[0]);
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	if (generate(&g, &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	report(&g);
	r = FY_EXIT_OK;
out:
	fy_ctx_free(g.ctx);
	free(g.ids);
	fy_buf_release(&g.text);
	fy_buf_release(&chat_text);
	fy_buf_release(&file_text);
	fy_cli_close_artifact(&art);
	fy_pool_free(pool);
	return r;
}
