/*
 * The engine's architecture table: one row per general.architecture, each defined in
 * infer/arch/NAME.c. Adding an architecture is a file there and a line here.
 */
#include "infer/arch.h"

#include <stdio.h>
#include <string.h>

/* clang-format off */
extern const struct fy_model_arch fy_arch_llama;				/* arch/llama.c */
extern const struct fy_model_arch fy_arch_qwen2, fy_arch_qwen3, fy_arch_qwen3moe; /* arch/qwen.c */
extern const struct fy_model_arch fy_arch_deepseek2, fy_arch_deepseek32;	/* arch/deepseek2.c */
extern const struct fy_model_arch fy_arch_glm4moe;				/* arch/glm4moe.c */
extern const struct fy_model_arch fy_arch_glm4;					/* arch/glm4.c */
extern const struct fy_model_arch fy_arch_minimax_m2;				/* arch/minimax_m2.c */
extern const struct fy_model_arch fy_arch_minimax01;				/* arch/minimax01.c */
extern const struct fy_model_arch fy_arch_kimi_linear;				/* arch/kimi_linear.c */
extern const struct fy_model_arch fy_arch_deepseek4;				/* arch/deepseek4.c */
extern const struct fy_model_arch fy_arch_qwen3next, fy_arch_qwen35,
	fy_arch_qwen35moe; /* arch/qwen3next.c */

static const struct fy_model_arch *const archs[] = {
	&fy_arch_llama,
	&fy_arch_qwen2,
	&fy_arch_qwen3,
	&fy_arch_qwen3moe,
	&fy_arch_deepseek2,
	&fy_arch_deepseek32,
	&fy_arch_glm4moe,
	&fy_arch_glm4,
	&fy_arch_minimax_m2,
	&fy_arch_minimax01,
	&fy_arch_kimi_linear,
	&fy_arch_deepseek4,
	&fy_arch_qwen3next,
	&fy_arch_qwen35,
	&fy_arch_qwen35moe,
	NULL,
};
/* clang-format on */

const struct fy_model_arch *fy_model_arch_find(const char *name)
{
	for (size_t i = 0; archs[i] != NULL; i++) {
		if (strcmp(archs[i]->name, name) == 0)
			return archs[i];
	}
	return NULL;
}

const char *fy_model_archs(void)
{
	static char list[512];
	if (list[0] == '\0') {
		size_t n = 0;
		for (size_t i = 0; archs[i] != NULL && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i > 0 ? ", " : "",
					      archs[i]->name);
	}
	return list;
}
