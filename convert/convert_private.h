/* Declarations shared inside the convert module only. */
#ifndef FERRY_CONVERT_PRIVATE_H
#define FERRY_CONVERT_PRIVATE_H

#include "convert/convert.h"

/* Bytes of each fixed-size GGUF value type (0 for string and array), defined in gguf.c. */
extern const uint8_t fy_gguf_value_sizes[FY_GGUF_TYPE_COUNT];

#endif
