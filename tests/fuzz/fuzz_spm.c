/* libFuzzer target: the SentencePiece tokenizer.model (protobuf) reader. Every piece it accepts
 * lies inside the input and has a known type. */
#include "convert/convert.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fy_spm s = { 0 };
	struct fy_err err;
	if (fy_spm_parse(&s, data, size, "fuzz", &err) != FY_OK)
		return 0;
	for (size_t i = 0; i < s.n; i++) {
		const char *p = s.pieces[i].text.ptr;
		if (p < (const char *)data ||
		    p + s.pieces[i].text.len > (const char *)data + size || s.pieces[i].type < 1 ||
		    s.pieces[i].type > 6)
			__builtin_trap();
	}
	free(s.pieces);
	return 0;
}
