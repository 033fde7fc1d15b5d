/* libFuzzer target: what a hub answers a clone, without the network. The input up to the first
 * empty line is response header lines (Link's next page, Retry-After, X-Error-Code), each given
 * without a terminating NUL as libcurl gives them; the rest is a page of a tree listing, checked
 * entry by entry and for paths named twice. Beyond "no crash": a next-page link fits its buffer
 * and is NUL-terminated, an error code holds only letters, digits, '-', '_' and '?', and
 * Retry-After is never negative. */
#include "mirror/mirror_private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_hub_header h = { 0 };
	const char *p = (const char *)data;
	const char *end = p + size;
	struct fy_err err;
	size_t files = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		/* a copy of exactly n bytes, so that reading past the line is caught */
		char *line = malloc(n ? n : 1);
		if (line == NULL)
			return 0;
		memcpy(line, p, n);
		fy_hub_header_line(line, n, &h);
		free(line);
		p += n;
		if (n <= 2 && (n == 1 || p[-2] == '\r'))
			break; /* the empty line: the body follows */
	}
	if (memchr(h.next, '\0', sizeof(h.next)) == NULL ||
	    memchr(h.error_code, '\0', sizeof(h.error_code)) == NULL)
		abort();
	for (const char *c = h.error_code; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '?'))
			abort();
	if (h.retry_after < 0)
		abort();
	(void)fy_hub_listing_page(p, (size_t)(end - p), &files, &err);
	return 0;
}
