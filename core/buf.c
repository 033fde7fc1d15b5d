/* Growable byte buffers and the bounded cursor. */
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fy_buf_init(struct fy_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void fy_buf_release(struct fy_buf *b)
{
	free(b->data);
	fy_buf_init(b);
}

int fy_buf_reserve(struct fy_buf *b, size_t extra, struct fy_err *err)
{
	size_t need;
	size_t cap;
	uint8_t *p;

	if (__builtin_add_overflow(b->len, extra, &need))
		return fy_err_set(err, FY_ENOMEM, "buffer size overflows");
	if (need <= b->cap)
		return FY_OK;
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (__builtin_mul_overflow(cap, 2, &cap)) {
			cap = need;
			break;
		}
	}
	p = realloc(b->data, cap);
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory (buffer of %zu bytes)", cap);
	b->data = p;
	b->cap = cap;
	return FY_OK;
}

int fy_buf_append(struct fy_buf *b, const void *data, size_t n, struct fy_err *err)
{
	int rc = fy_buf_reserve(b, n, err);

	if (rc != FY_OK)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	return FY_OK;
}

int fy_buf_append_zeros(struct fy_buf *b, size_t n, struct fy_err *err)
{
	int rc = fy_buf_reserve(b, n, err);

	if (rc != FY_OK)
		return rc;
	if (n > 0)
		memset(b->data + b->len, 0, n);
	b->len += n;
	return FY_OK;
}

int fy_buf_append_u32le(struct fy_buf *b, uint32_t v, struct fy_err *err)
{
	uint8_t p[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	return fy_buf_append(b, p, sizeof(p), err);
}

int fy_buf_append_u64le(struct fy_buf *b, uint64_t v, struct fy_err *err)
{
	int rc = fy_buf_append_u32le(b, (uint32_t)v, err);

	if (rc != FY_OK)
		return rc;
	return fy_buf_append_u32le(b, (uint32_t)(v >> 32), err);
}

int fy_buf_printf(struct fy_buf *b, struct fy_err *err, const char *fmt, ...)
{
	va_list ap;
	int n;
	int rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return fy_err_set(err, FY_EINVAL, "bad format string");
	rc = fy_buf_reserve(b, (size_t)n + 1, err);
	if (rc != FY_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return FY_OK;
}

bool fy_cur_u32(struct fy_cursor *c, uint32_t *out)
{
	const uint8_t *p;

	if (!fy_cur_take(c, 4, &p))
		return false;
	*out = fy_le32(p);
	return true;
}

bool fy_cur_u64(struct fy_cursor *c, uint64_t *out)
{
	const uint8_t *p;

	if (!fy_cur_take(c, 8, &p))
		return false;
	*out = fy_le64(p);
	return true;
}

int fy_grow(void **arr, size_t *cap, size_t n, size_t elem, struct fy_err *err)
{
	size_t nc = *cap < 16 ? 16 : *cap, bytes;
	if (n < *cap)
		return FY_OK;
	while (nc <= n) {
		if (__builtin_mul_overflow(nc, 2, &nc))
			return fy_err_set(err, FY_ENOMEM, "array size overflows");
	}
	if (__builtin_mul_overflow(nc, elem, &bytes))
		return fy_err_set(err, FY_ENOMEM, "array size overflows");
	void *p = realloc(*arr, bytes);
	if (p == NULL)
		return fy_err_set(err, FY_ENOMEM, "out of memory (array of %zu bytes)", bytes);
	*arr = p;
	*cap = nc;
	return FY_OK;
}

size_t fy_utf8_len(const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	const size_t len = (p[0] >> 5) == 6 ? 2 : (p[0] >> 4) == 14 ? 3 : (p[0] >> 3) == 30 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	uint32_t cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void fy_gpt2_byte_map(uint16_t byte_cp[256])
{
	uint16_t next = 256;
	for (int b = 0; b < 256; b++) {
		const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
		byte_cp[b] = printable ? (uint16_t)b : next++;
	}
}

int fy_gpt2_append_byte(struct fy_buf *out, uint8_t b, const uint16_t byte_cp[256],
			struct fy_err *err)
{
	const uint16_t cp = byte_cp[b];
	uint8_t u[2] = { (uint8_t)cp, 0 };
	if (cp < 0x80)
		return fy_buf_append(out, u, 1, err);
	u[0] = (uint8_t)(0xc0 | cp >> 6);
	u[1] = (uint8_t)(0x80 | (cp & 0x3f));
	return fy_buf_append(out, u, 2, err);
}
