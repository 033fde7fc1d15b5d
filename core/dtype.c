/*
 * The dtype table: one row per type, indexed by enum fy_dtype (GGUF type ids below 64).
 * Block sizes and byte sizes follow ggml's type traits; st_rank is the position of the dtype in
 * the safetensors reference implementation's Dtype enum, which orders tensors in its files.
 */
#include "core/core.h"

#include <strings.h>
#include <string.h>

#define ROW(id, nm, bl, sz, gg, st, rank) [id] = { nm, bl, sz, gg, st, rank }

static const struct fy_dtype_info table[FY_DTYPE_COUNT] = {
	ROW(FY_DTYPE_F32, "F32", 1, 4, true, "F32", 15),
	ROW(FY_DTYPE_F16, "F16", 1, 2, true, "F16", 11),
	ROW(FY_DTYPE_Q4_0, "Q4_0", 32, 18, true, NULL, 0),
	ROW(FY_DTYPE_Q4_1, "Q4_1", 32, 20, true, NULL, 0),
	ROW(FY_DTYPE_Q5_0, "Q5_0", 32, 22, true, NULL, 0),
	ROW(FY_DTYPE_Q5_1, "Q5_1", 32, 24, true, NULL, 0),
	ROW(FY_DTYPE_Q8_0, "Q8_0", 32, 34, true, NULL, 0),
	ROW(FY_DTYPE_Q8_1, "Q8_1", 32, 36, true, NULL, 0),
	ROW(FY_DTYPE_Q2_K, "Q2_K", 256, 84, true, NULL, 0),
	ROW(FY_DTYPE_Q3_K, "Q3_K", 256, 110, true, NULL, 0),
	ROW(FY_DTYPE_Q4_K, "Q4_K", 256, 144, true, NULL, 0),
	ROW(FY_DTYPE_Q5_K, "Q5_K", 256, 176, true, NULL, 0),
	ROW(FY_DTYPE_Q6_K, "Q6_K", 256, 210, true, NULL, 0),
	ROW(FY_DTYPE_Q8_K, "Q8_K", 256, 292, true, NULL, 0),
	ROW(FY_DTYPE_IQ2_XXS, "IQ2_XXS", 256, 66, true, NULL, 0),
	ROW(FY_DTYPE_IQ2_XS, "IQ2_XS", 256, 74, true, NULL, 0),
	ROW(FY_DTYPE_IQ3_XXS, "IQ3_XXS", 256, 98, true, NULL, 0),
	ROW(FY_DTYPE_IQ1_S, "IQ1_S", 256, 50, true, NULL, 0),
	ROW(FY_DTYPE_IQ4_NL, "IQ4_NL", 32, 18, true, NULL, 0),
	ROW(FY_DTYPE_IQ3_S, "IQ3_S", 256, 110, true, NULL, 0),
	ROW(FY_DTYPE_IQ2_S, "IQ2_S", 256, 82, true, NULL, 0),
	ROW(FY_DTYPE_IQ4_XS, "IQ4_XS", 256, 136, true, NULL, 0),
	ROW(FY_DTYPE_I8, "I8", 1, 1, true, "I8", 5),
	ROW(FY_DTYPE_I16, "I16", 1, 2, true, "I16", 9),
	ROW(FY_DTYPE_I32, "I32", 1, 4, true, "I32", 13),
	ROW(FY_DTYPE_I64, "I64", 1, 8, true, "I64", 17),
	ROW(FY_DTYPE_F64, "F64", 1, 8, true, "F64", 16),
	ROW(FY_DTYPE_IQ1_M, "IQ1_M", 256, 56, true, NULL, 0),
	ROW(FY_DTYPE_BF16, "BF16", 1, 2, true, "BF16", 12),
	ROW(FY_DTYPE_TQ1_0, "TQ1_0", 256, 54, true, NULL, 0),
	ROW(FY_DTYPE_TQ2_0, "TQ2_0", 256, 66, true, NULL, 0),
	ROW(FY_DTYPE_MXFP4, "MXFP4", 32, 17, true, NULL, 0),
	ROW(FY_DTYPE_NVFP4, "NVFP4", 64, 36, true, NULL, 0),
	ROW(FY_DTYPE_Q1_0, "Q1_0", 128, 18, true, NULL, 0),
	ROW(FY_DTYPE_Q2_0, "Q2_0", 64, 18, true, NULL, 0),
	ROW(FY_DTYPE_BOOL, "BOOL", 1, 1, false, "BOOL", 0),
	ROW(FY_DTYPE_U8, "U8", 1, 1, false, "U8", 4),
	ROW(FY_DTYPE_U16, "U16", 1, 2, false, "U16", 10),
	ROW(FY_DTYPE_U32, "U32", 1, 4, false, "U32", 14),
	ROW(FY_DTYPE_U64, "U64", 1, 8, false, "U64", 18),
	ROW(FY_DTYPE_F8_E4M3, "F8_E4M3", 1, 1, false, "F8_E4M3", 7),
	ROW(FY_DTYPE_F8_E5M2, "F8_E5M2", 1, 1, false, "F8_E5M2", 6),
	ROW(FY_DTYPE_F8_E8M0, "F8_E8M0", 1, 1, false, "F8_E8M0", 8),
};

const struct fy_dtype_info *fy_dtype_info(int t)
{
	if (t < 0 || t >= FY_DTYPE_COUNT || table[t].name == NULL)
		return NULL;
	return &table[t];
}

const char *fy_dtype_name(int t)
{
	const struct fy_dtype_info *d = fy_dtype_info(t);

	return d ? d->name : "?";
}

bool fy_dtype_from_gguf(uint32_t id, enum fy_dtype *out)
{
	if (id >= FY_DTYPE_COUNT || table[id].name == NULL || !table[id].gguf)
		return false;
	*out = (enum fy_dtype)id;
	return true;
}

bool fy_dtype_from_st(const char *name, enum fy_dtype *out)
{
	int t;

	for (t = 0; t < FY_DTYPE_COUNT; t++) {
		if (table[t].st_name != NULL && strcmp(table[t].st_name, name) == 0) {
			*out = (enum fy_dtype)t;
			return true;
		}
	}
	return false;
}

bool fy_dtype_from_name(const char *name, enum fy_dtype *out)
{
	int t;

	for (t = 0; t < FY_DTYPE_COUNT; t++) {
		if (table[t].name != NULL && strcasecmp(table[t].name, name) == 0) {
			*out = (enum fy_dtype)t;
			return true;
		}
	}
	return false;
}

bool fy_dtype_nbytes(enum fy_dtype t, int64_t n, uint64_t *out)
{
	const struct fy_dtype_info *d = fy_dtype_info(t);

	if (d == NULL || n < 0 || n % d->blck != 0)
		return false;
	return fy_mul_u64((uint64_t)(n / d->blck), d->size, out);
}

const char *fy_dtype_st_supported(void)
{
	return "BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, "
	       "I64, U64";
}
