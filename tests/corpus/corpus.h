/*
 * The malformed-file corpus: small valid GGUF and safetensors images and, from them, hostile
 * variants (truncation at every header byte, huge counts, overflowing dims, bad types, gaps,
 * overlaps, trailing bytes, duplicates, misaligned data, bad alignment, strings past the end,
 * nested arrays, deep JSON). Used by the unit tests (in process), by mkcorpus (files for the CLI
 * tests) and as fuzz seeds.
 */
#ifndef FERRY_TESTS_CORPUS_H
#define FERRY_TESTS_CORPUS_H

#include "convert/convert.h"

/* Called once per case: name (a file-name-safe identifier), format, bytes, and a substring the
 * rejection message must contain (NULL for the valid base images, which must be accepted). */
typedef void (*corpus_fn)(void *ctx, const char *name, enum fy_format fmt, const uint8_t *data,
			  size_t len, const char *expect);

/* Generates every case; the base images come first. */
void corpus_generate(corpus_fn fn, void *ctx);

#endif
