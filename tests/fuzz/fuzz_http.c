/* libFuzzer target: the server's request parsing without the network: Range headers (against a
 * file size taken from the input) and request paths (revision/path splitting and the repository
 * path check every file lookup goes through). */
#include "mirror/serve_private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when a '/'-separated component of p is exactly "..". */
static bool has_dotdot(const char *p)
{
	const char *c = p;

	for (;;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if (n == 2 && c[0] == '.' && c[1] == '.')
			return true;
		if (slash == NULL)
			return false;
		c = slash + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_route rt;
	uint64_t file_size = 0, off = 0, len = 0;
	bool bad = false;
	char *text;

	if (size < 8)
		return 0;
	memcpy(&file_size, data, 8);
	file_size %= (uint64_t)1 << 40;
	text = malloc(size - 8 + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data + 8, size - 8);
	text[size - 8] = '\0';
	if (srv_parse_range(text, file_size, &off, &len, &bad) && !bad &&
	    (len == 0 || off + len > file_size || off + len < off))
		__builtin_trap(); /* a range outside the file */
	memset(&rt, 0, sizeof(rt));
	if (srv_split_rev(text, &rt) &&
	    (strlen(rt.rev) == 0 || strlen(rt.rev) >= sizeof(rt.rev) || rt.rest == NULL))
		__builtin_trap();
	if (fy_repo_path_ok(text) &&
	    (has_dotdot(text) || text[0] == '/' || strchr(text, '\\') != NULL))
		__builtin_trap(); /* the path check let a traversal through */
	free(text);
	return 0;
}
