/*
 * ferry inspect: the description of a file or checkpoint as a JSON document. cmd_inspect.c
 * prints it as is (--json) or renders it as text from the same document, so both outputs carry
 * the same facts.
 */
#ifndef FERRY_CLI_INSPECT_H
#define FERRY_CLI_INSPECT_H

#include "convert/convert.h"

#define FY_INSPECT_PREVIEW 8 /* array elements shown unless --full */

/* Describes one GGUF or safetensors file (format detected from its content). */
int fy_inspect_file(const char *path, bool full, struct fy_json **out, struct fy_err *err);
/* Describes a directory: config.json summary, the safetensors checkpoint, any GGUF files. */
int fy_inspect_dir(const char *path, bool full, struct fy_json **out, struct fy_err *err);

/*
 * A model summary of a repository's files (names[i] its path in the repository, paths[i] where
 * its bytes are): {architecture, layers, parameters, [active_parameters, moe]} from config.json
 * and the safetensors headers, else from the first GGUF file. *out is NULL when no file
 * describes a model; a file that does not parse is an error.
 */
int fy_inspect_model(const char *const *names, const char *const *paths, size_t n,
		     struct fy_json **out, struct fy_err *err);

#endif
