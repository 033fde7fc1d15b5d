/*
 * Writes the quantization test vectors of tests/data/testvectors/quant from llama.cpp's own
 * functions: for each type, the rows of input.f32 quantized as llama-quantize quantizes them
 * (ggml_quantize_chunk, what llama_model_quantize calls), without an importance matrix
 * (<type>.q) and with the one in imatrix.f32 (<type>.imat.q), and each dequantized by ggml's
 * to_float (<type>.deq.f32, <type>.imat.deq.f32). Built against llama.cpp's libggml-base.a:
 *   scripts/llama/vectors.sh tests/data/testvectors/quant
 */
#include "ggml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#define ROWS 48
#define COLS 512

static void *slurp(const char *path, size_t want)
{
	FILE *f = fopen(path, "rb");
	void *p = malloc(want);
	if (f == NULL || p == NULL || fread(p, 1, want, f) != want) {
		fprintf(stderr, "quantvec: cannot read %zu bytes of %s\n", want, path);
		exit(1);
	}
	fclose(f);
	return p;
}

static void spit(const char *dir, const char *name, const char *suffix, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s%s", dir, name, suffix);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "quantvec: cannot write %s\n", path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: quantvec DIR (holding input.f32 and imatrix.f32)\n");
		return 2;
	}
	const char *dir = argv[1];
	char path[4096];
	snprintf(path, sizeof(path), "%s/input.f32", dir);
	float *x = slurp(path, sizeof(float) * ROWS * COLS);
	snprintf(path, sizeof(path), "%s/imatrix.f32", dir);
	float *imat = slurp(path, sizeof(float) * COLS);
	static const enum ggml_type types[] = {
		GGML_TYPE_Q4_0,	   GGML_TYPE_Q4_1,   GGML_TYPE_Q5_0,	GGML_TYPE_Q5_1,
		GGML_TYPE_Q8_0,	   GGML_TYPE_Q2_K,   GGML_TYPE_Q3_K,	GGML_TYPE_Q4_K,
		GGML_TYPE_Q5_K,	   GGML_TYPE_Q6_K,   GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS,
		GGML_TYPE_IQ3_XXS, GGML_TYPE_IQ1_S,  GGML_TYPE_IQ4_NL,	GGML_TYPE_IQ3_S,
		GGML_TYPE_IQ2_S,   GGML_TYPE_IQ4_XS, GGML_TYPE_IQ1_M,	GGML_TYPE_TQ1_0,
		GGML_TYPE_TQ2_0,   GGML_TYPE_MXFP4,  GGML_TYPE_NVFP4,	GGML_TYPE_Q1_0,
		GGML_TYPE_Q2_0,
	};
	float *deq = malloc(sizeof(float) * ROWS * COLS);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		const enum ggml_type type = types[t];
		const size_t row = ggml_row_size(type, COLS);
		char name[32];
		snprintf(name, sizeof(name), "%s", ggml_type_name(type));
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		void *q = calloc(ROWS, row);
		for (int pass = 0; pass < 2; pass++) {
			const float *w = pass == 0 ? NULL : imat;
			if (w == NULL && ggml_quantize_requires_imatrix(type))
				continue;
			memset(q, 0, ROWS * row);
			ggml_quantize_chunk(type, x, q, 0, ROWS, COLS, w);
			ggml_get_type_traits(type)->to_float(q, deq, (int64_t)ROWS * COLS);
			spit(dir, name, pass == 0 ? ".q" : ".imat.q", q, ROWS * row);
			spit(dir, name, pass == 0 ? ".deq.f32" : ".imat.deq.f32", deq,
			     sizeof(float) * ROWS * COLS);
			printf("%-8s %s %zu bytes a row\n", name, pass == 0 ? "plain" : "imat ", row);
		}
		free(q);
	}
	ggml_quantize_free();
	return 0;
}
