/* ferry smoke ARTIFACT [--ref ARTIFACT] [--text FILE]: the publish gate (docs/INFER.md) */
#include "cli/cli.h"
#include "cli/infer_util.h"
#include "verify/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define SAMPLE_PROMPT 24 /* tokens of the text that prompt the greedy samples */

/* The reference a store revision was derived from: "repo@rev[:path]" from its lineage. */
static bool lineage_ref(const struct fy_infer_artifact *a, char *out, size_t cap)
{
	if (a->rev == NULL || a->rev->origin == NULL)
		return false;
	const char *kind = fy_json_str(fy_json_get(a->rev->origin, "kind"));
	const struct fy_json *src = fy_json_at(fy_json_get(a->rev->origin, "sources"), 0);
	const char *repo = fy_json_str(fy_json_get(src, "repo"));
	const char *rev = fy_json_str(fy_json_get(src, "revision"));
	const char *path = fy_json_str(fy_json_get(src, "path"));
	if (kind == NULL || strcmp(kind, "derived") != 0 || repo == NULL || rev == NULL)
		return false;
	int n = path != NULL && strstr(path, ".gguf") != NULL
			? snprintf(out, cap, "%s@%s:%s", repo, rev, path)
			: snprintf(out, cap, "%s@%s", repo, rev);
	return n > 0 && (size_t)n < cap;
}

