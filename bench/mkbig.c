/*
 * mkbig FORMAT PATH N_TENSORS ROWS: writes a synthetic model for the benchmarks with ferry's
 * writers: N_TENSORS F16 tensors of 256 x ROWS elements (zeros) and a realistic header (a GGUF
 * with a 150,000-token vocabulary array; a safetensors file with __metadata__). FORMAT is gguf or
 * safetensors.
 */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLS 256
#define VOCAB 150000

static int zeros(void *ctx, size_t i, struct fy_sink *sink, struct fy_err *err)
{
	static const uint8_t z[1 << 16];
	int rc = FY_OK;

	(void)ctx;
	(void)i;
	while (sink->left > 0 && rc == FY_OK)
		rc = fy_sink_write(sink, z, sink->left < sizeof(z) ? (size_t)sink->left : sizeof(z),
				   err);
	return rc;
}

static int vocab(struct fy_gguf_writer *w, struct fy_err *err)
{
	struct fy_str *toks = calloc(VOCAB, sizeof(*toks));
	char *text = malloc((size_t)VOCAB * 12);
	size_t i;
	int rc;

	if (toks == NULL || text == NULL) {
		free(toks);
		free(text);
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	}
	for (i = 0; i < VOCAB; i++) {
		int n = snprintf(text + i * 12, 12, "tok%zu", i);

		toks[i] = (struct fy_str){text + i * 12, (size_t)n};
	}
	rc = fy_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", VOCAB, toks, err);
	free(toks);
	free(text);
	return rc;
}

static int write_gguf(const char *path, long n, long rows, struct fy_err *err)
{
	struct fy_gguf_writer *w = NULL;
	char name[64];
	int64_t ne[2] = {COLS, rows};
	long i;
	int rc;

	rc = fy_gguf_writer_new(&w, err);
	if (rc == FY_OK)
		rc = fy_gguf_writer_set_str(w, "general.architecture", "llama", err);
	if (rc == FY_OK)
		rc = vocab(w, err);
	for (i = 0; rc == FY_OK && i < n; i++) {
		snprintf(name, sizeof(name), "blk.%ld.ffn_up.weight", i);
		rc = fy_gguf_writer_add(w, name, FY_DTYPE_F16, 2, ne, err);
	}
	if (rc == FY_OK)
		rc = fy_gguf_writer_write(w, path, zeros, NULL, err);
	fy_gguf_writer_free(w);
	return rc;
}

static int write_st(const char *path, long n, long rows, struct fy_err *err)
{
	struct fy_st_writer *w = NULL;
	char name[96];
	int64_t shape[2] = {rows, COLS};
	long i;
	int rc;

	rc = fy_st_writer_new(&w, err);
	if (rc == FY_OK)
		rc = fy_st_writer_meta(w, "format", "pt", err);
	for (i = 0; rc == FY_OK && i < n; i++) {
		snprintf(name, sizeof(name), "model.layers.%ld.mlp.up_proj.weight", i);
		rc = fy_st_writer_add(w, name, FY_DTYPE_F16, 2, shape, err);
	}
	if (rc == FY_OK)
		rc = fy_st_writer_write(w, path, zeros, NULL, err);
	fy_st_writer_free(w);
	return rc;
}

int main(int argc, char **argv)
{
	struct fy_err err;
	long n;
	long rows;
	int rc;

	if (argc != 5) {
		fprintf(stderr, "usage: mkbig gguf|safetensors PATH N_TENSORS ROWS\n");
		return 2;
	}
	n = strtol(argv[3], NULL, 10);
	rows = strtol(argv[4], NULL, 10);
	if (strcmp(argv[1], "gguf") == 0)
		rc = write_gguf(argv[2], n, rows, &err);
	else
		rc = write_st(argv[2], n, rows, &err);
	if (rc != FY_OK) {
		fprintf(stderr, "mkbig: %s\n", err.msg);
		return 1;
	}
	return 0;
}
