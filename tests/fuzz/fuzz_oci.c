/* libFuzzer target: what an OCI registry answers a pull or push, without the network. The
 * input's first line is a WWW-Authenticate value (without a NUL, as libcurl gives a header);
 * the rest is an image manifest, checked as a pull checks it. Beyond "no crash": the challenge's
 * fields are NUL-terminated inside their buffers, and an accepted manifest's layers all have a
 * sha256 digest and a safe file path where one is given. */
#include "mirror/mirror_private.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	const size_t n = nl ? (size_t)(nl - p) : size;
	struct fy_oci_challenge ch;
	char *line = malloc(n ? n : 1); /* exactly n bytes: reading past the value is caught */
	if (line == NULL)
		return 0;
	memcpy(line, p, n);
	if (fy_oci_challenge_parse(line, n, &ch) &&
	    (memchr(ch.scheme, '\0', sizeof(ch.scheme)) == NULL ||
	     memchr(ch.realm, '\0', sizeof(ch.realm)) == NULL ||
	     memchr(ch.service, '\0', sizeof(ch.service)) == NULL ||
	     memchr(ch.scope, '\0', sizeof(ch.scope)) == NULL))
		abort();
	free(line);
	if (nl == NULL)
		return 0;
	struct fy_json *m = NULL;
	struct fy_err err;
	if (fy_oci_manifest_check(nl + 1, size - n - 1, "fuzz", &m, &err) == FY_OK) {
		const struct fy_json *layers = fy_json_get(m, "layers");
		for (size_t i = 0; i < fy_json_size(layers); i++) {
			const struct fy_json *l = fy_json_at(layers, i);
			const char *d = fy_json_str(fy_json_get(l, "digest"));
			const char *fp = fy_json_str(fy_json_get(fy_json_get(l, "annotations"),
								 "org.cncf.model.filepath"));
			if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71 ||
			    (fp != NULL && (fp[0] == '/' || fp[0] == '\0')))
				abort();
			for (const char *c = fp; c != NULL;
			     c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
				if (strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == '\0'))
					abort(); /* a ".." component would leave the repository */
		}
	}
	fy_json_free(m);
	return 0;
}