/* A greedy continuation of the first tokens of the text. */
static int greedy(const struct fy_model *m, const int32_t *ids, int n_prompt, int n_gen,
		  struct fy_pool *pool, struct fy_buf *out, struct fy_err *err)
{
	struct fy_ctx *c = NULL;
	float *logits = malloc((size_t)m->hp.n_vocab * sizeof(float));
	int rc = FY_OK;
	if (logits == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	FY_TRY(rc, fy_ctx_new(&c, m, n_prompt + n_gen, pool, err));
	FY_TRY(rc, fy_eval(c, ids, n_prompt, false, logits, err));
	for (int i = 0; i < n_gen; i++) {
		int32_t t = fy_argmax(logits, m->hp.n_vocab);
		if (t == fy_vocab_eos(m->vocab) || t == fy_vocab_eot(m->vocab))
			break;
		FY_TRY(rc, fy_detokenize(m->vocab, t, false, out, err));
		if (i + 1 < n_gen)
			FY_TRY(rc, fy_eval(c, &t, 1, false, logits, err));
	}
out:
	fy_ctx_free(c);
	free(logits);
	return rc;
}

static struct fy_json *stats_json(const struct fy_smoke_stats *s)
{
	struct fy_json *o = fy_json_object();
	fy_json_set(o, "perplexity", fy_json_real(s->ppl));
	fy_json_set(o, "mean_nll", fy_json_real(s->nll));
	fy_json_set(o, "scored", fy_json_integer(s->n_scored));
	return o;
}

static struct fy_json *artifact_json(const struct fy_infer_artifact *a, const char *spec)
{
	struct fy_json *o = fy_json_object();
	fy_json_set(o, "artifact", fy_json_string(spec));
	if (a->rev != NULL) {
		fy_json_set(o, "repo", fy_json_string(a->rev->repo));
		fy_json_set(o, "revision", fy_json_string(a->rev->id));
		if (a->file != NULL)
			fy_json_set(o, "path", fy_json_string(a->file->path));
	}
	fy_json_set(o, "arch", fy_json_string(a->model->hp.arch));
	fy_json_set(o, "type", fy_json_string(a->model->type_name));
	return o;
}

struct smoke_report {
	const char *cand_spec, *ref_spec, *text_name;
	const struct fy_infer_artifact *cand, *ref;
	struct fy_smoke_result res;
	struct fy_smoke_limits lim;
	bool custom_limits, pass;
	int n_ctx;
	char text_sha256[2 * FY_SHA256_LEN + 1];
	struct fy_buf sample_c, sample_r;
};

static struct fy_json *report_json(const struct smoke_report *r)
{
	struct fy_json *o = fy_json_object();
	struct fy_json *lim = fy_json_object();
	char now[32];
	fy_now_iso(now);
	fy_json_set(o, "pass", fy_json_bool(r->pass));
	fy_json_set(o, "candidate", artifact_json(r->cand, r->cand_spec));
	fy_json_set(o, "reference", artifact_json(r->ref, r->ref_spec));
	fy_json_set(fy_json_get(o, "candidate"), "stats", stats_json(&r->res.cand));
	fy_json_set(fy_json_get(o, "reference"), "stats", stats_json(&r->res.ref));
	fy_json_set(o, "ppl_ratio", fy_json_real(r->res.ppl_ratio));
	fy_json_set(o, "kl_mean", fy_json_real(r->res.kl_mean));
	fy_json_set(o, "kl_max", fy_json_real(r->res.kl_max));
	fy_json_set(o, "top1", fy_json_real(r->res.top1));
	fy_json_set(lim, "max_kl", fy_json_real(r->lim.max_kl));
	fy_json_set(lim, "max_ppl_ratio", fy_json_real(r->lim.max_ppl_ratio));
	fy_json_set(lim, "min_top1", fy_json_real(r->lim.min_top1));
	fy_json_set(lim, "source", fy_json_string(r->custom_limits ? "options" : "default"));
	fy_json_set(o, "limits", lim);
	fy_json_set(o, "text", fy_json_string(r->text_name));
	fy_json_set(o, "text_sha256", fy_json_string(r->text_sha256));
	fy_json_set(o, "tokens", fy_json_integer(r->res.n_tokens));
	fy_json_set(o, "n_ctx", fy_json_integer(r->n_ctx));
	fy_json_set(o, "sample_candidate", fy_cli_json_text(&r->sample_c));
	fy_json_set(o, "sample_reference", fy_cli_json_text(&r->sample_r));
	fy_json_set(o, "ferry", fy_json_string(FY_VERSION));
	fy_json_set(o, "time", fy_json_string(now));
	return o;
}

static void print_report(const struct smoke_report *r)
{
	const struct fy_smoke_result *s = &r->res;
	printf("candidate: %s (%s, %s)\n", r->cand_spec, r->cand->model->hp.arch,
	       r->cand->model->type_name);
	printf("reference: %s (%s, %s)\n", r->ref_spec, r->ref->model->hp.arch,
	       r->ref->model->type_name);
	printf("text: %s, %d tokens, %d scored in windows of %d\n", r->text_name, s->n_tokens,
	       s->cand.n_scored, r->n_ctx);
	printf("perplexity: candidate %.4f, reference %.4f, ratio %.4f (limit %.4f)\n", s->cand.ppl,
	       s->ref.ppl, s->ppl_ratio, r->lim.max_ppl_ratio);
	printf("KL divergence: mean %.6f (limit %.6f), max %.6f\n", s->kl_mean, r->lim.max_kl,
	       s->kl_max);
	printf("top-1 agreement: %.2f%% (limit %.2f%%)\n", 100 * s->top1, 100 * r->lim.min_top1);
	printf("sample (candidate): ");
	fy_print_quoted(stdout, (const char *)r->sample_c.data, r->sample_c.len, 200);
	printf("\nsample (reference): ");
	fy_print_quoted(stdout, (const char *)r->sample_r.data, r->sample_r.len, 200);
	printf("\ngate: %s (%s limits for %s)\n", r->pass ? "PASS" : "FAIL",
	       r->custom_limits ? "given" : "default", r->cand->model->type_name);
}

/* Records the result beside the candidate revision's manifest. */
static int record(struct fy_cli *cli, const struct smoke_report *r, struct fy_json *j)
{
	struct fy_err err;
	struct fy_store *s = r->cand->store;
	if (fy_store_lock(s, fy_cli_lock_wait, cli, &err) != FY_OK ||
	    fy_store_record_write(s, r->cand->rev->repo, r->cand->rev->id, "smoke", j, &err) !=
		    FY_OK)
		return fy_cli_fail(cli, &err);
	if (!cli->quiet && !cli->json)
		printf("recorded for %s@%.12s\n", r->cand->rev->repo, r->cand->rev->id);
	return -1;
}

static int parse_limit(struct fy_cli *cli, const char *opt, const char *v, double hi, double *out,
		       bool *custom)
{
	if (v == NULL)
		return -1;
	*custom = true;
	if (!fy_cli_parse_real(v, 0, hi, out))
		return fy_cli_usage_error(cli, "%s needs a number from 0 to %g", opt, hi);
	return -1;
}

int cmd_smoke(struct fy_cli *cli, int argc, char **argv)
{
	const char *ref = NULL, *text_file = NULL, *max_kl = NULL, *max_ratio = NULL;
	const char *min_top1 = NULL;
	long n_ctx = 256, threads = 0, n_sample = 24, max_tokens = 2048;
	bool no_record = false;
	const struct fy_opt opts[] = {
		{ "ref", 0, FY_OPT_STRING, &ref, "ARTIFACT",
		  "the reference (default: the revision the candidate was derived from)" },
		{ "text", 0, FY_OPT_STRING, &text_file, "FILE",
		  "evaluate FILE instead of the bundled text" },
		{ "ctx", 'c', FY_OPT_INT, &n_ctx, "N", "window length in tokens (default 256)" },
		{ "max-tokens", 0, FY_OPT_INT, &max_tokens, "N",
		  "evaluate at most N tokens of the text (default 2048)" },
		{ "max-kl", 0, FY_OPT_STRING, &max_kl, "X", "limit on the mean KL divergence" },
		{ "max-ppl-ratio", 0, FY_OPT_STRING, &max_ratio, "X",
		  "limit on candidate/reference perplexity" },
		{ "min-top1", 0, FY_OPT_STRING, &min_top1, "X",
		  "minimum top-1 agreement (0 to 1)" },
		{ "sample", 'n', FY_OPT_INT, &n_sample, "N",
		  "tokens of each greedy sample (default 24; 0: none)" },
		{ "no-record", 0, FY_OPT_FLAG, &no_record, NULL,
		  "do not record the result beside a store revision" },
		{ "threads", 't', FY_OPT_INT, &threads, "N", "threads (default: one per CPU)" },
		{ NULL, 0, 0, NULL, NULL, NULL },
	};
	const struct fy_usage usage = {
		"ferry smoke ARTIFACT [--ref ARTIFACT] [--text FILE] [--json]",
		"The publish gate: evaluates a text (a bundled public-domain passage by default)\n"
		"with the candidate and its reference, and reports the perplexity of each, their\n"
		"ratio, the mean KL divergence of the next-token distributions, top-1 agreement "
		"and\n"
		"a short greedy sample of each. The gate passes when the KL, the ratio and the\n"
		"agreement are within the limits for the candidate's type (docs/INFER.md), or the\n"
		"ones given; exit 1 when it fails. ARTIFACT: a GGUF file, an HF checkpoint\n"
		"directory, or a store revision REPO[@REV][:FILE]; a revision's reference "
		"defaults\n"
		"to the revision it was derived from, and the result is recorded beside it for\n"
		"publish.",
		opts,
	};
	struct smoke_report rep = { .cand_spec = NULL };
	struct fy_infer_artifact cand = { 0 }, refa = { 0 };
	struct fy_pool *pool = NULL;
	struct fy_buf text;
	struct fy_err err;
	char ref_spec[FY_REPO_MAX + 600];
	int32_t *ids = NULL;
	size_t n_ids = 0;
	int npos = 0;
	fy_buf_init(&text);
	fy_buf_init(&rep.sample_c);
	fy_buf_init(&rep.sample_r);
	int r = fy_cli_parse(cli, &usage, argc, argv, 1, 1, &npos);
	if (r < 0)
		r = parse_limit(cli, "--max-kl", max_kl, 100, &rep.lim.max_kl, &rep.custom_limits);
	if (r < 0)
		r = parse_limit(cli, "--max-ppl-ratio", max_ratio, 1e6, &rep.lim.max_ppl_ratio,
				&rep.custom_limits);
	if (r < 0)
		r = parse_limit(cli, "--min-top1", min_top1, 1, &rep.lim.min_top1,
				&rep.custom_limits);
	if (r < 0 && (n_ctx < 2 || n_ctx > 65536 || n_sample < 0 || n_sample > 4096 ||
		      max_tokens < 2 || max_tokens > 1000000))
		r = fy_cli_usage_error(cli, "--ctx, --sample or --max-tokens is out of range");
	if (r < 0)
		r = fy_cli_pool(cli, threads, &pool);
	if (r < 0)
		r = fy_cli_open_artifact(cli, argv[0], &cand);
	if (r >= 0)
		goto out;
	if (ref == NULL && !lineage_ref(&cand, ref_spec, sizeof(ref_spec))) {
		fprintf(stderr,
			"ferry smoke: %s records no source revision: name the reference with "
			"--ref\n",
			argv[0]);
		r = FY_EXIT_USAGE;
		goto out;
	}
	if (ref != NULL)
		snprintf(ref_spec, sizeof(ref_spec), "%s", ref);
	r = fy_cli_open_artifact(cli, ref_spec, &refa);
	if (r >= 0)
		goto out;
	rep.cand_spec = argv[0];
	rep.ref_spec = ref_spec;
	rep.cand = &cand;
	rep.ref = &refa;
	rep.n_ctx = (int)n_ctx;
	rep.text_name = text_file != NULL ? text_file : "bundled";
	if (!rep.custom_limits) {
		rep.lim = fy_smoke_default_limits(cand.model->ftype);
	} else {
		/* the limits not given keep their defaults */
		const struct fy_smoke_limits d = fy_smoke_default_limits(cand.model->ftype);
		if (max_kl == NULL)
			rep.lim.max_kl = d.max_kl;
		if (max_ratio == NULL)
			rep.lim.max_ppl_ratio = d.max_ppl_ratio;
		if (min_top1 == NULL)
			rep.lim.min_top1 = d.min_top1;
	}
	if (text_file != NULL) {
		if (fy_file_read(text_file, 64u << 20, &text, &err) != FY_OK) {
			r = fy_cli_fail(cli, &err);
			goto out;
		}
	} else if (fy_buf_append(&text, fy_smoke_default_text, strlen(fy_smoke_default_text),
				 &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	uint8_t digest[FY_SHA256_LEN];
	fy_sha256(text.data, text.len, digest);
	fy_hex(digest, FY_SHA256_LEN, rep.text_sha256);
	if (fy_tokenize(cand.model->vocab, (const char *)text.data, text.len, true, false, &ids,
			&n_ids, &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	if (n_ids > (size_t)max_tokens)
		n_ids = (size_t)max_tokens;
	if (fy_smoke_eval(cand.model, refa.model, ids, (int)n_ids, (int)n_ctx, pool, &rep.res,
			  &err) != FY_OK) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	const int np = n_ids < SAMPLE_PROMPT ? (int)n_ids : SAMPLE_PROMPT;
	if (n_sample > 0 &&
	    (greedy(cand.model, ids, np, (int)n_sample, pool, &rep.sample_c, &err) != FY_OK ||
	     greedy(refa.model, ids, np, (int)n_sample, pool, &rep.sample_r, &err) != FY_OK)) {
		r = fy_cli_fail(cli, &err);
		goto out;
	}
	rep.pass = fy_smoke_passes(&rep.res, &rep.lim);
	struct fy_json *j = report_json(&rep);
	if (!cli->json && !cli->quiet)
		print_report(&rep);
	if (cand.rev != NULL && !no_record) {
		r = record(cli, &rep, j);
		if (r >= 0) {
			fy_json_free(j);
			goto out;
		}
	}
	if (cli->json)
		fy_cli_print_json(cli, j);
	else
		fy_json_free(j);
	fflush(stdout);
	/* -v: the memory the gate took (both models mapped, their caches, the activations) */
	struct rusage ru;
	if (cli->verbose > 0 && !cli->json && getrusage(RUSAGE_SELF, &ru) == 0)
		fprintf(stderr, "ferry smoke: peak RSS %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
	if (!rep.pass)
		fprintf(stderr, "ferry smoke: %s fails the gate\n", argv[0]);
	r = rep.pass ? FY_EXIT_OK : FY_EXIT_FAIL;
out:
	free(ids);
	fy_buf_release(&text);
	fy_buf_release(&rep.sample_c);
	fy_buf_release(&rep.sample_r);
	fy_cli_close_artifact(&cand);
	fy_cli_close_artifact(&refa);
	fy_pool_free(pool);
	return r;
}
