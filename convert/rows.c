/* Tensor rows produced in chunks over the thread pool and streamed into a writer's sink: the
 * loop both converters (hf2gguf.c, gguf2hf.c) write tensors with. */
#include "convert/convert_private.h"

#include <stdlib.h>

#define CHUNK_BYTES (4u << 20) /* output rows produced at once */

struct chunk {
	fy_row_fn fn;
	const void *ctx;
	int64_t row0, n_cols;
	size_t out_row;
	uint8_t *out;
};

static int chunk_rows(void *ctx, int64_t b, int64_t e, struct fy_err *err)
{
	const struct chunk *k = ctx;
	float *scratch = malloc((size_t)k->n_cols * sizeof(float));
	int rc = scratch != NULL ? FY_OK : fy_err_set(err, FY_ENOMEM, "out of memory");
	for (int64_t i = b; i < e && rc == FY_OK; i++)
		rc = k->fn(k->ctx, k->row0 + i, scratch, k->out + (size_t)i * k->out_row, err);
	free(scratch);
	return rc;
}

int fy_convert_rows(struct fy_pool *pool, int64_t rows, int64_t n_cols, size_t out_row,
		    fy_row_fn fn, const void *ctx, struct fy_sink *sink, struct fy_err *err)
{
	const int64_t per = out_row >= CHUNK_BYTES ? 1 : (int64_t)(CHUNK_BYTES / out_row);
	struct chunk k = { fn, ctx, 0, n_cols, out_row, NULL };
	int rc = FY_OK;
	if (rows <= 0)
		return FY_OK;
	k.out = malloc((size_t)(per < rows ? per : rows) * out_row);
	if (k.out == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory");
	for (; k.row0 < rows && rc == FY_OK; k.row0 += per) {
		const int64_t n = rows - k.row0 < per ? rows - k.row0 : per;
		rc = pool != NULL ? fy_pool_for(pool, n, 0, chunk_rows, &k, err)
				  : chunk_rows(&k, 0, n, err);
		if (rc == FY_OK)
			rc = fy_sink_write(sink, k.out, (size_t)n * out_row, err);
	}
	free(k.out);
	return rc;
}
